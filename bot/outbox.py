"""The outbox dispatcher: delivers stored replies through their channels, with retries.

Rows are claimed in batches with a compare-and-set lease, so several processes can run
dispatchers against one database; a row whose process died is picked up again when its lease
expires. Only the oldest pending reply of each customer thread is due, so replies keep their
order, and the heads of different threads are sent concurrently, so one slow channel or
customer does not hold up the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from channels.base import DeliveryError, DeliveryTarget, OutboundText, OutputChannel
from models import Message, OutboxItem, OutboxStatus
from models.base import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BATCH = 100
SEND_TIMEOUT_S = 30.0


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


@dataclass(frozen=True, slots=True)
class _Outcome:
    item_id: int
    message_id: int
    attempts: int
    error: str | None = None
    retry_after: float | None = None


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
        """One pass: claim the due heads of their threads and send them. Returns how many."""
        claimed = await self._claim(await self._due_ids())
        if not claimed:
            return 0
        try:
            outcomes = await asyncio.gather(
                *(self._send(item, message) for item, message in claimed)
            )
        except asyncio.CancelledError:
            # Shutting down mid-send: hand the rows back rather than wait out the lease.
            await asyncio.shield(self._release([item.id for item, _ in claimed]))
            raise
        await self._record(outcomes)
        return len(claimed)

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
                _lease_free(now),
                ~older_pending,
            )
            .order_by(OutboxItem.id)
            .limit(BATCH)
        )
        async with self._sessions() as session:
            return list((await session.scalars(statement)).all())

    async def _claim(self, ids: Sequence[int]) -> list[tuple[OutboxItem, Message]]:
        """Take a lease on the rows still free; another dispatcher may have won some."""
        if not ids:
            return []
        now = utcnow()
        async with self._sessions() as session:
            won = (
                await session.scalars(
                    update(OutboxItem)
                    .where(
                        OutboxItem.id.in_(ids),
                        OutboxItem.status == OutboxStatus.PENDING.value,
                        _lease_free(now),
                    )
                    .values(locked_until=now + LEASE, attempts=OutboxItem.attempts + 1)
                    .returning(OutboxItem.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            await session.commit()
            if not won:
                return []
            rows = await session.execute(
                select(OutboxItem, Message)
                .join(Message, Message.id == OutboxItem.message_id)
                .where(OutboxItem.id.in_(won))
                .order_by(OutboxItem.id)
                .execution_options(populate_existing=True)
            )
            return [(item, message) for item, message in rows]

    async def _send(self, item: OutboxItem, message: Message) -> _Outcome:
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
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await channel.send_text(target, outbound)
        except DeliveryError as exc:
            return _Outcome(item.id, item.message_id, item.attempts, str(exc), exc.retry_after)
        except TimeoutError:
            return _Outcome(item.id, item.message_id, item.attempts, "send timed out")
        except Exception as exc:  # a channel bug must not stop the other deliveries
            log.exception("channel raised while sending", extra={"outbox_id": item.id})
            return _Outcome(item.id, item.message_id, item.attempts, f"{type(exc).__name__}: {exc}")
        return _Outcome(item.id, item.message_id, item.attempts)

    async def _record(self, outcomes: Sequence[_Outcome]) -> None:
        now = utcnow()
        sent = [o for o in outcomes if o.error is None]
        async with self._sessions() as session:
            if sent:
                await session.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id.in_([o.item_id for o in sent]))
                    .values(status=OutboxStatus.SENT.value, sent_at=now, locked_until=None)
                )
                await session.execute(
                    update(Message)
                    .where(Message.id.in_([o.message_id for o in sent]))
                    .values(sent_at=now)
                )
            for outcome in outcomes:
                if outcome.error is not None:
                    await session.execute(
                        update(OutboxItem)
                        .where(OutboxItem.id == outcome.item_id)
                        .values(**self._failure(outcome, now))
                    )
            await session.commit()

    def _failure(self, outcome: _Outcome, now: datetime) -> dict[str, object]:
        values: dict[str, object] = {
            "last_error": (outcome.error or "")[:2000],
            "locked_until": None,
        }
        if outcome.attempts >= self._retry.max_attempts:
            values["status"] = OutboxStatus.FAILED.value
            log.error(
                "delivery failed for good",
                extra={"outbox_id": outcome.item_id, "error": outcome.error},
            )
            return values
        delay = self._retry.delay(outcome.attempts, outcome.retry_after)
        values["next_attempt_at"] = now + timedelta(seconds=delay)
        log.warning(
            "delivery failed; will retry",
            extra={
                "outbox_id": outcome.item_id,
                "attempt": outcome.attempts,
                "in_s": round(delay, 2),
            },
        )
        return values

    async def _release(self, ids: Sequence[int]) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_(ids), OutboxItem.status == OutboxStatus.PENDING.value)
                .values(locked_until=None)
            )
            await session.commit()


def _lease_free(now: datetime):  # type: ignore[no-untyped-def]
    return or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now)
