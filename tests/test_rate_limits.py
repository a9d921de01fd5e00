"""Rate limits on the public web-chat endpoints: per address, per visitor, in memory and Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from aiohttp.test_utils import TestClient

from bot.app import init_app
from bot.rate_limits import MemoryRateLimiter, RedisRateLimiter
from bot.settings import Settings
from tests.test_webchat import new_visitor, send


async def test_new_sessions_per_address_are_limited(
    aiohttp_client, make_settings: Callable[..., Settings]
) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = await aiohttp_client(
        await init_app(make_settings(rate_sessions_per_ip_min=3))
    )
    for _ in range(3):
        await new_visitor(client)
    refused = await client.post("/webchat/sessions", json={})
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert "too many requests" in (await refused.json())["error"]


async def test_messages_per_visitor_are_limited_over_http_and_websocket(
    aiohttp_client, make_settings: Callable[..., Settings]
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(rate_messages_per_visitor_min=2)
    client: TestClient = await aiohttp_client(await init_app(settings))
    visitor = await new_visitor(client)
    await send(client, visitor, "hello")
    await send(client, visitor, "how do I reset my password?")
    refused = await client.post("/webchat/messages", json={"text": "again"}, headers=visitor)
    assert refused.status == 429
    token = visitor["Authorization"].split()[1]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        await ws.receive_json(timeout=5)  # history
        await ws.send_json({"type": "message", "text": "over the socket"})
        frame = await ws.receive_json(timeout=5)
        while frame["type"] == "message":  # a reply still on its way when the socket opened
            frame = await ws.receive_json(timeout=5)
        assert frame["type"] == "error" and frame["retry_after"] >= 1
    other = await new_visitor(client)  # another visitor is not held back
    status, _ = await send(client, other, "hello")
    assert status == 200


async def test_redis_limits_are_shared_between_processes_and_count_locally_without_redis() -> None:
    prefix = f"deskbot-test-{uuid.uuid4().hex[:8]}"
    one = RedisRateLimiter("redis://127.0.0.1:6379/0", prefix)
    two = RedisRateLimiter("redis://127.0.0.1:6379/0", prefix)
    try:
        assert await one.hit("k", 2, 60) == 0
        assert await two.hit("k", 2, 60) == 0
        assert await one.hit("k", 2, 60) > 0  # the third request, whichever process sees it
    finally:
        await one.close()
        await two.close()
    down = RedisRateLimiter("redis://127.0.0.1:1/0", prefix)
    try:  # no Redis: customers still get in, and the limit still holds within this process
        assert await down.hit("k", 2, 60) == 0
        assert await down.peek("k", 2, 60) == 0
        assert await down.hit("k", 2, 60) == 0
        assert await down.peek("k", 2, 60) > 0
        assert await down.hit("k", 2, 60) > 0
        ticket = "sign-in"
        assert await down.hit_all([("j", 1)], 60, ticket) == 0
        await down.refund("j", 60, ticket)
        assert await down.hit("j", 1, 60) == 0
    finally:
        await down.close()


async def test_memory_windows_move() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    assert await limiter.hit("k", 1, 60) == 0
    assert await limiter.hit("k", 1, 60) == 60.0  # room again when the first is a minute old
    now[0] = 1059.0
    assert await limiter.hit("k", 1, 60) == 1.0
    now[0] = 1060.0
    assert await limiter.hit("k", 1, 60) == 0


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_no_client_gets_twice_the_limit_across_a_minutes_end(store: str) -> None:
    """Fixed windows let 2 x limit through around :59/:00; the moving window does not."""
    now = [1_700_000_039.0]  # 59 s into a minute (1_700_000_040 is a multiple of 60)
    limiter = _limiter(store, lambda: now[0])
    try:
        for _ in range(3):
            assert await limiter.hit("k", 3, 60) == 0
        now[0] += 2  # the next minute has begun
        assert await limiter.hit("k", 3, 60) == pytest.approx(58.0)
        assert await limiter.peek("k", 3, 60) == pytest.approx(58.0)
        now[0] += 58
        assert await limiter.peek("k", 3, 60) == 0
        assert await limiter.hit_all([("k", 3), ("other", 1)], 60) == 0
        assert await limiter.hit_all([("k", 3), ("other", 1)], 60) > 0  # all or none:
        assert await limiter.hit("k", 3, 60) == 0  # "k" was not counted by the refused one
    finally:
        await _close(limiter)


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_a_refund_takes_back_exactly_one_counted_request(store: str) -> None:
    limiter = _limiter(store, time.time)
    try:
        assert await limiter.hit_all([("k", 2)], 60, ticket="first") == 0
        assert await limiter.hit_all([("k", 2)], 60, ticket="second") == 0
        assert await limiter.peek("k", 2, 60) > 0
        await limiter.refund("k", 60, "first")
        assert await limiter.peek("k", 2, 60) == 0
        assert await limiter.hit("k", 2, 60) == 0
        assert await limiter.hit("k", 2, 60) > 0
        await limiter.reset("k", 60)
        assert await limiter.hit("k", 2, 60) == 0
    finally:
        await _close(limiter)


def _limiter(store: str, clock: Callable[[], float]) -> MemoryRateLimiter | RedisRateLimiter:
    if store == "memory":
        return MemoryRateLimiter(clock=clock)
    return RedisRateLimiter(
        "redis://127.0.0.1:6379/0", f"deskbot-test-{uuid.uuid4().hex[:8]}", clock=clock
    )


async def _close(limiter: MemoryRateLimiter | RedisRateLimiter) -> None:
    if isinstance(limiter, RedisRateLimiter):
        await limiter.close()
