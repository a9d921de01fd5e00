"""A local server that speaks the Slack Web API methods deskbot uses, and records the calls.

slack-sdk's AsyncWebClient is pointed at it with base_url; slack-bolt runs unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AGENT_CHANNEL = "CAGENTS001"


@dataclass
class FakeSlack:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    emails: dict[str, str] = field(default_factory=dict)
    rate_limited_posts: int = 0
    server: TestServer | None = None
    _ts: int = 0
    _posted_ts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/api/"))

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [
            p for m, p in self.calls if m == "chat.postMessage" and channel in (None, p["channel"])
        ]

    def thread_in(self, channel: str) -> str:
        """The ts of the first post in `channel`: an escalation's thread in the agents' channel
        (its number depends on what else the bot posted first)."""
        return next(ts for posted_in, ts in self._posted_ts if posted_in == channel)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        self.server = TestServer(app)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        method = request.match_info["method"]
        if request.method == "GET":
            params = dict(request.query)
        elif request.content_type == "application/json":
            params = dict(await request.json())
        else:
            params = {k: str(v) for k, v in (await request.post()).items()}
        if method == "chat.postMessage" and self.rate_limited_posts:
            self.rate_limited_posts -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        self.calls.append((method, params))
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "team_id": "T123ABC456", "user_id": "UBOT", "bot_id": "BBOT"}
            )
        if method == "chat.postMessage":
            self._ts += 1
            ts = f"1800000000.{self._ts:06d}"
            self._posted_ts.append((params["channel"], ts))
            message = {"type": "message", "text": params["text"], "ts": ts, "bot_id": "BBOT"}
            return web.json_response(
                {"ok": True, "channel": params["channel"], "ts": ts, "message": message}
            )
        if method == "users.info":
            user = params["user"]
            profile = {"email": self.emails.get(user, f"{user.lower()}@elsewhere.test")}
            return web.json_response({"ok": True, "user": {"id": user, "profile": profile}})
        return web.json_response({"ok": False, "error": "unknown_method"})


def signed_headers(
    body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's v0 request signature over 'v0:{timestamp}:{body}'."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/json",
    }


async def post_event(
    client: TestClient, payload: dict[str, Any], headers: dict[str, str] | None = None
):  # type: ignore[no-untyped-def]
    body = json.dumps(payload)
    return await client.post(
        "/channels/slack/events", data=body, headers=headers or signed_headers(body)
    )
