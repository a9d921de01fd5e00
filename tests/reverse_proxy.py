"""A small real reverse proxy, as deployed in front of deskbot: it appends the address it saw
to X-Forwarded-For, says the scheme in X-Forwarded-Proto, and relays everything else."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"}


def reverse_proxy(upstream: URL, proto: str = "https") -> web.Application:
    app = web.Application()
    session_key = web.AppKey("upstream_session", aiohttp.ClientSession)

    async def session_lifetime(app: web.Application):  # type: ignore[no-untyped-def]
        app[session_key] = aiohttp.ClientSession(auto_decompress=False)
        yield
        await app[session_key].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        seen = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{seen}, {request.remote}" if seen else str(request.remote)
        headers["X-Forwarded-Proto"] = proto
        async with app[session_key].request(
            request.method,
            upstream.with_path(request.path).with_query(request.query),
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            kept = CIMultiDict(
                (k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP
            )
            return web.Response(status=answer.status, body=body, headers=kept)

    app.cleanup_ctx.append(session_lifetime)
    app.router.add_route("*", "/{tail:.*}", relay)
    return app
