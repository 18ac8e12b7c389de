"""msgspec validation errors read in one place (sidecar.jsontypes.error_path)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from sidecar.jsontypes import error_path


class Inner(msgspec.Struct):
    n: Annotated[int, msgspec.Meta(ge=0)]


class Outer(msgspec.Struct):
    name: str
    items: list[Inner] = []


def _error(data: object) -> msgspec.ValidationError:
    try:
        msgspec.convert(data, Outer)
    except msgspec.ValidationError as exc:
        return exc
    raise AssertionError("no error")


def test_path_and_reason_are_split() -> None:
    err = error_path(_error({"name": 1}))
    assert (err.path, err.reason) == ("name", "Expected `str`, got `int`")
    assert str(err) == "name: Expected `str`, got `int`"


def test_array_indexes_become_path_items_and_a_prefix_is_added() -> None:
    err = error_path(_error({"name": "x", "items": [{"n": 1}, {"n": -1}]}), "arguments")
    assert err.path == "arguments.items.1.n"
    assert err.reason == "Expected `int` >= 0"


def test_a_missing_field_is_named() -> None:
    err = error_path(_error({}))
    assert err.path == "name" and "missing required field" in err.reason


def test_root_errors_have_no_path() -> None:
    try:
        msgspec.convert([], Outer)
    except msgspec.ValidationError as exc:
        err = error_path(exc)
    assert err.path == "" and str(err) == err.reason
