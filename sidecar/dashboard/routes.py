"""The dashboard's routes and its installer.

    GET  /sidecar/                the page (HTML, self-contained; sidecar.dashboard.page)
    GET  /sidecar/dashboard.json  what the page draws: /sidecar/health's document plus the recorder's
                                  history, breakdowns and recent segments
    GET  /sidecar/metrics         Prometheus text (sidecar.dashboard.metrics)
    POST /sidecar/login           the token form (token policy only): sets the session cookie
    POST /sidecar/logout          clears it

Every route goes through the access check first (sidecar.dashboard.access). ``install_dashboard`` opens the
recorder with the app and sets the pruning middleware's ``PRUNE_RECORDER`` hook; with
``[dashboard] enabled = false`` nothing is installed and the paths answer 404 like any unknown
/sidecar/ path.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator

import msgspec
from aiohttp import web

from sidecar import __version__
from sidecar.dashboard.access import COOKIE, DashboardAccess, Refusal
from sidecar.dashboard.metrics import MetricsEndpoint, health_doc
from sidecar.dashboard.page import Page, dashboard_page, login_page
from sidecar.dashboard.pricing import PriceTable
from sidecar.dashboard.recorder import DIMENSIONS, Breakdown, Bucket, RecentSegment, SavingsRecorder
from sidecar.keys import CONFIG, HEALTH_SOURCES
from sidecar.proxy.responses import error_response
from sidecar.pruning.middleware import PRUNE_RECORDER

log = logging.getLogger("sidecar.dashboard")

PAGE_PATH = "/sidecar/"
DATA_PATH = "/sidecar/dashboard.json"
METRICS_PATH = "/sidecar/metrics"
LOGIN_PATH = "/sidecar/login"
LOGOUT_PATH = "/sidecar/logout"
_NO_STORE = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ModelPriceView(msgspec.Struct, frozen=True, kw_only=True):
    """The price a model seen in traffic is estimated at (shown under the money figures)."""

    model: str
    key: str | None  # the [pricing.models] key, "default", or None: not priced
    input_usd_per_mtok: float | None
    cached_read_multiplier: float | None


class DashboardView(msgspec.Struct, frozen=True, kw_only=True):
    """The document /sidecar/dashboard.json serves."""

    version: str
    generated_at: float
    auth: str  # open | token
    show_text: bool
    health: dict[str, object]  # exactly /sidecar/health's document, read at the same instant
    minute_s: int
    history_minutes: int
    buckets: list[Bucket]
    by: dict[str, list[Breakdown]]
    recent: list[RecentSegment]  # newest first
    prices: list[ModelPriceView]


class Dashboard:
    """The dashboard of one app: recorder, access check, metrics registry."""

    def __init__(self, app: web.Application, recorder: SavingsRecorder, access: DashboardAccess) -> None:
        self.app = app
        self.recorder = recorder
        self.access = access
        self.metrics = MetricsEndpoint(app, recorder)

    def view(self) -> DashboardView:
        """Return what the page draws, /sidecar/health's document included."""
        rec = self.recorder
        prices = []
        for row in rec.breakdown("model"):
            price = rec.prices.price(None if row.name == "unknown" else row.name)
            prices.append(
                ModelPriceView(
                    model=row.name,
                    key=price.key if price else None,
                    input_usd_per_mtok=price.input_usd_per_mtok if price else None,
                    cached_read_multiplier=price.cached_read_multiplier if price else None,
                )
            )
        return DashboardView(
            version=__version__,
            generated_at=round(time.time(), 3),
            auth=self.access.policy.mode,
            show_text=rec.config.show_text,
            health=health_doc(self.app),
            minute_s=60,
            history_minutes=rec.config.history_minutes,
            buckets=list(rec.buckets),
            by={d: rec.breakdown(d) for d in DIMENSIONS},
            recent=list(reversed(rec.recent)),
            prices=prices,
        )


DASHBOARD = web.AppKey("sidecar_dashboard", Dashboard)


