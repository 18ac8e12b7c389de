"""health_document: the proxy section first, then one section per registered component, read now."""

from __future__ import annotations

import msgspec
from aiohttp import web

from sidecar.config import Config
from sidecar.keys import CONFIG, HEALTH_SOURCES, STATS, health_document
from sidecar.stats import ProxyHealth, ProxyStats


class Section(msgspec.Struct, frozen=True):
    calls: int
    by_kind: dict[str, int]


def app_with(sources: dict) -> web.Application:
    app = web.Application()
    app[CONFIG] = Config()
    app[STATS] = ProxyStats()
    app[HEALTH_SOURCES] = sources
    return app


def test_proxy_first_then_components_in_registration_order():
    calls = {"n": 0}

    def counted() -> Section:
        calls["n"] += 1
        return Section(calls=calls["n"], by_kind={"code": calls["n"]})

    app = app_with({"routing": counted, "pruning": lambda: Section(calls=0, by_kind={})})
    doc = health_document(app)
    assert list(doc) == ["proxy", "routing", "pruning"]
    assert doc["routing"] == {"calls": 1, "by_kind": {"code": 1}}  # plain JSON values, not Structs
    assert set(doc["proxy"]) == set(ProxyHealth.__struct_fields__) and doc["proxy"]["ready"] is False
    assert health_document(app)["routing"] == {"calls": 2, "by_kind": {"code": 2}}  # read at each call


def test_the_document_encodes_as_json():
    app = app_with({"x": lambda: Section(calls=3, by_kind={"logs": 1})})
    app[STATS].record_status(503)
    doc = msgspec.json.decode(msgspec.json.encode(health_document(app)))
    assert doc["proxy"]["upstream_status"] == {"5xx": 1} and doc["x"]["calls"] == 3
