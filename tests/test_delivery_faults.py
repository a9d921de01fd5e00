"""Replies reach open sockets through Redis restarts, hangs and database errors: each test
runs its own redis-server on its own port (never the shared one), since it kills, freezes or
reconfigures it."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as redis
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from bot import keys
from bot.app import init_app
from bot.bus import BusGap, BusUnavailable
from bot.events import ConversationChanged, MessageDelivered, MessageView
from bot.redis_bus import RedisBus
from bot.settings import Settings
from tests.mail_servers import free_port
from tests.test_accounts import add_user, sign_in
from tests.test_faults import start_redis, wait_port
from tests.test_webchat import new_visitor, send

ClientFactory = Callable[..., Any]


class OwnRedis:
    """A redis-server this test may kill, freeze and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = start_redis(self.port)

    async def up(self) -> None:
        await wait_port(self.port)

    async def command(self, *args: str) -> Any:
        client = redis.Redis(port=self.port)
        try:
            return await client.execute_command(*args)
        finally:
            await client.aclose()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    async def restart(self) -> None:
        self.process = start_redis(self.port)
        await self.up()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
async def own_redis() -> AsyncIterator[OwnRedis]:
    server = OwnRedis()
    await server.up()
    yield server
    server.thaw()
    server.kill()


def reply(message_id: int, thread: str = "t1") -> MessageDelivered:
    view = MessageView(message_id, 1, "out", "bot", "hello", None, None, "2026-01-01T00:00:00")
    return MessageDelivered("webchat", thread, view)


async def next_event(queue: asyncio.Queue[Any], within: float = 5.0) -> Any:
    return await asyncio.wait_for(queue.get(), within)


async def test_a_listener_back_from_a_gap_tells_its_subscribers(own_redis: OwnRedis) -> None:
    """What another process published while this one's listener was reconnecting never
    reaches it through Redis; its subscribers are told so (then the sockets catch up)."""
    here, there = RedisBus(own_redis.url, "gap"), RedisBus(own_redis.url, "gap")
    await here.start()
    await there.start()
    try:
        with here.subscribe("agents") as subscription:
            await own_redis.command("CLIENT", "KILL", "TYPE", "pubsub")
            # Published while both listeners reconnect: into the void, for here at least.
            await there._redis.publish("gap:agents", b"{}")
            event = await next_event(subscription.queue)
            assert isinstance(event, BusGap)
    finally:
        await here.close()
        await there.close()


async def test_a_reply_retried_during_an_outage_reaches_local_sockets_once(
    own_redis: OwnRedis,
) -> None:
    bus = RedisBus(own_redis.url, "once")
    await bus.start()
    try:
        with bus.subscribe("thread:webchat:t1") as socket:
            own_redis.kill()
            for _ in range(3):  # the outbox retrying one reply
                with pytest.raises(BusUnavailable):
                    await bus.publish("thread:webchat:t1", reply(7), required=True)
            await own_redis.restart()
            deadline = time.monotonic() + 10
            while True:  # the retry that finally gets through Redis
                try:
                    await bus.publish("thread:webchat:t1", reply(7), required=True)
                    break
                except BusUnavailable:
                    assert time.monotonic() < deadline, "the bus did not come back"
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)  # anything delivered again would have arrived by now
            got = []
            while not socket.queue.empty():
                got.append(socket.queue.get_nowait())
            assert [e.message.id for e in got if isinstance(e, MessageDelivered)] == [7]
    finally:
        await bus.close()


async def test_a_hung_redis_costs_a_publish_a_moment_then_nothing(own_redis: OwnRedis) -> None:
    """Frozen (SIGSTOP), not refused: each command used to wait redis-py's 5 s timeout."""
    bus = RedisBus(own_redis.url, "hung")
    await bus.start()
    try:
        with bus.subscribe("agents") as local:
            own_redis.freeze()
            started = time.monotonic()
            for n in range(20):
                await bus.publish("agents", ConversationChanged(n, "queued", "bot"))
            assert time.monotonic() - started < 3.0  # a few timeouts, then the breaker
            shown = [(await next_event(local.queue, 1)).conversation_id for _ in range(20)]
            assert shown == list(range(20))  # this process's sockets were served meanwhile
            own_redis.thaw()
    finally:
        own_redis.thaw()
        await bus.close()


@pytest.fixture
async def redis_client(
    own_redis: OwnRedis, make_settings: Callable[..., Settings], aiohttp_client: ClientFactory
) -> TestClient:
    settings = make_settings(redis_url=own_redis.url, redis_prefix=f"t{uuid.uuid4().hex[:8]}")
    return await aiohttp_client(await init_app(settings))


async def frames_until(ws: Any, wanted: Callable[[dict[str, Any]], bool], within: float) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, "the frame never came"
        frame = await ws.receive(timeout=left)
        assert frame.type == WSMsgType.TEXT, frame
        if wanted(frame.json()):
            return frame.json()


