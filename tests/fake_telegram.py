"""A local server that speaks the Telegram Bot API (the methods deskbot uses) and records calls.

python-telegram-bot is pointed at it with base_url, so the real library code runs end to end.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "123456:TEST-token_for-deskbot"
STRING_FIELDS = {"text", "url", "secret_token", "action"}


@dataclass
class FakeTelegram:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    rate_limited_sends: int = 0
    failing_sends: int = 0
    server: TestServer | None = None
    _next_message_id: int = 5000

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def sent(self) -> list[tuple[int, str]]:
        return [(int(p["chat_id"]), p["text"]) for m, p in self.calls if m == "sendMessage"]

    def made(self, method: str) -> list[dict[str, Any]]:
        return [p for m, p in self.calls if m == method]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self.server = TestServer(app)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "sendMessage":
            if self.rate_limited_sends:
                self.rate_limited_sends -= 1
                return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            if self.failing_sends:
                self.failing_sends -= 1
                return _error(500, "Internal Server Error")
        self.calls.append((method, params))
        if method == "getMe":
            return _ok({"id": 42, "is_bot": True, "first_name": "Acme", "username": "acme_bot"})
        if method == "sendMessage":
            self._next_message_id += 1
            chat = {"id": int(params["chat_id"]), "type": "private"}
            message = {
                "message_id": self._next_message_id,
                "date": int(time.time()),
                "chat": chat,
                "text": params["text"],
            }
            return _ok(message)
        return _ok(True)  # sendChatAction, setWebhook, deleteWebhook

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset", 0) or 0)
        self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        if not self.pending_updates:
            await asyncio.sleep(min(float(params.get("timeout", 0) or 0), 0.2))
        self.calls.append(("getUpdates", params))
        return _ok(list(self.pending_updates))


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return dict(await request.json())
    form = await request.post()
    params: dict[str, Any] = {}
    for key, value in form.items():
        text = str(value)
        if key in STRING_FIELDS:
            params[key] = text
            continue
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
