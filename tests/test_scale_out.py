"""Two deskbot processes sharing PostgreSQL and Redis serve one conversation.

Both apps run in this test's event loop with their own services, database pools and Redis
connections, exactly as two `deskbot serve` processes would; only Redis and PostgreSQL
connect them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient

from bot.app import init_app
from bot.events import ConversationChanged, MessageCreated, MessageView, thread_topic
from bot.redis_bus import RedisBus
from bot.settings import Settings
from models import AgentRole
from tests.test_accounts import PASSWORD, sign_in
from tests.test_webchat import new_visitor, send

REDIS = "redis://127.0.0.1:6379/0"
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
async def two(
    aiohttp_client,  # type: ignore[no-untyped-def]
    make_settings: Callable[..., Settings],
) -> tuple[TestClient, TestClient]:
    prefix = f"deskbot-test-{uuid.uuid4().hex[:8]}"
    first = await aiohttp_client(
        await init_app(make_settings(redis_url=REDIS, redis_prefix=prefix))
    )
    second = await aiohttp_client(
        await init_app(make_settings(redis_url=REDIS, redis_prefix=prefix))
    )
    return first, second


async def receive_until(ws, predicate, within: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, "expected event did not arrive"
        frame = await ws.receive_json(timeout=remaining)
        if predicate(frame):
            return frame


@on_postgresql
async def test_a_customer_on_one_process_is_served_by_an_agent_on_the_other(
    two: tuple[TestClient, TestClient],
) -> None:
    a, b = two
    from bot import keys

    await b.app[keys.USERS].add("ann@acme.test", "Ann", AgentRole.AGENT, PASSWORD, "t")
    await sign_in(b, "ann@acme.test")
    visitor = await new_visitor(a)
    token = visitor["Authorization"].split()[1]
    async with (
        b.ws_connect("/console/ws") as console,
        a.ws_connect(f"/webchat/ws?token={token}") as chat,
    ):
        await chat.receive_json(timeout=5)  # history
        await chat.send_json({"type": "message", "text": "I want to talk to a human"})
        changed = await receive_until(console, lambda f: f.get("type") == "conversation_changed")
        assert changed["state"] == "queued"
        conversation_id = changed["conversation_id"]

        csrf = await sign_in(b, "ann@acme.test")
        path = f"/api/conversations/{conversation_id}"
        claimed = await b.post(f"{path}/claim", json={}, headers={"X-CSRF-Token": csrf})
        assert claimed.status == 200
        replied = await b.post(
            f"{path}/reply",
            json={"text": "Ann, from the other process"},
            headers={"X-CSRF-Token": csrf},
        )
        assert replied.status == 200
        delivered = await receive_until(
            chat, lambda f: f.get("type") == "message" and f["message"]["sender_kind"] == "agent"
        )
        assert delivered["message"]["text"] == "Ann, from the other process"

        await console.send_json({"watch": conversation_id})
        await receive_until(console, lambda f: f.get("type") == "watching")
        await chat.send_json({"type": "message", "text": "thank you!"})
        mirrored = await receive_until(console, lambda f: f.get("type") == "message_created")
        assert mirrored["message"]["text"] == "thank you!"


@on_postgresql
async def test_an_faq_edit_on_one_process_goes_live_on_the_other(
    two: tuple[TestClient, TestClient],
) -> None:
    a, b = two
    from tests.conftest import admin_headers

    created = await b.post(
        "/api/intents",
        json={
            "name": "gift_cards",
            "examples": {"en": ["do you sell gift cards", "gift card please", "buy a voucher"]},
            "answers": {"en": ["Gift cards are on acme.example/gift."]},
        },
        headers=admin_headers(b),
    )
    assert created.status == 201
    for _ in range(100):
        parsed = await a.post(
            "/api/nlu/parse", json={"text": "do you sell gift cards"}, headers=admin_headers(a)
        )
        if (await parsed.json())["intent"] == "gift_cards":
            break
        await asyncio.sleep(0.1)
    assert (await parsed.json())["intent"] == "gift_cards"

    visitor = await new_visitor(a)
    _, body = await send(a, visitor, "what are your support hours")  # a reads the KB now
    patch = {"answers": {"en": ["Call us at +1 555 0100."]}}
    edited = await b.patch("/api/intents/support_hours", json=patch, headers=admin_headers(b))
    assert edited.status == 200
    for _ in range(50):  # the edit crosses over Redis, well before the snapshot's maximum age
        _, body = await send(a, visitor, "what are your support hours")
        if body["replies"][0]["text"] == "Call us at +1 555 0100.":
            break
        await asyncio.sleep(0.05)
    assert body["replies"][0]["text"] == "Call us at +1 555 0100."


async def test_events_cross_processes_and_survive_redis_being_unreachable() -> None:
    prefix = f"deskbot-test-{uuid.uuid4().hex[:8]}"
    one, two_ = RedisBus(REDIS, prefix), RedisBus(REDIS, prefix)
    await one.start()
    await two_.start()
    view = MessageView(
        1, 2, "in", "customer", "héllo <b>", None, None, "2026-11-24T10:00:00+00:00", -0.5
    )
    try:
        with two_.subscribe("agents") as remote, one.subscribe_local("agents") as local:
            await one.publish("agents", MessageCreated(view))
            await one.publish("agents", ConversationChanged(2, "queued", "bot", "asked"))
            assert await asyncio.wait_for(remote.queue.get(), 5) == MessageCreated(view)
            assert (await asyncio.wait_for(remote.queue.get(), 5)).reason == "asked"
            assert local.queue.qsize() == 2
            with two_.subscribe_local("agents") as nothing:
                await asyncio.sleep(0.1)
                assert nothing.queue.empty()  # local means published by this process only
    finally:
        await one.close()
        await two_.close()

    down = RedisBus("redis://127.0.0.1:1/0", prefix)
    await down.start()  # does not hang: gives up waiting and keeps reconnecting
    try:
        with down.subscribe("agents") as here:
            await down.publish("agents", ConversationChanged(3, "queued", "bot"))
            assert (await asyncio.wait_for(here.queue.get(), 1)).conversation_id == 3
    finally:
        await down.close()


async def test_hundreds_of_concurrent_publishes_all_reach_the_other_process() -> None:
    """Busier than redis-py's default pool (100 connections, then "Too many connections"):
    every event must still cross, since a reply to a socket held elsewhere travels this way."""
    prefix = f"deskbot-test-{uuid.uuid4().hex[:8]}"
    one, two_ = RedisBus(REDIS, prefix), RedisBus(REDIS, prefix)
    await one.start()
    await two_.start()
    try:
        with two_.subscribe("agents") as remote:
            await asyncio.gather(
                *(
                    one.publish("agents", ConversationChanged(i, "queued", "bot"), required=True)
                    for i in range(400)
                )
            )
            got = [await asyncio.wait_for(remote.queue.get(), 5) for _ in range(400)]
        assert {event.conversation_id for event in got} == set(range(400))
    finally:
        await one.close()
        await two_.close()


async def test_a_web_chat_reply_that_may_not_reach_the_socket_is_left_to_the_outbox() -> None:
    """With Redis unreachable, the visitor's socket in another process would miss the reply,
    so the channel reports a failed delivery and the outbox sends it again later."""
    from datetime import UTC, datetime

    from channels.base import DeliveryError, DeliveryTarget, OutboundText
    from channels.webchat import WebchatOutput

    down = RedisBus("redis://127.0.0.1:1/0", "deskbot-test-down")
    await down.start()
    try:
        with down.subscribe(thread_topic("webchat", "thread-1")) as here:
            output = WebchatOutput(down)
            target = DeliveryTarget("webchat", "visitor-1", "thread-1")
            reply = OutboundText(7, 3, "bot", "hello", datetime.now(UTC))
            with pytest.raises(DeliveryError, match="event bus unavailable"):
                await output.send_text(target, reply)
            assert here.queue.qsize() == 1  # this process's own sockets still got it
    finally:
        await down.close()


@on_postgresql
async def test_failed_sign_ins_on_one_process_count_on_the_other(
    two: tuple[TestClient, TestClient],
) -> None:
    from bot import keys
    from tests.test_accounts import post_login

    a, b = two
    await a.app[keys.USERS].add("ann@acme.test", "Ann", AgentRole.AGENT, PASSWORD, "t")
    limit = a.app[keys.SETTINGS].login_max_failures
    for _ in range(limit):
        assert (await post_login(a, "ann@acme.test", "not-the-password")).status == 401
    assert (await post_login(b, "ann@acme.test")).status == 429


@on_postgresql
async def test_an_article_edited_on_one_process_answers_at_once_on_the_other(
    two: tuple[TestClient, TestClient],
) -> None:
    from tests.conftest import admin_headers

    a, b = two
    question = "where do visitors park at the acme office"
    _, before = await send(b, await new_visitor(b), question)
    assert "lot B" not in before["replies"][0]["text"]
    created = await a.post(
        "/api/articles",
        json={
            "slug": "parking",
            "title": "Parking at the Acme office",
            "body": "Visitors park in lot B behind the blue building.",
        },
        headers=admin_headers(a),
    )
    assert created.status == 201, await created.text()
    deadline = asyncio.get_running_loop().time() + 10
    while True:  # the articles_changed event crosses Redis; b rebuilds its index
        _, after = await send(b, await new_visitor(b), question)
        if "lot B" in after["replies"][0]["text"]:
            break
        assert asyncio.get_running_loop().time() < deadline, after["replies"][0]["text"]
        await asyncio.sleep(0.1)
