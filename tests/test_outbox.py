"""Outbox delivery: retries with backoff after send failures, and across a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import pytest
from sqlalchemy import select

from bot.services import build_services, prepare, running
from bot.settings import Settings
from channels.base import DeliveryError, InboundMessage
from models import OutboxItem
from tests.conftest import RecordingChannel
from tests.test_engine import wait_for


def said(text: str, user: str = "u1") -> InboundMessage:
    return InboundMessage("test", user, f"thread-{user}", uuid.uuid4().hex, text)


async def outbox_rows(services) -> list[OutboxItem]:  # type: ignore[no-untyped-def]
    async with services.sessions() as session:
        return list((await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all())


async def test_send_failure_is_retried_until_delivered(settings: Settings) -> None:
    channel = RecordingChannel()
    channel.failures_left = 3
    async with running(build_services(settings, {"test": channel})) as services:
        await services.engine.receive(said("how much does it cost"))

        async def delivered() -> bool:
            rows = await outbox_rows(services)
            return len(channel.sent) == 1 and rows[0].status == "sent"

        await wait_for(delivered)
        (row,) = await outbox_rows(services)
    assert row.status == "sent" and row.attempts == 4
    assert row.last_error == "platform unavailable (simulated)"


async def test_replies_keep_their_order_within_a_thread_despite_failures(
    settings: Settings,
) -> None:
    channel = RecordingChannel()
    channel.failures_left = 2
    async with running(build_services(settings, {"test": channel})) as services:
        for question in ("hello", "how much does it cost", "do you have an api"):
            await services.engine.receive(said(question))

        async def all_delivered() -> bool:
            return len(channel.sent) == 3

        await wait_for(all_delivered)
    texts = [text for _, text in channel.sent]
    assert texts[0].startswith("Hi!") and "per user" in texts[1] and "token" in texts[2]


async def test_delivery_gives_up_after_max_attempts_and_says_why(
    make_settings,  # type: ignore[no-untyped-def]
) -> None:
    channel = RecordingChannel()
    channel.down = True
    settings = make_settings(outbox_max_attempts=2)
    async with running(build_services(settings, {"test": channel})) as services:
        await services.engine.receive(said("hello"))

        async def failed() -> bool:
            rows = await outbox_rows(services)
            return bool(rows) and rows[0].status == "failed"

        await wait_for(failed)
        (row,) = await outbox_rows(services)
    assert row.attempts == 2 and "unavailable" in (row.last_error or "")
    assert channel.sent == []


async def test_replies_put_off_by_an_outage_go_as_soon_as_the_channel_works_again(
    make_settings,  # type: ignore[no-untyped-def]
) -> None:
    """A Redis restart used to leave web-chat replies waiting out backoffs of several seconds
    after the bus was back; a refusal of one recipient is still retried on its own schedule."""
    channel = RecordingChannel()
    channel.down = channel.outage = True
    settings = make_settings(outbox_base_delay_s=30.0)
    async with running(build_services(settings, {"test": channel})) as services:
        channel.refuses = {"thread-refused"}
        await services.engine.receive(said("hello", user="refused"))
        await services.engine.receive(said("hello", user="waiting"))

        async def put_off() -> bool:
            rows = await outbox_rows(services)
            return len(rows) == 2 and all(row.attempts == 1 and row.last_error for row in rows)

        await wait_for(put_off)
        channel.down = False
        await services.engine.receive(said("hello", user="next"))

        async def both_delivered() -> bool:
            return {thread for thread, _ in channel.sent} == {"thread-next", "thread-waiting"}

        await wait_for(both_delivered)  # well before the 24-36 s backoff
        refused = next(
            r for r in await outbox_rows(services) if r.external_thread == "thread-refused"
        )
    assert refused.status == "pending" and refused.attempts == 1


async def test_pending_replies_are_delivered_after_a_restart(settings: Settings) -> None:
    broken = RecordingChannel()
    broken.down = True
    async with running(build_services(settings, {"test": broken})) as services:
        await services.engine.receive(said("how much does it cost"))
        await services.engine.receive(said("hello", user="u2"))
    # The first process is gone with two undelivered replies; a new one starts.
    healthy = RecordingChannel()
    async with running(build_services(settings, {"test": healthy})) as services:

        async def delivered() -> bool:
            rows = await outbox_rows(services)
            return len(healthy.sent) == 2 and {r.status for r in rows} == {"sent"}

        await wait_for(delivered, within=10)
        rows = await outbox_rows(services)
    assert {r.status for r in rows} == {"sent"}
    assert sorted(thread for thread, _ in healthy.sent) == ["thread-u1", "thread-u2"]


async def test_a_shutdown_just_after_a_send_still_records_it(settings: Settings) -> None:
    """Stopping while the outcome of a send is being written must not leave the row leased,
    or the next process would wait the whole lease out before retrying it."""
    import asyncio

    class GatedChannel(RecordingChannel):
        def __init__(self) -> None:
            super().__init__()
            self.started = asyncio.Event()
            self.gate = asyncio.Event()

        async def send_text(self, target, message) -> None:  # type: ignore[no-untyped-def]
            self.started.set()
            await self.gate.wait()
            raise DeliveryError("platform unavailable (simulated)")

    # The cancellation lands a different number of loop turns after the send returns each
    # time, so one of the rounds arrives while the outcome is being recorded.
    for turns in range(8):
        channel = GatedChannel()
        async with running(build_services(settings, {"test": channel})) as services:
            await services.engine.receive(said("hello", user=f"turns{turns}"))
            await asyncio.wait_for(channel.started.wait(), 5)
            channel.gate.set()
            for _ in range(turns):
                await asyncio.sleep(0)
        async with running(build_services(settings, {})) as services:
            leased = [row.id for row in await outbox_rows(services) if row.locked_until]
        assert leased == [], f"rows left leased after {turns} turns"


async def test_two_dispatchers_deliver_each_reply_exactly_once(settings: Settings) -> None:
    """Two processes' dispatchers share one database: leases stop double sends."""
    channel = RecordingChannel()
    channel.down = True
    async with running(build_services(settings, {"test": channel})) as first:
        for i in range(10):
            await first.engine.receive(said("hello", user=f"u{i}"))
        second = build_services(settings, {"test": channel})
        channel.down = False
        for _ in range(20):
            await first.dispatcher.deliver_due()
            await second.dispatcher.deliver_due()
        await second.dispatcher.drain()
        await second.db.dispose()

        async def all_sent() -> bool:
            return len(channel.sent) >= 10

        await wait_for(all_sent)
    assert len(channel.sent) == 10
    assert len({thread for thread, _ in channel.sent}) == 10


