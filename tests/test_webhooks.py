"""Outgoing webhooks against a real receiver on loopback: signed deliveries, a retry after a
500, every event kind, the admin API's refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot import keys
from tests.conftest import admin_headers, eventually
from tests.test_agent_api import make_agent
from tests.test_webchat import new_visitor, send


@dataclass
class Receiver:
    """A company's endpoint: checks each signature as README tells, fails on request."""

    secret: str = ""
    fail_next: int = 0
    got: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers["X-Deskbot-Timestamp"]
        expected = (
            "sha256="
            + hmac.new(
                self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers["X-Deskbot-Signature"]):
            self.refused.append("signature")
            return web.Response(status=401)
        if abs(time.time() - int(timestamp)) > 300:
            self.refused.append("stale")
            return web.Response(status=401)
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500)
        self.got.append(json.loads(body))
        return web.Response(status=204)

    def events(self) -> list[str]:
        return [e["event"] for e in self.got]


async def receiver_at() -> tuple[Receiver, TestServer]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return receiver, server


async def register(client: TestClient, url: str, events: list[str]) -> dict[str, Any]:
    response = await client.post(
        "/api/webhooks", json={"url": url, "events": events}, headers=admin_headers(client)
    )
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def test_signed_deliveries_of_every_kind_with_a_retry_after_a_500(
    client: TestClient,
) -> None:
    receiver, server = await receiver_at()
    try:
        events = [
            "conversation.created",
            "conversation.escalated",
            "conversation.assigned",
            "conversation.resolved",
            "rating.received",
        ]
        hook = await register(client, str(server.make_url("/hook")), events)
        receiver.secret = hook["secret"]
        assert hook["secret"].startswith("whsec_")
        listed = await (await client.get("/api/webhooks", headers=admin_headers(client))).json()
        assert listed["webhooks"][0]["secret"] is None  # shown once, at creation

        receiver.fail_next = 1  # the first delivery meets an outage on their side
        visitor = await new_visitor(client)
        await send(client, visitor, "Hi, what payment methods do you accept?")
        _, queued = await send(client, visitor, "I need a human")
        conversation_id = queued["conversation_id"]
        agent_id = await make_agent(client, "ann@acme.test")
        engine = client.app[keys.ENGINE]
        await engine.claim(conversation_id, agent_id)
        await engine.resolve(conversation_id, "ann")
        await send(client, visitor, "4")

        await eventually(lambda: len(receiver.got) == 5, within=20)
        # each delivery on its own: the others did not wait for the retried one
        assert sorted(receiver.events()) == sorted(events)
        by_kind = {e["event"]: e["data"] for e in receiver.got}
        assert by_kind["conversation.escalated"]["reason"]
        assert by_kind["conversation.created"]["first_message"]["text"].startswith("Hi,")
        assert by_kind["rating.received"] == {"conversation_id": conversation_id, "rating": 4}
        assert receiver.refused == []

        shown = await client.get(
            f"/api/webhooks/{hook['id']}/deliveries", headers=admin_headers(client)
        )
        deliveries = (await shown.json())["deliveries"]
        assert {d["status"] for d in deliveries} == {"sent"}
        (retried,) = [d for d in deliveries if d["attempts"] == 2]
        assert retried["last_status"] == 204 and retried["last_error"] is None
        assert all(d["attempts"] == 1 for d in deliveries if d is not retried)
    finally:
        await server.close()


async def test_an_unreachable_receiver_is_retried_and_message_events_carry_the_text(
    client: TestClient,
) -> None:
    _, server = await receiver_at()
    url = str(server.make_url("/hook"))
    await server.close()  # nobody listens there yet
    hook = await register(client, url, ["message.created"])
    visitor = await new_visitor(client)
    await send(client, visitor, "What payment methods do you accept?")

    async def failing() -> bool:
        shown = await client.get(
            f"/api/webhooks/{hook['id']}/deliveries", headers=admin_headers(client)
        )
        rows = (await shown.json())["deliveries"]
        return bool(rows) and all(d["last_error"] and d["status"] == "pending" for d in rows)

    await eventually(failing, within=10)


async def test_bad_webhooks_are_refused_and_only_admins_manage_them(client: TestClient) -> None:
    headers = admin_headers(client)
    bad = [
        {"url": "ftp://x.test/", "events": ["message.created"]},
        {"url": "https://x.test/", "events": []},
        {"url": "https://x.test/", "events": ["message.deleted"]},
        {"url": "https://x.test/ space", "events": ["message.created"]},
        {"url": "https://x.test/" + "a" * 3000, "events": ["message.created"]},
        {"url": "https://x.test/", "events": ["message.created"], "secret": "mine"},
    ]
    for body in bad:
        response = await client.post("/api/webhooks", json=body, headers=headers)
        assert response.status in {400, 422}, (body, await response.text())
    assert (await client.post("/api/webhooks", json=bad[0])).status == 401
    assert (await client.get("/api/webhooks")).status == 401
    hook = await register(client, "https://x.test/", ["message.created"])
    deleted = await client.delete(f"/api/webhooks/{hook['id']}", headers=headers)
    assert deleted.status == 200
    again = await client.delete(f"/api/webhooks/{hook['id']}", headers=headers)
    assert again.status == 404
    history = await (await client.get("/api/audit", headers=headers)).json()
    assert any(e["entity"] == "webhook" for e in history.get("entries", []))
