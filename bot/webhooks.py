"""Outgoing webhooks: what happened in deskbot, posted to the URLs admins registered.

Events are recorded from this process's own bus events (once, by the process that acted) as
delivery rows; a sender posts them, signed, and retries with backoff until the receiver
answers 2xx. The signature is HMAC-SHA256 over "<timestamp>.<body>" with the webhook's
secret, so a receiver can check who sent it and refuse a replay (README: Webhooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bus import EventBus
from bot.events import AGENTS_TOPIC, ConversationChanged, Event, MessageCreated
from models import Message, Webhook, WebhookDelivery
from models.base import utcnow

log = logging.getLogger(__name__)

EVENTS = (
    "conversation.created",
    "conversation.escalated",
    "conversation.assigned",
    "conversation.handed_back",
    "conversation.resolved",
    "message.created",
    "rating.received",
)
MAX_ATTEMPTS = 10
FIRST_RETRY_S = 2.0
MAX_RETRY_S = 3600.0
SEND_TIMEOUT_S = 10.0
LEASE_S = 60.0
POLL_S = 1.0
BATCH = 20
HOOKS_CACHE_S = 5.0
SIGNATURE_HEADER = "X-Deskbot-Signature"
TIMESTAMP_HEADER = "X-Deskbot-Timestamp"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def kinds_of(event: Event) -> list[str]:
    """The webhook events one bus event is (a message may also be a rating or a first one)."""
    if isinstance(event, ConversationChanged):
        if event.state == "queued" and event.previous_state != "queued":
            return ["conversation.escalated"]
        transferred = (event.reason or "").startswith("transferred")
        if event.state == "agent" and (event.previous_state != "agent" or transferred):
            return ["conversation.assigned"]
        if event.state == "bot" and event.previous_state == "agent":
            return ["conversation.handed_back"]
        if event.state == "resolved" and event.previous_state != "resolved":
            return ["conversation.resolved"]
        return []
    if isinstance(event, MessageCreated):
        kinds = ["message.created"]
        if event.message.rating is not None:
            kinds.append("rating.received")
        return kinds
    return []


def data_of(event: Event, kind: str) -> dict[str, Any]:
    if isinstance(event, ConversationChanged):
        return {
            "conversation_id": event.conversation_id,
            "state": event.state,
            "previous_state": event.previous_state,
            "reason": event.reason,
        }
    assert isinstance(event, MessageCreated)
    message = event.message
    if kind == "rating.received":
        return {"conversation_id": message.conversation_id, "rating": message.rating}
    if kind == "conversation.created":
        return {"conversation_id": message.conversation_id, "first_message": message.to_json()}
    return {"conversation_id": message.conversation_id, "message": message.to_json()}


class WebhookRecorder:
    """Turns this process's bus events into delivery rows for the webhooks that want them."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], wake: asyncio.Event) -> None:
        self._sessions = sessions
        self._wake = wake
        self._hooks: list[tuple[int, frozenset[str]]] = []
        self._hooks_at = -HOOKS_CACHE_S

    def forget(self) -> None:
        """Webhooks changed: read them again for the next event."""
        self._hooks_at = -HOOKS_CACHE_S

    async def run(self, bus: EventBus) -> None:
        with bus.subscribe_local(AGENTS_TOPIC) as events:
            while True:
                event = await events.queue.get()
                try:
                    await self.record(event)
                except Exception:  # one lost event must not stop the next
                    log.exception("webhook event not recorded", extra={"event": event.name})

    async def record(self, event: Event) -> int:
        kinds = kinds_of(event)
        if not kinds:
            return 0
        hooks = await self._active_hooks()
        wanted = {kind for _, events in hooks for kind in events}
        if isinstance(event, MessageCreated) and "conversation.created" in wanted:
            if await self._first_message(event):
                kinds.insert(0, "conversation.created")
        rows = [
            WebhookDelivery(
                webhook_id=hook_id,
                event=kind,
                payload={
                    "id": uuid.uuid4().hex,
                    "event": kind,
                    "created_at": utcnow().isoformat(),
                    "data": data_of(event, kind),
                },
            )
            for kind in kinds
            for hook_id, events in hooks
            if kind in events
        ]
        if rows:
            async with self._sessions() as session:
                session.add_all(rows)
                await session.commit()
            self._wake.set()
        return len(rows)

    async def _active_hooks(self) -> list[tuple[int, frozenset[str]]]:
        now = time.monotonic()
        if now - self._hooks_at >= HOOKS_CACHE_S:
            async with self._sessions() as session:
                found = (
                    await session.execute(select(Webhook.id, Webhook.events).where(Webhook.active))
                ).all()
            self._hooks = [(row.id, frozenset(row.events)) for row in found]
            self._hooks_at = now
        return self._hooks

    async def _first_message(self, event: MessageCreated) -> bool:
        message = event.message
        if message.sender_kind != "customer":
            return False
        async with self._sessions() as session:
            first = await session.scalar(
                select(func.min(Message.id)).where(
                    Message.conversation_id == message.conversation_id
                )
            )
        return first == message.id


