"""Cross-origin access to the web-chat API, so the one-tag widget works on the company's site.

Only the web chat gets CORS: visitors authenticate with their own bearer token, never a
cookie, so no credentials are allowed and another origin gains nothing a visitor lacks.
The cookie-authenticated console and admin APIs get no CORS headers at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp_cors
from aiohttp import web

ANY_ORIGIN = "*"
# Browsers expose only the "simple" response headers to cross-origin scripts without this.
EXPOSED = ("Retry-After",)


def allow_origins(app: web.Application, origins: Sequence[str]) -> None:
    """Answer preflights and add CORS headers on every route of `app` for these origins."""
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False,
        allow_headers=("Authorization", "Content-Type"),
        allow_methods=("GET", "POST"),
        expose_headers=EXPOSED,
        max_age=600,
    )
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for route in list(app.router.routes()):
        if route.method in {"GET", "POST"} and not _is_websocket(route):
            cors.add(route)


def origin_allowed(request: web.Request, origins: Sequence[str]) -> bool:
    """For the WebSocket upgrade, which CORS does not cover: a browser always sends Origin."""
    origin = request.headers.get("Origin")
    return ANY_ORIGIN in origins or origin is None or origin in origins


def _is_websocket(route: web.AbstractRoute) -> bool:
    return route.resource is not None and route.resource.canonical.endswith("/ws")