async def test_a_reply_published_while_the_socket_process_was_not_listening_still_shows(
    own_redis: OwnRedis, redis_client: TestClient
) -> None:
    """Redis is back but this process's listener is not yet: another process's listener
    receives the reply, so PUBLISH "succeeds", and the visitor's socket here used to miss it
    until the page was reloaded."""
    await own_redis.command("ACL", "SETUSER", "other", "on", ">pw", "~*", "&*", "+@all")
    prefix = redis_client.app[keys.SETTINGS].redis_prefix
    other = RedisBus(f"redis://other:pw@127.0.0.1:{own_redis.port}/0", prefix)
    await other.start()  # another process, listening (a receiver of every PUBLISH)
    try:
        visitor = await new_visitor(redis_client)
        token = visitor["Authorization"].split()[1]
        async with redis_client.ws_connect(f"/webchat/ws?token={token}") as ws:
            await frames_until(ws, lambda f: f["type"] == "history", 5)
            await own_redis.command("ACL", "SETUSER", "default", "-psubscribe")
            await own_redis.command("CLIENT", "KILL", "TYPE", "pubsub", "USER", "default")
            status, body = await send(redis_client, visitor, "what payment methods do you accept?")
            assert status == 200
            reply_id = body["replies"][0]["id"]
            await own_redis.command("ACL", "SETUSER", "default", "+psubscribe")
            frame = await frames_until(ws, lambda f: f["type"] == "message", 5)
            assert frame["message"]["id"] == reply_id
            with pytest.raises(TimeoutError):  # and only once
                await frames_until(ws, lambda f: f["type"] == "message", 1)
    finally:
        await other.close()


async def test_acks_keep_flowing_while_redis_hangs(
    own_redis: OwnRedis, redis_client: TestClient
) -> None:
    visitor = await new_visitor(redis_client)
    token = visitor["Authorization"].split()[1]
    async with redis_client.ws_connect(f"/webchat/ws?token={token}") as ws:
        await frames_until(ws, lambda f: f["type"] == "history", 5)
        own_redis.freeze()
        started = time.monotonic()
        replies: set[int] = set()

        def note(frame: dict[str, Any]) -> bool:
            if frame["type"] == "message":
                replies.add(frame["message"]["id"])
            return frame["type"] == "ack"

        for n in range(10):
            await ws.send_json({"type": "message", "text": "hello", "client_message_id": f"m{n}"})
            await frames_until(ws, note, 5)
        assert time.monotonic() - started < 5.0  # it was ≥ 5 s per message
        own_redis.thaw()
        while len(replies) < 10:  # this process's own sockets were served all along
            await frames_until(ws, lambda f: not note(f) and len(replies) >= 10, 10)


async def test_a_database_error_in_a_frame_gets_an_error_frame_and_the_socket_stays(
    client: TestClient,
) -> None:
    visitor = await new_visitor(client)
    token = visitor["Authorization"].split()[1]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        await frames_until(ws, lambda f: f["type"] == "history", 5)
        await rename_table(client, "messages", "messages_away")
        try:
            await ws.send_json({"type": "message", "text": "hello", "client_message_id": "a1"})
            frame = await frames_until(ws, lambda f: f["type"] in ("error", "ack"), 5)
            assert frame["type"] == "error" and "again" in frame["error"]
        finally:
            await rename_table(client, "messages_away", "messages")
        await ws.send_json({"type": "message", "text": "hello", "client_message_id": "a1"})
        frame = await frames_until(ws, lambda f: f["type"] == "ack", 5)
        assert frame["duplicate"] is False  # the failed attempt stored nothing
        assert not ws.closed


async def rename_table(client: TestClient, old: str, new: str) -> None:
    async with client.app[keys.SESSIONS]() as session:
        await session.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
        await session.commit()


async def test_a_database_error_in_a_console_frame_gets_an_error_frame(
    client: TestClient,
) -> None:
    await add_user(client, "ann@acme.test")
    await sign_in(client, "ann@acme.test")
    visitor = await new_visitor(client)
    _, sent = await send(client, visitor, "I want to talk to a human")
    async with client.ws_connect("/console/ws") as ws:
        await rename_table(client, "conversations", "conversations_away")
        try:
            await ws.send_json({"watch": sent["conversation_id"]})
            frame = await frames_until(ws, lambda f: f["type"] in ("error", "watching"), 5)
            assert frame["type"] == "error" and "again" in frame["error"]
        finally:
            await rename_table(client, "conversations_away", "conversations")
        await ws.send_json({"watch": sent["conversation_id"]})
        frame = await frames_until(ws, lambda f: f["type"] in ("error", "watching"), 5)
        assert frame == {"type": "watching", "conversation_id": sent["conversation_id"]}
