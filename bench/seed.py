"""A year of a busy small company's conversations, bulk-loaded into a deskbot database.

The rows match the schema the migrations build and follow the shapes of real traffic: more
conversations on weekdays and in office hours, a few heavy customers and a long tail of
one-time ones, most customers on the web chat, about a tenth of conversations escalated (then
claimed, answered and resolved by one of a few agents, some rated), inbound messages with the
NLU's intent, confidence and sentiment (some not understood), a sent outbox row for every
reply. PostgreSQL is loaded with COPY, SQLite with one executemany per table.

    .venv/bin/python -m bench.seed postgresql://postgres@127.0.0.1:5432/deskbot \\
        --customers 50000 --conversations 200000 --messages 2000000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import create_engine, text

from bot.nlu.result import FALLBACK_INTENT
from knowledge.demo import demo_intents
from models import Base

CHANNELS = (("webchat", 0.6), ("email", 0.2), ("telegram", 0.1), ("slack", 0.1))
REASONS = (
    "customer asked for a person",
    "bot did not understand 3 messages in a row",
    "customer rejected the bot's answers twice",
    "a negative message; churn risk 0.62",
    "customer threatened to cancel or leave",
    "customer stayed angry",
)
FALLBACK_TEXTS = (
    "is it going to rain tomorrow",
    "my thing is broken",
    "asdf",
    "can you do my taxes",
    "what about the other one",
    "where is my parcel",
)
AGENTS = 12
# What the bot did not understand is mostly a long tail of one-off texts.
FALLBACK_REPEATED_SHARE = 0.3
FALLBACK_OPENERS = ("what about", "help with", "problem with", "question on", "why is", "so")
FALLBACK_OBJECTS = (
    "my order",
    "the invoice",
    "ticket",
    "the thing from yesterday",
    "account",
    "refund",
    "the app",
    "case",
)
ESCALATED_SHARE = 0.1
FALLBACK_SHARE = 0.08
CHUNK = 50_000


@dataclass(frozen=True)
class Size:
    customers: int
    conversations: int
    messages: int

    @property
    def per_conversation(self) -> float:
        return self.messages / self.conversations


@dataclass(frozen=True)
class Seeded:
    customers: int
    identities: int
    conversations: int
    messages: int
    outbox: int
    seconds: float


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    point, total = rng.random(), 0.0
    for value, weight in options:
        total += weight
        if point < total:
            return value
    return options[-1][0]


def _fallback_text(rng: random.Random) -> str:
    if rng.random() < FALLBACK_REPEATED_SHARE:
        return rng.choice(FALLBACK_TEXTS)
    opener, thing = rng.choice(FALLBACK_OPENERS), rng.choice(FALLBACK_OBJECTS)
    return f"{opener} {thing} {rng.randrange(100_000)}"


def _moment(rng: random.Random, now: datetime, days: int) -> datetime:
    """A time in the last `days` days: weekdays twice as busy, office hours busiest."""
    while True:
        day = now - timedelta(days=rng.random() * days)
        if day.weekday() >= 5 and rng.random() < 0.5:
            continue
        hour = min(23.99, max(0.0, rng.gauss(13, 4)))
        moment = day.replace(hour=int(hour), minute=int(hour % 1 * 60), second=rng.randrange(60))
        if moment < now:
            return moment


class Generator:
    """Rows for each table, in id order, from one seeded random stream."""

    def __init__(self, size: Size, now: datetime, seed: int = 1) -> None:
        self.size = size
        self.now = now
        self.rng = random.Random(seed)
        questions = [
            (intent.name, example)
            for intent in demo_intents()
            for texts in intent.examples.values()
            for example in texts
        ]
        self.questions = questions
        self.primary = [_weighted(self.rng, CHANNELS) for _ in range(size.customers)]
        self.second: dict[int, str] = {
            c: _weighted(self.rng, CHANNELS)
            for c in range(size.customers)
            if self.rng.random() < 0.1
        }
        self.second = {c: ch for c, ch in self.second.items() if ch != self.primary[c]}

    def agents(self) -> list[dict[str, Any]]:
        return [
            {
                "id": n,
                "email": f"agent{n}@seed.example",
                "name": f"Agent {n}",
                "role": "agent",
                "password_hash": None,
                "active": True,
                "status": "offline",
                "created_at": self.now - timedelta(days=400),
                "teams": ["support"],
                "max_concurrent": 3,
            }
            for n in range(1, AGENTS + 1)
        ]

    def customers(self) -> Iterator[dict[str, Any]]:
        tiers = (("standard", 0.8), ("premium", 0.15), ("enterprise", 0.05))
        for c in range(self.size.customers):
            yield {
                "id": c + 1,
                "display_name": f"Customer {c + 1}",
                "email": f"customer{c + 1}@seed.example",
                "tier": _weighted(self.rng, tiers),
                "attributes": {},
                "created_at": self.now - timedelta(days=400 * self.rng.random() + 1),
                "erased_at": None,
            }

    def identities(self) -> Iterator[dict[str, Any]]:
        n = 0
        for c in range(self.size.customers):
            for channel in (self.primary[c], self.second.get(c)):
                if channel is None:
                    continue
                n += 1
                yield {
                    "id": n,
                    "customer_id": c + 1,
                    "channel": channel,
                    "external_user": self._user(c, channel),
                    "created_at": self.now - timedelta(days=365),
                }

    def _user(self, customer: int, channel: str) -> str:
        return f"customer{customer + 1}@seed.example" if channel == "email" else f"u{customer + 1}"

    def conversations_and_messages(
        self,
    ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
        """Each conversation with its messages and the outbox rows of its replies."""
        starts = sorted(_moment(self.rng, self.now, 365) for _ in range(self.size.conversations))
        message_id = outbox_id = 0
        for n, started in enumerate(starts, start=1):
            # heavy customers: a few write often, most once or twice
            customer = int(self.size.customers * self.rng.random() ** 2)
            channel = self.second.get(customer) if self.rng.random() < 0.3 else None
            channel = channel or self.primary[customer]
            conversation = self._conversation(n, customer, channel, started)
            messages, outbox = [], []
            turns = max(1, round(self.rng.expovariate(1 / self.size.per_conversation)))
            at = started
            for turn in range(turns):
                message_id += 1
                inbound = turn % 2 == 0
                at += timedelta(seconds=self.rng.expovariate(1 / 40))
                messages.append(self._message(message_id, conversation, inbound, at))
                if not inbound:
                    outbox_id += 1
                    outbox.append(self._outbox(outbox_id, message_id, customer, conversation, at))
            yield conversation, messages, outbox

    def _conversation(
        self, n: int, customer: int, channel: str, started: datetime
    ) -> dict[str, Any]:
        rng = self.rng
        row: dict[str, Any] = {
            "id": n,
            "customer_id": customer + 1,
            "channel": channel,
            "external_thread": f"t{n}",
            "state": "bot",
            "language": "zh" if rng.random() < 0.2 else "en",
            "priority": 0,
            "team": None,
            "escalation_reason": None,
            "assigned_agent_id": None,
            "fallback_streak": 0,
            "pending_choice": None,
            "csat": None,
            "created_at": started,
            "updated_at": started + timedelta(minutes=5),
            "escalated_at": None,
            "first_human_response_at": None,
            "resolved_at": None,
            "first_response_due_at": None,
            "resolution_due_at": None,
            "sla_breached": False,
        }
        if rng.random() >= ESCALATED_SHARE:
            return row
        escalated = started + timedelta(minutes=rng.expovariate(1 / 3))
        answered = escalated + timedelta(minutes=rng.expovariate(1 / 12))
        resolved = answered + timedelta(minutes=rng.expovariate(1 / 25))
        due = escalated + timedelta(hours=1)
        row.update(
            state="queued",
            priority=rng.choice((30, 40, 45, 50, 55, 60)),
            team="support",
            escalation_reason=rng.choice(REASONS),
            escalated_at=escalated,
            first_response_due_at=due,
            resolution_due_at=escalated + timedelta(hours=8),
            updated_at=escalated,
        )
        if answered < self.now:
            row.update(
                state="agent",
                assigned_agent_id=rng.randint(1, AGENTS),
                first_human_response_at=answered,
                sla_breached=answered > due,
                updated_at=answered,
            )
        if resolved < self.now:
            row.update(state="resolved", resolved_at=resolved, updated_at=resolved)
            if rng.random() < 0.4:
                row["csat"] = rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 6))[0]
        return row

    def _message(
        self, n: int, conversation: dict[str, Any], inbound: bool, at: datetime
    ) -> dict[str, Any]:
        rng = self.rng
        row: dict[str, Any] = {
            "id": n,
            "conversation_id": conversation["id"],
            "channel": conversation["channel"],
            "external_id": f"m{n}" if inbound else None,
            "direction": "in" if inbound else "out",
            "sender_kind": "customer" if inbound else "bot",
            "agent_id": None,
            "text": "",
            "intent": None,
            "confidence": None,
            "sentiment": None,
            "sentiment_label": None,
            "meta": {},
            "sent_at": None if inbound else at,
            "created_at": at,
            "handled_at": at if inbound else None,
        }
        if not inbound:
            human = conversation["first_human_response_at"]
            if human is not None and at >= human:
                row.update(sender_kind="agent", agent_id=conversation["assigned_agent_id"])
            row["text"] = "Here is how to do that: open Settings, then Billing."
            return row
        if rng.random() < FALLBACK_SHARE:
            intent, question = FALLBACK_INTENT, _fallback_text(rng)
            confidence = rng.uniform(0.1, 0.5)
        else:
            intent, question = rng.choice(self.questions)
            confidence = rng.uniform(0.6, 1.0)
        row.update(
            text=question,
            intent=intent,
            confidence=round(confidence, 3),
            sentiment=round(max(-1.0, min(1.0, rng.gauss(0.05, 0.4))), 3),
        )
        return row

    def _outbox(
        self,
        n: int,
        message_id: int,
        customer: int,
        conversation: dict[str, Any],
        at: datetime,
    ) -> dict[str, Any]:
        return {
            "id": n,
            "message_id": message_id,
            "channel": conversation["channel"],
            "external_user": self._user(customer, conversation["channel"]),
            "external_thread": conversation["external_thread"],
            "status": "sent",
            "attempts": 1,
            "next_attempt_at": at,
            "locked_until": None,
            "last_error": None,
            "created_at": at,
            "sent_at": at,
        }


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Loader:
    """Appends rows to tables of one database; PostgreSQL by COPY, SQLite by executemany."""

    async def load(self, table: str, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    async def finish(self) -> None:
        raise NotImplementedError


class PostgresLoader(Loader):
    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.loaded: set[str] = set()

    async def load(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        json_columns = {c.name for c in Base.metadata.tables[table].columns if _is_json(c)}
        records = [tuple(_json(r[c]) if c in json_columns else r[c] for c in columns) for r in rows]
        await self.connection.copy_records_to_table(table, records=records, columns=columns)
        self.loaded.add(table)

    async def finish(self) -> None:
        for table in sorted(self.loaded):
            await self.connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await self.connection.execute("VACUUM ANALYZE")


class SqliteLoader(Loader):
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url.replace("+aiosqlite", ""))

    async def load(self, table: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            await asyncio.to_thread(self._insert, table, rows)

    def _insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as connection:
            connection.execute(Base.metadata.tables[table].insert(), rows)

    async def finish(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        self.engine.dispose()


def _is_json(column: Any) -> bool:
    return column.type.__class__.__name__ == "JSON"


def _json(value: object) -> str | None:
    import json

    return None if value is None else json.dumps(value)


async def seed(loader: Loader, size: Size, now: datetime | None = None) -> Seeded:
    """Load `size` into a database already at the head schema (and empty)."""
    started = time.perf_counter()
    generator = Generator(size, now or datetime.now(UTC))
    await loader.load("agents", generator.agents())
    for chunk in _chunks(generator.customers()):
        await loader.load("customers", chunk)
    identities = 0
    for chunk in _chunks(generator.identities()):
        identities += len(chunk)
        await loader.load("customer_identities", chunk)
    counts = {"conversations": 0, "messages": 0, "outbox": 0}
    batch: dict[str, list[dict[str, Any]]] = {name: [] for name in counts}
    for conversation, messages, outbox in generator.conversations_and_messages():
        batch["conversations"].append(conversation)
        batch["messages"].extend(messages)
        batch["outbox"].extend(outbox)
        if len(batch["messages"]) >= CHUNK:
            await _flush(loader, batch, counts)
    await _flush(loader, batch, counts)
    await loader.finish()
    return Seeded(
        size.customers,
        identities,
        counts["conversations"],
        counts["messages"],
        counts["outbox"],
        time.perf_counter() - started,
    )


async def _flush(
    loader: Loader, batch: dict[str, list[dict[str, Any]]], counts: dict[str, int]
) -> None:
    for table in ("conversations", "messages", "outbox"):  # foreign keys' order
        await loader.load(table, batch[table])
        counts[table] += len(batch[table])
        batch[table].clear()


async def seed_url(url: str, size: Size, now: datetime | None = None) -> Seeded:
    """Seed the database at `url` (a deskbot DATABASE_URL)."""
    if url.startswith("sqlite"):
        return await seed(SqliteLoader(url), size, now)
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return await seed(PostgresLoader(connection), size, now)
    finally:
        await connection.close()


def describe(seeded: Seeded) -> str:
    return (
        f"{seeded.customers:,} customers, {seeded.identities:,} channel identities, "
        f"{seeded.conversations:,} conversations, {seeded.messages:,} messages, "
        f"{seeded.outbox:,} sent outbox rows, loaded in {seeded.seconds:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="DATABASE_URL of an empty database at the head schema")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=2_000_000)
    args = parser.parse_args()
    size = Size(args.customers, args.conversations, args.messages)
    print(describe(asyncio.run(seed_url(args.url, size))))


if __name__ == "__main__":
    main()