def _refused(request: web.Request, refusal: Refusal, *, page: bool) -> web.Response:
    if refusal.login and page:
        return _html(login_page("Enter the sidecar's token to open the dashboard."), status=401)
    headers = {"WWW-Authenticate": 'Bearer realm="sidecar"'} if refusal.status == 401 else None
    code = "unauthorized" if refusal.status == 401 else "forbidden"
    return error_response(refusal.status, code, refusal.message, headers)


def _html(page: Page, status: int = 200) -> web.Response:
    headers = {**_NO_STORE, "Content-Security-Policy": page.csp, "X-Frame-Options": "DENY"}
    return web.Response(
        body=page.html, status=status, content_type="text/html", charset="utf-8", headers=headers
    )


async def page_handler(request: web.Request) -> web.Response:
    """Serve the page (or, with a token required and none given, the login form)."""
    dashboard = request.app[DASHBOARD]
    refusal = dashboard.access.check(request)
    if refusal is not None:
        return _refused(request, refusal, page=True)
    return _html(dashboard_page())


async def data_handler(request: web.Request) -> web.Response:
    """Serve what the page draws."""
    dashboard = request.app[DASHBOARD]
    refusal = dashboard.access.check(request)
    if refusal is not None:
        return _refused(request, refusal, page=False)
    body = msgspec.json.encode(dashboard.view())
    return web.Response(body=body, content_type="application/json", headers=_NO_STORE)


async def metrics_handler(request: web.Request) -> web.Response:
    """Serve the Prometheus exposition."""
    dashboard = request.app[DASHBOARD]
    refusal = dashboard.access.check(request)
    if refusal is not None:
        return _refused(request, refusal, page=False)
    body, content_type = await dashboard.metrics.render(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


async def login_handler(request: web.Request) -> web.Response:
    """Check the token typed in the form; on success set the session cookie and go to the page."""
    access = request.app[DASHBOARD].access
    origin = request.headers.get("Origin")
    if origin is not None:
        refusal = access.check(request)
        if refusal is not None and not refusal.login:
            return _refused(request, refusal, page=False)
    if access.policy.mode != "token":
        return _see_page()
    form = await request.post()
    given = form.get("token")
    if not isinstance(given, str) or not access.token_ok(given):
        log.warning("dashboard: login refused")
        return _html(login_page("Wrong token. Enter the sidecar's token to open the dashboard."), status=401)
    response = _see_page()
    access.set_session(response, secure=request.secure)
    return response


async def logout_handler(request: web.Request) -> web.Response:
    """Forget the session cookie."""
    response = _see_page()
    response.del_cookie(COOKIE, path=PAGE_PATH)
    return response


def _see_page() -> web.Response:
    return web.Response(status=303, headers={"Location": PAGE_PATH, **_NO_STORE})


def install_dashboard(app: web.Application) -> None:
    """Serve the dashboard and /sidecar/metrics, and record what the pruning middleware does."""
    config = app[CONFIG]
    if not config.dashboard.enabled:
        return

    async def dashboard_ctx(app: web.Application) -> AsyncIterator[None]:
        access = DashboardAccess.for_config(config, os.environ.get(config.mcp.token_env) or None)
        if access.policy.mode == "refuse":
            log.warning(
                "dashboard: bound to %s without $%s: /sidecar/ and /sidecar/metrics are refused",
                config.server.host,
                config.mcp.token_env,
            )
        recorder = SavingsRecorder(config.dashboard, PriceTable(config.pricing))
        app[DASHBOARD] = Dashboard(app, recorder, access)
        app[PRUNE_RECORDER] = recorder.record
        app[HEALTH_SOURCES]["savings"] = recorder.health
        yield

    app.cleanup_ctx.append(dashboard_ctx)
    app.router.add_get(PAGE_PATH, page_handler)
    app.router.add_get(DATA_PATH, data_handler)
    app.router.add_get(METRICS_PATH, metrics_handler)
    app.router.add_post(LOGIN_PATH, login_handler)
    app.router.add_post(LOGOUT_PATH, logout_handler)