async def test_a_slow_platform_does_not_hold_up_the_other_channels(settings: Settings) -> None:
    import asyncio

    class SlowChannel(RecordingChannel):
        def __init__(self) -> None:
            super().__init__("slow")
            self.release = asyncio.Event()

        async def send_text(self, target, message) -> None:  # type: ignore[no-untyped-def]
            await self.release.wait()  # a platform API that hangs
            await super().send_text(target, message)

    slow, fast = SlowChannel(), RecordingChannel()
    async with running(build_services(settings, {"slow": slow, "test": fast})) as services:
        await services.engine.receive(
            InboundMessage("slow", "s1", "thread-s1", uuid.uuid4().hex, "how much does it cost")
        )
        await services.engine.receive(said("how much does it cost"))

        async def fast_delivered() -> bool:
            return len(fast.sent) == 1

        await wait_for(fast_delivered, within=3)  # while the slow send is still hanging
        assert slow.sent == []
        slow.release.set()

        async def slow_delivered() -> bool:
            return len(slow.sent) == 1

        await wait_for(slow_delivered)


async def test_a_dispatcher_stopped_mid_claim_stops_even_if_the_claim_then_fails(
    settings: Settings, database_url: str
) -> None:
    """The claim is shielded from cancellation so its rows can be handed back; if the
    database then fails it, the stop must still go through (it once became an error that the
    dispatcher's loop retried forever, and shutdown hung)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("holds a PostgreSQL table lock")
    async with running(build_services(settings, {"test": RecordingChannel()})) as services:
        await services.engine.receive(said("how much does it cost"))
        blocker = await asyncpg.connect(database_url)
        try:
            locked = blocker.transaction()
            await locked.start()
            await blocker.execute("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE")
            claiming = asyncio.create_task(services.dispatcher.deliver_due())
            await asyncio.sleep(0.3)  # the claim now waits for the lock
            claiming.cancel()
            await blocker.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(claiming, 10)
            await locked.rollback()
        finally:
            await blocker.close()


on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _blocked_backend(admin: asyncpg.Connection, within: float = 10.0) -> int:
    """The backend of this database that waits for a lock the test holds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() LIMIT 1"
        )
        if pid is not None:
            return int(pid)
        assert asyncio.get_running_loop().time() < deadline, "nothing waits for the lock"
        await asyncio.sleep(0.02)


