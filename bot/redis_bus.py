"""The event bus across processes: Redis pub/sub, so any process's event reaches every socket.

One listener task per process receives all deskbot channels and fans out locally. Local-only
subscribers (side effects) are served at publish time, without Redis. If Redis is down, an
event still reaches this process's subscribers and a warning is logged; the listener
reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator

from redis.exceptions import RedisError

from bot.bus import BusUnavailable, InProcessBus, Subscription, Topics, topics_of
from bot.events import Event, event_from_json
from bot.redis_client import connect

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


class RedisBus:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = connect(url)
        self._prefix = prefix
        self._everywhere = InProcessBus()
        self._local = InProcessBus()
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def publish(self, topics: Topics, event: Event, *, required: bool = False) -> None:
        await self._local.publish(topics, event)
        data = json.dumps(event.to_json())
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for topic in topics_of(topics):
                    pipe.publish(f"{self._prefix}:{topic}", data)
                await pipe.execute()
        except RedisError as exc:
            log.warning(
                "redis publish failed; delivered in this process only", extra={"error": str(exc)}
            )
            await self._everywhere.publish(topics, event)
            if required:
                raise BusUnavailable(f"event bus unavailable: {exc}") from exc

    @contextlib.contextmanager
    def subscribe(self, topic: str) -> Iterator[Subscription]:
        with self._everywhere.subscribe(topic) as subscription:
            yield subscription

    @contextlib.contextmanager
    def subscribe_local(self, topic: str) -> Iterator[Subscription]:
        with self._local.subscribe(topic) as subscription:
            yield subscription

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="redis-bus")
        with contextlib.suppress(TimeoutError):  # Redis down at start: run on, reconnect later
            await asyncio.wait_for(self._subscribed.wait(), 5)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{self._prefix}:*")
                    self._subscribed.set()
                    backoff = 0.1
                    async for message in pubsub.listen():
                        if message["type"] == "pmessage":
                            await self._deliver(message["channel"], message["data"])
            except (RedisError, OSError) as exc:
                log.warning("redis bus disconnected; reconnecting", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _deliver(self, channel: bytes, data: bytes) -> None:
        topic = channel.decode().removeprefix(f"{self._prefix}:")
        if not self._everywhere.has_subscribers(topic):
            return  # most events concern a socket another process holds: skip decoding them
        try:
            event = event_from_json(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("undecodable event on the bus", extra={"error": str(exc)})
            return
        await self._everywhere.publish(topic, event)
