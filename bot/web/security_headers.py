"""Headers every answer carries: no server version, no MIME sniffing, and no caching of API
answers or signed-in pages (they hold customers' messages and CSRF tokens)."""

from __future__ import annotations

from aiohttp import web

SERVER = "deskbot"
NOT_CACHED = ("/api/", "/webchat/", "/console", "/admin", "/login", "/healthz")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith(NOT_CACHED) and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
