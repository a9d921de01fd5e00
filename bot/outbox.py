"""The outbox dispatcher: delivers stored replies through their channels, with retries.

Rows are claimed with a compare-and-set lease, so several processes can run dispatchers
against one database; a row whose process died is picked up again when its lease expires.
Within one customer thread only the oldest pending reply is sent, so replies keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from channels.base import DeliveryError, DeliveryTarget, OutboundText, OutputChannel
from models import Message, OutboxItem, OutboxStatus
from models.base import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BATCH = 50


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 300.0

    def delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        backoff = min(self.base_delay_s * 2 ** (attempts - 1), self.max_delay_s)
        return backoff * random.uniform(0.8, 1.2)


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[str, OutputChannel],
        retry: RetryPolicy,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._channels = channels
        self._retry = retry
        self._poll = poll_interval_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                while await self.deliver_due() > 0:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox pass failed; retrying")
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
            try:
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def deliver_due(self) -> int:
        """One pass: claim due heads of their threads and send them. Returns how many tried."""
        ids = await self._due_ids()
        tried = 0
        for item_id in ids:
            claimed = await self._claim(item_id)
            if claimed is not None:
                tried += 1
                try:
                    await self._deliver(*claimed)
                except asyncio.CancelledError:
                    # Shutting down mid-send: hand the row back rather than wait out the lease.
                    await asyncio.shield(self._release(claimed[0]))
                    raise
        return tried

    async def _release(self, item: OutboxItem) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.status == OutboxStatus.PENDING.value)
                .values(locked_until=None)
            )
            await session.commit()

    async def _due_ids(self) -> list[int]:
        now = utcnow()
        earlier = aliased(OutboxItem)
        older_pending = (
            select(earlier.id)
            .where(
                earlier.channel == OutboxItem.channel,
                earlier.external_thread == OutboxItem.external_thread,
                earlier.status == OutboxStatus.PENDING.value,
                earlier.id < OutboxItem.id,
            )
            .exists()
        )
        statement = (
            select(OutboxItem.id)
            .where(
                OutboxItem.status == OutboxStatus.PENDING.value,
                OutboxItem.next_attempt_at <= now,
                or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now),
                ~older_pending,
            )
            .order_by(OutboxItem.id)
            .limit(BATCH)
        )
        async with self._sessions() as session:
            return list((await session.scalars(statement)).all())

    async def _claim(self, item_id: int) -> tuple[OutboxItem, Message] | None:
        now = utcnow()
        async with self._sessions() as session:
            result = await session.execute(
                update(OutboxItem)
                .where(
                    OutboxItem.id == item_id,
                    OutboxItem.status == OutboxStatus.PENDING.value,
                    or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now),
                )
                .values(locked_until=now + LEASE, attempts=OutboxItem.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                return None
            await session.commit()
            item = await session.get_one(OutboxItem, item_id, populate_existing=True)
            message = await session.get_one(Message, item.message_id)
            return item, message

    async def _deliver(self, item: OutboxItem, message: Message) -> None:
        channel = self._channels.get(item.channel)
        target = DeliveryTarget(item.channel, item.external_user, item.external_thread)
        outbound = OutboundText(
            message.id,
            message.conversation_id,
            message.sender_kind,
            message.text,
            message.created_at,
        )
        try:
            if channel is None:
                raise DeliveryError(f"channel {item.channel!r} is not enabled")
            await channel.send_text(target, outbound)
        except DeliveryError as exc:
            await self._failed(item, str(exc), exc.retry_after)
        except Exception as exc:  # a channel bug must not stop the other deliveries
            log.exception("channel raised while sending", extra={"outbox_id": item.id})
            await self._failed(item, f"{type(exc).__name__}: {exc}", None)
        else:
            await self._sent(item)

    async def _sent(self, item: OutboxItem) -> None:
        now = utcnow()
        async with self._sessions() as session:
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id)
                .values(status=OutboxStatus.SENT.value, sent_at=now, locked_until=None)
            )
            await session.execute(
                update(Message).where(Message.id == item.message_id).values(sent_at=now)
            )
            await session.commit()

    async def _failed(self, item: OutboxItem, error: str, retry_after: float | None) -> None:
        give_up = item.attempts >= self._retry.max_attempts
        delay = self._retry.delay(item.attempts, retry_after)
        values: dict[str, object] = {"last_error": error[:2000], "locked_until": None}
        if give_up:
            values["status"] = OutboxStatus.FAILED.value
            log.error("delivery failed for good", extra={"outbox_id": item.id, "error": error})
        else:
            values["next_attempt_at"] = utcnow() + timedelta(seconds=delay)
            log.warning(
                "delivery failed; will retry",
                extra={"outbox_id": item.id, "attempt": item.attempts, "in_s": round(delay, 2)},
            )
        async with self._sessions() as session:
            await session.execute(
                update(OutboxItem).where(and_(OutboxItem.id == item.id)).values(**values)
            )
            await session.commit()
