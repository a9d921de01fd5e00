"""The event bus: fan-out of domain events to subscribers (sockets, listeners).

Two kinds of subscription: `subscribe` gets every event of a topic, from any process (for
what must reach every socket); `subscribe_local` gets only the events this process published
(for side effects such as posting to Slack, which must happen once, not once per process).
In one process the two are the same; RedisBus (bot/redis_bus.py) spans processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import ClassVar, Protocol

from bot.events import Event

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class BusGap(Event):
    """Events of this topic may have been missed (the bus reconnected to Redis, or the
    subscriber fell behind): whoever shows them catches up from the database."""

    name: ClassVar[str] = "bus_gap"


class Subscription:
    def __init__(self, bus: InProcessBus, topic: str) -> None:
        self._bus = bus
        self.topic = topic
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._missed = False

    def close(self) -> None:
        self._bus._remove(self)

    def offer(self, event: Event) -> bool:
        """Queue the event; a full queue drops it and remembers that something was missed."""
        try:
            self.queue.put_nowait(event)
            return True
        except asyncio.QueueFull:
            self._missed = True
            return False

    def missed(self) -> bool:
        """True once after events were dropped (then catch up); the queue's next event may
        already be newer than what was dropped."""
        missed, self._missed = self._missed, False
        return missed


class BusUnavailable(Exception):
    """A `required` event may not have reached the other processes."""


Topics = str | tuple[str, ...]
"""One topic, or several that get the same event (one round trip across processes)."""


def topics_of(topics: Topics) -> tuple[str, ...]:
    return (topics,) if isinstance(topics, str) else topics


class EventBus(Protocol):
    async def publish(self, topics: Topics, event: Event, *, required: bool = False) -> None:
        """`required`: raise BusUnavailable unless every process got the event (a delivery
        the caller will retry); otherwise a failure reaches this process only, with a warning."""
        ...

    def subscribe(self, topic: str) -> AbstractContextManager[Subscription]: ...

    def subscribe_local(self, topic: str) -> AbstractContextManager[Subscription]: ...


class InProcessBus:
    """Topic-based fan-out within one process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def publish(self, topics: Topics, event: Event, *, required: bool = False) -> None:
        for topic in topics_of(topics):
            for subscription in list(self._subscribers.get(topic, ())):
                if not subscription.offer(event):
                    log.warning("subscriber too slow; event dropped", extra={"topic": topic})

    def mark_gap(self) -> None:
        """Tell every subscriber it may have missed events."""
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.offer(BusGap())

    def has_subscribers(self, topic: str) -> bool:
        return topic in self._subscribers

    @contextlib.contextmanager
    def subscribe(self, topic: str) -> Iterator[Subscription]:
        subscription = Subscription(self, topic)
        self._subscribers[topic].add(subscription)
        try:
            yield subscription
        finally:
            subscription.close()

    def subscribe_local(self, topic: str) -> AbstractContextManager[Subscription]:
        return self.subscribe(topic)

    def _remove(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.topic]
