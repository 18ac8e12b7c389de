"""The error hierarchy drawn at the top of sidecar/errors.py is the one the code defines."""

from __future__ import annotations

import re

import pytest

from sidecar import errors

DOC = errors.__doc__ or ""


def drawn() -> dict[str, tuple[str, str]]:
    """Return ``{class name: (drawn parent, the rest of its line)}`` from the module docstring."""
    out: dict[str, tuple[str, str]] = {}
    stack = ["SidecarError"]
    for line in DOC.splitlines():
        found = re.match(r"^([│ ]*)[├└]── (\w+)\s*(.*)$", line)
        if not found:
            continue
        depth = len(found.group(1)) // 4 + 1
        del stack[depth:]
        out[found.group(2)] = (stack[-1], found.group(3))
        stack.append(found.group(2))
    return out


def defined() -> dict[str, type[errors.SidecarError]]:
    return {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.SidecarError) and cls is not errors.SidecarError
    }


def test_every_error_class_is_drawn_and_every_drawn_class_exists():
    assert DOC.lstrip().splitlines()[2] == "SidecarError"
    assert set(drawn()) == set(defined())


@pytest.mark.parametrize(
    "name",
    sorted(defined()),
)
def test_each_class_derives_from_the_parent_drawn_for_it(name: str):
    parent, _ = drawn()[name]
    assert defined()[name].__bases__ == (getattr(errors, parent),)


def test_the_drawn_http_statuses_and_json_rpc_codes_are_the_real_ones():
    tree = drawn()
    for name, (_, rest) in tree.items():
        cls = defined()[name]
        if status := re.match(r"-> (\d{3})$", rest):
            assert cls.status == int(status.group(1)), name  # type: ignore[attr-defined]
        if code := re.match(r"(-\d+) (\w+)$", rest):
            assert (cls.jsonrpc_code, cls.reason) == (int(code.group(1)), code.group(2)), name  # type: ignore[attr-defined]
    drawn_codes = sum(bool(re.match(r"(-> \d{3}|-\d+ \w+)$", rest)) for _, rest in tree.values())
    assert drawn_codes == 4


def test_metadata_carried_by_errors():
    assert errors.BackendError("http_503").cause == "http_503"
    assert errors.RoutingError("no key").status == 400
    assert errors.RoutingError("no key", status=500).status == 500
    assert errors.UpstreamTimeout().code == "upstream_timeout" and errors.UpstreamUnreachable.status == 502