@on_postgresql
async def test_a_claim_that_fails_leaves_no_row_leased(
    settings: Settings, database_url: str
) -> None:
    """The claim used to commit the lease and then read the rows in a second statement; when
    that read failed the rows stayed leased for the whole lease (60 s) and the thread stalled."""
    services = build_services(settings, {"test": RecordingChannel()})
    await prepare(services)  # no dispatcher loop: this test runs the passes itself
    try:
        await services.engine.receive(said("how much does it cost"))
        admin = await asyncpg.connect(database_url)
        try:
            locked = admin.transaction()
            await locked.start()
            await admin.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            claiming = asyncio.create_task(services.dispatcher.deliver_due())
            await admin.execute("SELECT pg_terminate_backend($1)", await _blocked_backend(admin))
            with pytest.raises(Exception):  # noqa: B017 (whichever error the driver raises)
                await claiming
            await locked.rollback()
        finally:
            await admin.close()
        (row,) = await outbox_rows(services)
        assert row.locked_until is None and row.status == "pending"
        assert await services.dispatcher.deliver_due() == 1  # due at once, not in 60 s
        await services.dispatcher.drain()
        (row,) = await outbox_rows(services)
        assert row.status == "sent"
    finally:
        await services.db.dispose()


@on_postgresql
async def test_a_claim_never_takes_a_row_whose_retry_was_put_off_meanwhile(
    settings: Settings, database_url: str
) -> None:
    """A claim that had to wait for a row re-checks it when it gets it: if another
    dispatcher meanwhile claimed it, failed and put the retry off, the backoff stands (it was
    skipped: attempt 6 → 7 in 20 ms against a 14 s backoff)."""
    services = build_services(settings, {"test": RecordingChannel()})
    await prepare(services)
    try:
        await services.engine.receive(said("how much does it cost"))
        (row,) = await outbox_rows(services)
        admin = await asyncpg.connect(database_url)
        try:
            other = admin.transaction()  # the other dispatcher, mid-claim on this row
            await other.start()
            await admin.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = $1", row.id)
            claiming = asyncio.create_task(services.dispatcher.deliver_due())
            await _blocked_backend(admin)
            # ... whose send failed: the row is free again, but not due for an hour.
            await admin.execute(
                "UPDATE outbox SET locked_until = NULL,"
                " next_attempt_at = now() + interval '1 hour' WHERE id = $1",
                row.id,
            )
            await other.commit()
            assert await asyncio.wait_for(claiming, 10) == 0
        finally:
            await admin.close()
        (row,) = await outbox_rows(services)
        assert row.attempts == 1 and row.locked_until is None
    finally:
        await services.db.dispose()


@on_postgresql
async def test_a_failed_record_is_retried_and_the_reply_is_not_sent_twice(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    """The connection that records a successful send is killed: the record is retried, so
    the row does not sit leased and then go out a second time when its lease ends."""
    admin, holder = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    holding = holder.transaction()

    class LockingChannel(RecordingChannel):
        """Sends, then (as a stand-in for a database blip) makes the record wait for a lock."""

        async def send_text(self, target, message) -> None:  # type: ignore[no-untyped-def]
            await super().send_text(target, message)
            if len(self.sent) == 1:
                await holding.start()
                await holder.execute("SELECT 1 FROM outbox FOR UPDATE")

    channel = LockingChannel()
    services = build_services(make_settings(outbox_lease_s=4), {"test": channel})
    await prepare(services)
    try:
        await services.engine.receive(said("how much does it cost"))
        assert await services.dispatcher.deliver_due() == 1
        await admin.execute("SELECT pg_terminate_backend($1)", await _blocked_backend(admin))
        await holding.rollback()
        await asyncio.wait_for(services.dispatcher.drain(), 10)
        await asyncio.sleep(4.5)  # past the lease: an unrecorded send would be due again
        await services.dispatcher.deliver_due()
        await services.dispatcher.drain()
        (row,) = await outbox_rows(services)
        assert row.status == "sent"
        assert len(channel.sent) == 1
    finally:
        await admin.close()
        await holder.close()
        await services.db.dispose()


async def test_a_send_longer_than_the_lease_keeps_it_and_goes_out_once(
    make_settings: Callable[..., Settings],
) -> None:
    """Leases are short, so a dead process's replies come back within seconds; a live send
    that takes longer renews its lease, so no other dispatcher sends the reply too."""

    class SlowChannel(RecordingChannel):
        async def send_text(self, target, message) -> None:  # type: ignore[no-untyped-def]
            await asyncio.sleep(6)
            await super().send_text(target, message)

    channel = SlowChannel()
    settings = make_settings(outbox_lease_s=4)
    first, second = build_services(settings, {"test": channel}), build_services(settings, {})
    await prepare(first)
    try:
        await first.engine.receive(said("how much does it cost"))
        assert await first.dispatcher.deliver_due() == 1
        await asyncio.sleep(5)  # past the first lease
        assert await second.dispatcher.deliver_due() == 0
        await first.dispatcher.drain()
        (row,) = await outbox_rows(first)
        assert row.status == "sent" and len(channel.sent) == 1
    finally:
        await first.db.dispose()
        await second.db.dispose()
