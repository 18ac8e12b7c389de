"""The dashboard page as one self-contained HTML document: its CSS and script inlined, no CDN, no build step.

The sources are package data (``sidecar/dashboard/static/``: ``dashboard.html``, ``dashboard.css``,
``dashboard.js``, ``login.html``), read once and assembled at start-up. The page carries no data: its script
fetches ``dashboard.json`` (relative to the page, so a path prefix in front of the sidecar still works) every
few seconds and draws the chart as inline SVG.

Content-Security-Policy allows exactly the inlined script and style (by SHA-256), requests to the page's
own origin, and nothing else: no other origin is ever contacted, no frame may embed the page, and data the
page shows (agent names, tool names, text when ``dashboard.show_text`` is on) is only ever inserted as text.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources

from sidecar import __version__

_STATIC = "sidecar.dashboard.static"


class Page:
    """An HTML document and the Content-Security-Policy that lets exactly its inline parts run."""

    __slots__ = ("html", "csp")

    def __init__(self, html: bytes, csp: str) -> None:
        self.html, self.csp = html, csp


def _read(name: str) -> str:
    return resources.files(_STATIC).joinpath(name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _assemble(template: str, style: str, script: str) -> Page:
    html = (
        template.replace("/*STYLE*/", style).replace("/*SCRIPT*/", script).replace("{{version}}", __version__)
    )
    script_src = _hash(script) if script else "'none'"
    csp = (
        f"default-src 'none'; script-src {script_src}; style-src {_hash(style)}; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return Page(html.encode("utf-8"), csp)


@cache
def dashboard_page() -> Page:
    """Return the dashboard document (read and assembled once)."""
    return _assemble(_read("dashboard.html"), _read("dashboard.css"), _read("dashboard.js"))


@cache
def _login_template() -> tuple[str, str]:
    return _read("login.html"), _read("dashboard.css")


def login_page(message: str) -> Page:
    """Return the token form, with ``message`` (plain text, escaped) above it."""
    template, style = _login_template()
    escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _assemble(template.replace("{{message}}", escaped), style, "")
