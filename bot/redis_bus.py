"""The event bus across processes: Redis pub/sub, so any process's event reaches every socket.

One listener task per process receives all deskbot channels and fans out locally. Local-only
subscribers (side effects) are served at publish time, without Redis. If Redis is down or
hangs, an event still reaches this process's subscribers (once, however often it is retried)
and a warning is logged; other events wait in a bounded backlog for Redis to come back, and a
`required` one raises so its sender retries. The listener reconnects with backoff, and each
time it is subscribed again every subscriber gets a BusGap: what was published meanwhile is in
the database, and the sockets fetch what they have not shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator

from redis.exceptions import RedisError

from bot.bus import BusUnavailable, InProcessBus, Subscription, Topics, topics_of
from bot.events import Event, MessageDelivered, event_from_json
from bot.redis_client import connect

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 1.0
"""A listener that is not subscribed leaves replies waiting for the catch-up: retry often."""
BACKLOG = 10_000
"""Events (not replies: the outbox retries those) kept while Redis is unavailable."""
DELIVERED_HERE_REMEMBERED = 10_000
ID_FIELD = "_bus_id"


class RedisBus:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = connect(url)
        self._prefix = prefix
        self._everywhere = InProcessBus()
        self._local = InProcessBus()
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._backlog: deque[tuple[tuple[str, ...], str]] = deque(maxlen=BACKLOG)
        self._flushing = asyncio.Lock()
        self._delivered_here: OrderedDict[str, None] = OrderedDict()
        """Events this process already gave its own subscribers while Redis was unavailable:
        when they come back through Redis (a retry, the backlog) they are not given twice."""

    async def publish(self, topics: Topics, event: Event, *, required: bool = False) -> None:
        await self._local.publish(topics, event)
        names = tuple(f"{self._prefix}:{topic}" for topic in topics_of(topics))
        key = _identity(event)
        data = json.dumps({**event.to_json(), ID_FIELD: key})
        try:
            await self._flush_backlog()
            receivers = await self._publish(names, data)
        except RedisError as exc:
            log.warning(
                "redis publish failed; delivered in this process only", extra={"error": str(exc)}
            )
            await self._deliver_here(topics, event, key)
            if required:
                raise BusUnavailable(f"event bus unavailable: {exc}") from exc
            self._backlog.append((names, data))  # the other processes get it when Redis is back
            return
        if receivers == 0:
            # Nobody listens, not even this process (its listener is reconnecting): the
            # subscribers here get it now; the others catch up when their listener is back.
            await self._deliver_here(topics, event, key)
            if required:
                raise BusUnavailable("event bus has no listener; published into the void")

    async def _publish(self, names: tuple[str, ...], data: str) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.publish(name, data)
            counts = await pipe.execute()
        return min(int(count) for count in counts)

    async def _flush_backlog(self) -> None:
        if not self._backlog:
            return
        async with self._flushing:  # one flusher: each event once, in order
            while self._backlog:
                names, data = self._backlog[0]
                await self._publish(names, data)
                self._backlog.popleft()

    async def _deliver_here(self, topics: Topics, event: Event, key: str) -> None:
        if key in self._delivered_here:
            return  # a retry of what this process's subscribers already have
        self._delivered_here[key] = None
        while len(self._delivered_here) > DELIVERED_HERE_REMEMBERED:
            self._delivered_here.popitem(last=False)
        await self._everywhere.publish(topics, event)

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
                    async for message in pubsub.listen():
                        if message["type"] == "pmessage":
                            await self._deliver(message["channel"], message["data"])
                        elif message["type"] == "psubscribe":
                            # Subscribed again (redis-py also re-subscribes by itself after a
                            # reconnect): whatever was published meanwhile is in the database,
                            # and every subscriber here catches up.
                            self._subscribed.set()
                            self._everywhere.mark_gap()
                            backoff = 0.1
                            with contextlib.suppress(RedisError):
                                await self._flush_backlog()
            except (RedisError, OSError) as exc:
                log.warning("redis bus disconnected; reconnecting", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _deliver(self, channel: bytes, data: bytes) -> None:
        topic = channel.decode().removeprefix(f"{self._prefix}:")
        if not self._everywhere.has_subscribers(topic):
            return  # most events concern a socket another process holds: skip decoding them
        try:
            payload = json.loads(data)
            event = event_from_json(payload)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("undecodable event on the bus", extra={"error": str(exc)})
            return
        if payload.get(ID_FIELD) in self._delivered_here:
            return
        await self._everywhere.publish(topic, event)


def _identity(event: Event) -> str:
    """The same reply delivered again (an outbox retry) has the same identity."""
    if isinstance(event, MessageDelivered):
        return f"{event.name}:{event.channel}:{event.message.id}"
    return uuid.uuid4().hex
