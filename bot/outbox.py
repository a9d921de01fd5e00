"""The outbox dispatcher: delivers stored replies through their channels, with retries.

Rows are claimed in batches with a compare-and-set lease, so several processes can run
dispatchers against one database; a row whose process died is picked up again when its lease
expires. Only the oldest pending reply of each customer thread is due, so replies keep their
order, and the heads of different threads are sent concurrently, so one slow channel or
customer does not hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import defaultdict
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from channels.base import DeliveryError, DeliveryTarget, OutboundText, OutputChannel
from models import Message, OutboxItem, OutboxStatus
from models.base import utcnow

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 5.0
BATCH = 100
RECORD_RETRY_FIRST_S = 0.1
RECORD_RETRY_MAX_S = 2.0
RECORD_RETRY_FOR_S = 60.0
SEND_TIMEOUT_S = 30.0
MAX_PUT_OFF_REMEMBERED = 10_000
"""Beyond that many replies put off by one outage, the rest wait out their own backoff."""


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


@dataclass(slots=True)
class _Lease:
    """Until when this dispatcher holds a batch of rows; renewed while they are being sent,
    and the token every later update of those rows checks (a changed value means the lease
    has passed to another dispatcher)."""

    until: datetime


@dataclass(frozen=True, slots=True)
class _Claim:
    """A row this dispatcher leased, with what sending it needs."""

    id: int
    message_id: int
    channel: str
    external_user: str
    external_thread: str
    attempts: int
    lease: _Lease
    outbound: OutboundText

    @classmethod
    def of(cls, row: Row[Any], lease: _Lease) -> _Claim:
        return cls(
            row.id,
            row.message_id,
            row.channel,
            row.external_user,
            row.external_thread,
            row.attempts,
            lease,
            OutboundText(
                row.message_id,
                row.conversation_id,
                row.sender_kind,
                row.text,
                row.created_at,
                (row.meta or {}).get("quick_replies"),
                (row.meta or {}).get("sender_name"),
            ),
        )


@dataclass(frozen=True, slots=True)
class _Outcome:
    claim: _Claim
    error: str | None = None
    retry_after: float | None = None
    outage: bool = False


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        channels: Mapping[str, OutputChannel],
        retry: RetryPolicy,
        poll_interval_s: float = 1.0,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self._sessions = sessions
        self._channels = channels
        self._retry = retry
        self._poll = poll_interval_s
        # A claimed row is someone's for `lease_s`, renewed every third of it while its send
        # and record are under way: a dead dispatcher's rows come back within one lease,
        # however long a live one's sends take.
        self._lease = timedelta(seconds=lease_s)
        self._send_timeout_s = max(lease_s / 2, SEND_TIMEOUT_S)
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        # Rows this dispatcher put off because their channel was away, by channel: the
        # channel's next success here makes them due at once.
        self._put_off_by_outage: defaultdict[str, set[int]] = defaultdict(set)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._loop()
        finally:
            for task in list(self._in_flight):
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for the sends under way (tests, shutdown of a second dispatcher)."""
        await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            # Cleared before the pass: a wake() during it makes the wait below return at once.
            self._wake.clear()
            try:
                while await self.deliver_due() >= BATCH:
                    pass  # a full batch: more may be due now; fewer: a wake() says when
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

    async def deliver_due(self) -> int:
        """One pass: claim the due heads of their threads and start sending them, one task per
        channel, so a slow platform holds up only its own replies. Returns how many."""
        claiming = asyncio.ensure_future(self._claim_due())
        try:
            claimed = await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # Stopped mid-claim: let the claim end, then hand its rows straight back. Whatever
            # the database says, the cancellation goes on: a failure here must not turn it
            # into an error the loop retries forever.
            try:
                claimed = await claiming
                await self._release(claimed)
            except Exception:
                log.exception("outbox bookkeeping failed while stopping")
            raise
        by_channel: dict[str, list[_Claim]] = defaultdict(list)
        for claim in claimed:
            by_channel[claim.channel].append(claim)
        for channel, batch in by_channel.items():  # each batch renews its own lease
            lease = _Lease(batch[0].lease.until)
            by_channel[channel] = [replace(claim, lease=lease) for claim in batch]
        for batch in by_channel.values():
            task = asyncio.create_task(self._deliver(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claimed)

    async def _deliver(self, batch: list[_Claim]) -> None:
        renewing = asyncio.create_task(self._renew(batch))
        try:
            try:
                outcomes = await asyncio.gather(*(self._send(claim) for claim in batch))
            except asyncio.CancelledError:
                # Shutting down mid-send: hand the rows back rather than wait out the lease.
                await _stop(renewing)
                await _finish(self._release(batch))
                raise
            await _stop(renewing)  # the record's updates check the lease as it is now
            try:
                # Once the sends are done their outcome is written even during a shutdown;
                # otherwise the rows would stay leased and a restart would wait the lease out.
                await _finish(self._record_until_done(outcomes))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording deliveries failed; the leases will expire and retry")
        finally:
            await _stop(renewing)
        self.wake()  # the next replies of these threads are due now

    async def _renew(self, batch: list[_Claim]) -> None:
        lease = batch[0].lease
        every = self._lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            until = utcnow() + self._lease
            try:
                async with self._sessions() as session:
                    await session.execute(
                        update(OutboxItem)
                        .where(
                            OutboxItem.id.in_([claim.id for claim in batch]),
                            OutboxItem.status == OutboxStatus.PENDING.value,
                            OutboxItem.locked_until == lease.until,
                        )
                        .values(locked_until=until)
                    )
                    await session.commit()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("renewing an outbox lease failed", extra={"error": str(exc)[:200]})
                continue
            lease.until = until

    async def _claim_due(self) -> list[_Claim]:
        """Lease the due heads and read what sending them needs in one statement, so no later
        read can fail and leave rows leased with nobody sending them. Another dispatcher may
        win some rows: the lease and the backoff are checked again on each row as it is
        updated."""
        now = utcnow()
        until = now + self._lease
        async with self._sessions() as session:
            rows = (await session.execute(_CLAIM_DUE, {"now": now, "until": until})).all()
            lease = _Lease(until)
            claimed = sorted((_Claim.of(row, lease) for row in rows), key=lambda c: c.id)
            try:
                await session.commit()
            except Exception:
                # The commit may or may not have happened: hand back whatever it leased.
                try:
                    await _finish(self._release(claimed))
                except Exception:
                    log.exception("handing back a failed claim failed; its leases will expire")
                raise
        return claimed

    async def _send(self, claim: _Claim) -> _Outcome:
        channel = self._channels.get(claim.channel)
        target = DeliveryTarget(claim.channel, claim.external_user, claim.external_thread)
        try:
            if channel is None:
                raise DeliveryError(f"channel {claim.channel!r} is not enabled")
            async with asyncio.timeout(self._send_timeout_s):
                await channel.send_text(target, claim.outbound)
        except DeliveryError as exc:
            return _Outcome(claim, str(exc), exc.retry_after, exc.outage)
        except TimeoutError:
            return _Outcome(claim, "send timed out")
        except Exception as exc:  # a channel bug must not stop the other deliveries
            log.exception("channel raised while sending", extra={"outbox_id": claim.id})
            return _Outcome(claim, f"{type(exc).__name__}: {exc}")
        return _Outcome(claim)

    async def _record_until_done(self, outcomes: Sequence[_Outcome]) -> None:
        """Record the outcomes, retrying through database errors (the lease is renewed
        meanwhile): a send that is not recorded would be sent again once its lease ends."""
        deadline = utcnow() + timedelta(seconds=RECORD_RETRY_FOR_S)
        pause = RECORD_RETRY_FIRST_S
        while True:
            try:
                await self._record(outcomes)
                return
            except (SQLAlchemyError, OSError) as exc:
                if utcnow() + timedelta(seconds=pause) >= deadline:
                    raise
                log.warning(
                    "recording deliveries failed; retrying", extra={"error": str(exc)[:200]}
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECORD_RETRY_MAX_S)

    async def _record(self, outcomes: Sequence[_Outcome]) -> None:
        now = utcnow()
        sent = [o.claim for o in outcomes if o.error is None]
        async with self._sessions() as session:
            if sent:
                # Whoever holds the lease now, the reply went out: record it as sent.
                await session.execute(
                    update(OutboxItem)
                    .where(
                        OutboxItem.id.in_([c.id for c in sent]),
                        OutboxItem.status == OutboxStatus.PENDING.value,
                    )
                    .values(status=OutboxStatus.SENT.value, sent_at=now, locked_until=None)
                )
                await session.execute(
                    update(Message)
                    .where(Message.id.in_([c.message_id for c in sent]))
                    .values(sent_at=now)
                )
                waiting = self._waiting_for({c.channel for c in sent})
                if waiting:  # their channel works again: due now, not after their backoff
                    await session.execute(
                        update(OutboxItem)
                        .where(
                            OutboxItem.id.in_(waiting),
                            OutboxItem.status == OutboxStatus.PENDING.value,
                            OutboxItem.next_attempt_at > now,
                        )
                        .values(next_attempt_at=now)
                    )
            for outcome in outcomes:
                if outcome.error is not None:
                    await session.execute(
                        update(OutboxItem)
                        .where(*_leased_by(outcome.claim))
                        .values(**self._failure(outcome, now))
                    )
            await session.commit()
        for channel in {c.channel for c in sent}:
            self._put_off_by_outage.pop(channel, None)
        for outcome in outcomes:
            if outcome.error is not None and outcome.outage:
                put_off = self._put_off_by_outage[outcome.claim.channel]
                if len(put_off) < MAX_PUT_OFF_REMEMBERED:
                    put_off.add(outcome.claim.id)

    def _waiting_for(self, channels: set[str]) -> list[int]:
        return sorted(i for c in channels for i in self._put_off_by_outage.get(c, ()))

    def _failure(self, outcome: _Outcome, now: datetime) -> dict[str, object]:
        values: dict[str, object] = {
            "last_error": (outcome.error or "")[:2000],
            "locked_until": None,
        }
        claim = outcome.claim
        if claim.attempts >= self._retry.max_attempts:
            values["status"] = OutboxStatus.FAILED.value
            log.error(
                "delivery failed for good",
                extra={"outbox_id": claim.id, "error": outcome.error},
            )
            return values
        delay = self._retry.delay(claim.attempts, outcome.retry_after)
        values["next_attempt_at"] = now + timedelta(seconds=delay)
        log.warning(
            "delivery failed; will retry",
            extra={"outbox_id": claim.id, "attempt": claim.attempts, "in_s": round(delay, 2)},
        )
        return values

    async def _release(self, claims: Sequence[_Claim]) -> None:
        """Hand rows back that this dispatcher leased and did not send; a row whose lease has
        meanwhile passed to another dispatcher is left alone."""
        if not claims:
            return
        async with self._sessions() as session:
            for claim in claims:
                await session.execute(
                    update(OutboxItem).where(*_leased_by(claim)).values(locked_until=None)
                )
            await session.commit()


def _leased_by(claim: _Claim) -> tuple[ColumnElement[bool], ...]:
    return (
        OutboxItem.id == claim.id,
        OutboxItem.status == OutboxStatus.PENDING.value,
        OutboxItem.locked_until == claim.lease.until,
    )


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _finish(work: Coroutine[object, object, None]) -> None:
    """Run `work` to its end even if the caller is cancelled meanwhile, then re-raise."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            await task
        except Exception:  # the cancellation goes on; the rows' leases expire and retry
            log.exception("outbox bookkeeping failed while stopping")
        raise


def _due_heads() -> Select[tuple[int]]:
    """Pending rows that are due, not leased, and the oldest pending of their thread. Built
    once: constructing it per pass cost more CPU than running it when traffic is light."""
    now = bindparam("now")
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
    return (
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


def _lease_free(now: datetime | BindParameter[datetime]):  # type: ignore[no-untyped-def]
    return or_(OutboxItem.locked_until.is_(None), OutboxItem.locked_until < now)


def _of_message(column: InstrumentedAttribute[Any]) -> ScalarSelect[Any]:
    return select(column).where(Message.id == OutboxItem.message_id).scalar_subquery()


_CLAIM_DUE = (
    update(OutboxItem)
    .where(
        OutboxItem.id.in_(_due_heads()),
        # Checked again here, on the row as it is updated: a row this statement had to wait
        # for may meanwhile have been claimed, failed and put off by another dispatcher.
        OutboxItem.status == OutboxStatus.PENDING.value,
        OutboxItem.next_attempt_at <= bindparam("now"),
        _lease_free(bindparam("now")),
    )
    .values(locked_until=bindparam("until"), attempts=OutboxItem.attempts + 1)
    .returning(
        OutboxItem.id,
        OutboxItem.message_id,
        OutboxItem.channel,
        OutboxItem.external_user,
        OutboxItem.external_thread,
        OutboxItem.attempts,
        _of_message(Message.conversation_id).label("conversation_id"),
        _of_message(Message.sender_kind).label("sender_kind"),
        _of_message(Message.text).label("text"),
        _of_message(Message.created_at).label("created_at"),
        _of_message(Message.meta).label("meta"),
    )
    .execution_options(synchronize_session=False)
)