@dataclass(frozen=True, slots=True)
class _Due:
    id: int
    url: str
    secret: str
    body: bytes
    event: str
    attempts: int


class WebhookSender:
    """Posts due deliveries; each one leased first, so several processes never send one twice
    at once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        wake: asyncio.Event,
        first_retry_s: float = FIRST_RETRY_S,
    ) -> None:
        self._sessions = sessions
        self._wake = wake
        self._first_retry_s = first_retry_s

    async def run(self) -> None:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)
        ) as http:
            while True:
                try:
                    sent = await self.send_due(http)
                except Exception:
                    log.exception("webhook pass failed; retrying")
                    sent = 0
                if sent:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_S)

    async def send_due(self, http: aiohttp.ClientSession) -> int:
        due = await self._lease()
        outcomes = await asyncio.gather(*(self._post(http, d) for d in due))
        await self._record(due, outcomes)
        return len(due)

    async def _lease(self) -> list[_Due]:
        now = utcnow()
        async with self._sessions() as session:
            candidates = (
                await session.execute(
                    select(WebhookDelivery, Webhook.url, Webhook.secret)
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                        or_(
                            WebhookDelivery.locked_until.is_(None),
                            WebhookDelivery.locked_until < now,
                        ),
                    )
                    .order_by(WebhookDelivery.id)
                    .limit(BATCH)
                )
            ).all()
            leased = []
            for delivery, url, secret in candidates:
                taken = await session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == delivery.id,
                        or_(
                            WebhookDelivery.locked_until.is_(None),
                            WebhookDelivery.locked_until < now,
                        ),
                    )
                    .values(locked_until=now + timedelta(seconds=LEASE_S))
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    body = json.dumps(delivery.payload, ensure_ascii=False).encode()
                    leased.append(
                        _Due(delivery.id, url, secret, body, delivery.event, delivery.attempts)
                    )
            await session.commit()
        return leased

    async def _post(self, http: aiohttp.ClientSession, due: _Due) -> tuple[int | None, str | None]:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "deskbot-webhooks",
            "X-Deskbot-Event": due.event,
            "X-Deskbot-Delivery": str(due.id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(due.secret, timestamp, due.body),
        }
        try:
            async with http.post(
                due.url, data=due.body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return response.status, None
                return response.status, f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]

    async def _record(
        self, due: Sequence[_Due], outcomes: Sequence[tuple[int | None, str | None]]
    ) -> None:
        if not due:
            return
        now = utcnow()
        async with self._sessions() as session:
            for item, (status, error) in zip(due, outcomes, strict=True):
                attempts = item.attempts + 1
                values: dict[str, Any] = {
                    "attempts": attempts,
                    "last_status": status,
                    "locked_until": None,
                }
                if error is None:
                    values |= {"status": "sent", "sent_at": now, "last_error": None}
                elif attempts >= MAX_ATTEMPTS:
                    values |= {"status": "failed", "last_error": error}
                else:
                    delay = min(MAX_RETRY_S, self._first_retry_s * 2 ** (attempts - 1))
                    values |= {
                        "last_error": error,
                        "next_attempt_at": now + timedelta(seconds=delay),
                    }
                await session.execute(
                    update(WebhookDelivery).where(WebhookDelivery.id == item.id).values(**values)
                )
            await session.commit()


@contextlib.asynccontextmanager
async def webhooks_running(
    bus: EventBus, recorder: WebhookRecorder, sender: WebhookSender
) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(recorder.run(bus)), asyncio.create_task(sender.run())]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
