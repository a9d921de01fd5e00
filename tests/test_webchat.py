"""Web chat over real HTTP and a real WebSocket client, including hostile input."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from itsdangerous import URLSafeTimedSerializer

from bot import keys
from channels.visitor_tokens import SALT


async def new_visitor(client: TestClient) -> dict[str, str]:
    response = await client.post("/webchat/sessions", json={})
    assert response.status == 200
    body = await response.json()
    return {"Authorization": f"Bearer {body['token']}"}


async def send(client: TestClient, headers: dict[str, str], text: str, **extra: Any) -> Any:
    response = await client.post("/webchat/messages", json={"text": text, **extra}, headers=headers)
    return response.status, await response.json()


async def test_question_gets_the_faq_answer_over_http(client: TestClient) -> None:
    visitor = await new_visitor(client)
    status, body = await send(client, visitor, "What payment methods do you accept?")
    assert status == 200
    assert body["state"] == "bot"
    assert "PayPal" in body["replies"][0]["text"]
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    assert [m["sender_kind"] for m in history["messages"]] == ["customer", "bot"]


async def test_websocket_chat_and_resume_after_reconnect(client: TestClient) -> None:
    visitor = await new_visitor(client)
    token = visitor["Authorization"].split()[1]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello == {"type": "history", "state": None, "messages": []}
        await ws.send_json(
            {"type": "message", "text": "how do I reset my password", "client_message_id": "c1"}
        )
        frames = [await ws.receive_json(timeout=5), await ws.receive_json(timeout=5)]
        ack = next(f for f in frames if f["type"] == "ack")
        reply = next(f for f in frames if f["type"] == "message")
        assert ack["client_message_id"] == "c1" and not ack["duplicate"]
        assert "Forgot password" in reply["message"]["text"]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        resumed = await ws.receive_json(timeout=5)
        assert resumed["type"] == "history" and resumed["state"] == "bot"
        assert next(m["text"] for m in resumed["messages"]) == "how do I reset my password"
        assert len(resumed["messages"]) == 2


async def test_agent_reply_reaches_the_visitors_socket(client: TestClient) -> None:
    from models import Agent

    visitor = await new_visitor(client)
    token = visitor["Authorization"].split()[1]
    _, escalated = await send(client, visitor, "I need a human")
    assert escalated["state"] == "queued"
    async with client.app[keys.SESSIONS]() as session:
        agent = Agent(email="ann@example.com", name="Ann")
        session.add(agent)
        await session.commit()
    engine = client.app[keys.ENGINE]
    await engine.claim(escalated["conversation_id"], agent.id)
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        await ws.receive_json(timeout=5)  # history
        await engine.agent_reply(
            escalated["conversation_id"], agent.id, "Hi, Ann here. How can I help?"
        )
        pushed = []
        while not pushed or pushed[-1]["sender_kind"] != "agent":
            frame = await ws.receive_json(timeout=5)
            assert frame["type"] == "message"
            pushed.append(frame["message"])
    # The handoff notice may also arrive if its delivery raced the connect; clients dedupe by id.
    assert {m["sender_kind"] for m in pushed} <= {"bot", "agent"}
    assert pushed[-1]["text"] == "Hi, Ann here. How can I help?"


async def test_a_resent_client_message_id_is_ignored(client: TestClient) -> None:
    visitor = await new_visitor(client)
    _, first = await send(client, visitor, "hello", client_message_id="abc")
    status, again = await send(client, visitor, "hello", client_message_id="abc")
    assert status == 200 and again["duplicate"] and again["replies"] == []
    assert again["message_id"] == first["message_id"]
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    assert len(history["messages"]) == 2


async def test_visitors_cannot_see_each_other(client: TestClient) -> None:
    alice, bob = await new_visitor(client), await new_visitor(client)
    await send(client, alice, "my secret question about billing", client_message_id="x1")
    _, bob_first = await send(client, bob, "hello", client_message_id="x1")
    assert not bob_first["duplicate"]  # ids are per visitor, not global
    bob_history = await (await client.get("/webchat/messages", headers=bob)).json()
    assert all("secret" not in m["text"] for m in bob_history["messages"])


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_missing_or_forged_tokens_are_refused(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = await client.post("/webchat/messages", json={"text": "hi"}, headers=headers)
    assert response.status == 401
    assert "token" in (await response.json())["error"]


async def test_token_signed_with_another_key_is_refused(client: TestClient) -> None:
    forged = URLSafeTimedSerializer("someone-elses-key", salt=SALT).dumps({"v": "a", "t": "a"})
    response = await client.get("/webchat/messages", headers={"Authorization": f"Bearer {forged}"})
    assert response.status == 401
    ws_response = await client.get(f"/webchat/ws?token={forged}")
    assert ws_response.status == 401


async def test_expired_token_is_refused(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = client.app[keys.SETTINGS].secret_key
    max_age = client.app[keys.SETTINGS].visitor_token_max_age_s
    long_ago = time.time() - max_age - 60
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: long_ago)
    old = URLSafeTimedSerializer(secret, salt=SALT).dumps({"v": "a", "t": "a"})
    monkeypatch.undo()
    response = await client.get("/webchat/messages", headers={"Authorization": f"Bearer {old}"})
    assert response.status == 401
    assert "expired" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"", 400, "empty"),
        (b"{not json", 400, "not JSON"),
        (b'\xff\xfe{"text": "hi"}', 400, "UTF-8"),
        (b"[1, 2]", 400, "object"),
        (b'{"text": "hi", "admin": true}', 422, "not valid"),
        (b'{"text": 5}', 422, "not valid"),
        (b'{"text": "   "}', 422, "empty"),
        (json.dumps({"text": "a" * 5000}).encode(), 422, "limit"),
        (b'{"text": "hi", "client_message_id": "../../etc"}', 422, "not valid"),
        (b"[" * 30000 + b"]" * 30000, 400, "nested"),
    ],
)
async def test_bad_bodies_get_clear_4xx_and_store_nothing(
    client: TestClient, body: bytes, status: int, fragment: str
) -> None:
    visitor = await new_visitor(client)
    response = await client.post(
        "/webchat/messages", data=body, headers={**visitor, "Content-Type": "application/json"}
    )
    assert response.status == status
    assert fragment in (await response.json())["error"]
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    assert history["messages"] == []


async def test_a_one_megabyte_body_is_refused_with_413(client: TestClient) -> None:
    visitor = await new_visitor(client)
    response = await client.post(
        "/webchat/messages",
        data=json.dumps({"text": "a" * 1_000_000}),
        headers={**visitor, "Content-Type": "application/json"},
    )
    assert response.status == 413
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    assert history["messages"] == []


async def test_bad_websocket_frames_get_errors_and_the_socket_stays_open(
    client: TestClient,
) -> None:
    visitor = await new_visitor(client)
    token = visitor["Authorization"].split()[1]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        await ws.receive_json(timeout=5)
        for frame in ("not json", json.dumps([1]), json.dumps({"type": "message", "text": ""})):
            await ws.send_str(frame)
            answer = await ws.receive_json(timeout=5)
            assert answer["type"] == "error" and answer["error"]
        await ws.send_bytes(b"\x00\x01")
        assert (await ws.receive_json(timeout=5))["type"] == "error"
        await ws.send_json({"type": "message", "text": "hello", "client_message_id": "ok1"})
        frames = [await ws.receive_json(timeout=5) for _ in range(2)]
        assert {f["type"] for f in frames} == {"ack", "message"}


async def test_oversized_websocket_frame_closes_the_socket_without_storing(
    client: TestClient,
) -> None:
    visitor = await new_visitor(client)
    token = visitor["Authorization"].split()[1]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        await ws.receive_json(timeout=5)
        await ws.send_str(json.dumps({"type": "message", "text": "a" * 200_000}))
        closing = await ws.receive(timeout=5)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    assert history["messages"] == []


async def test_script_in_a_message_comes_back_as_inert_json_text(client: TestClient) -> None:
    visitor = await new_visitor(client)
    payload = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    status, _body = await send(client, visitor, payload)
    assert status == 200
    history = await client.get("/webchat/messages", headers=visitor)
    assert history.content_type == "application/json"
    assert (await history.json())["messages"][0]["text"] == payload


async def test_widget_and_demo_page_are_served(client: TestClient) -> None:
    page = await client.get("/")
    assert page.status == 200 and "/webchat/widget.js" in await page.text()
    widget = await client.get("/webchat/widget.js")
    assert widget.status == 200 and widget.content_type == "application/javascript"
    assert "textContent" in await widget.text()


async def test_many_visitors_at_once(client: TestClient) -> None:
    visitors = await asyncio.gather(*(new_visitor(client) for _ in range(20)))
    results = await asyncio.gather(*(send(client, v, "how much does it cost") for v in visitors))
    assert all(
        status == 200 and "per user" in body["replies"][0]["text"] for status, body in results
    )
