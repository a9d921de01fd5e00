"""End-to-end engine throughput: store → NLU → reply + outbox row → delivery, on a real database.

Peer in the same run: the same messages stored by a bare INSERT loop through the same
SQLAlchemy engine (what any chat service pays for persistence alone), so the ratio shows what
deskbot's engine adds on top of writing the message down.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from bot.services import build_services, running
from bot.settings import load_settings
from channels.base import DeliveryTarget, InboundMessage, OutboundText
from knowledge.demo import demo_intents
from models import Conversation, Customer, Message

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TURNS = 5


class Sink:
    name = "bench"

    def __init__(self) -> None:
        self.delivered = 0
        self.expected = -1
        self.done = asyncio.Event()

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        self.delivered += 1
        if self.delivered == self.expected:
            self.done.set()

    async def wait_for(self, count: int) -> None:
        self.expected = count
        if self.delivered >= count:
            return
        await self.done.wait()


def questions(count: int) -> list[str]:
    """FAQ questions only: handoff requests would hand the chat to a person mid-run."""
    faq = [i for i in demo_intents() if i.name not in {"human_handoff", "out_of_scope"}]
    pool = [t for i in faq for texts in i.examples.values() for t in texts]
    rng = random.Random(7)
    return [rng.choice(pool) for _ in range(count)]


async def database(kind: str, tmp: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", None
    name = f"deskbot_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, name


async def drop(name: str | None) -> None:
    if name:
        admin = await asyncpg.connect(PG_ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def run(kind: str, total: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url, name = await database(kind, Path(tmp))
        settings = load_settings(None, data_dir=Path(tmp), database_url=url, log_level="WARNING")
        sink = Sink()
        try:
            async with running(build_services(settings, {sink.name: sink})) as services:
                texts = questions(total)
                latencies: list[float] = []
                replies = 0
                per_worker = total // concurrency

                async def conversation(worker: int) -> None:
                    nonlocal replies
                    for i in range(per_worker):
                        user = f"user-{worker}-{i // TURNS}"  # short chats, as customers write
                        text = texts[worker * per_worker + i]
                        message = InboundMessage("bench", user, user, uuid.uuid4().hex, text)
                        started = time.perf_counter()
                        result = await services.engine.receive(message)
                        latencies.append((time.perf_counter() - started) * 1000)
                        replies += len(result.replies)

                started = time.perf_counter()
                await asyncio.gather(*(conversation(w) for w in range(concurrency)))
                elapsed = time.perf_counter() - started
                await sink.wait_for(replies)
                delivered_after = time.perf_counter() - started
                peer_rate = await insert_only_peer(services, texts)
        finally:
            await drop(name)
    q = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / elapsed
    print(f"database {kind}, {len(latencies)} messages, {concurrency} concurrent conversations")
    print(f"  replies: {replies}")
    print(
        f"  engine: {rate:8.1f} messages/s answered; "
        f"all replies delivered after {delivered_after:.2f}s"
    )
    print(f"  reply latency ms: p50 {q[49]:.2f}  p95 {q[94]:.2f}  p99 {q[98]:.2f}")
    print(f"  peer (bare INSERT of the message): {peer_rate:8.1f} messages/s")
    print(f"  ratio engine / peer: {rate / peer_rate:.2f}")


async def insert_only_peer(services, texts: list[str]) -> float:  # type: ignore[no-untyped-def]
    async with services.sessions() as session:
        customer = Customer(display_name="peer")
        session.add(customer)
        await session.flush()
        conversation = Conversation(customer_id=customer.id, channel="peer", external_thread="p")
        session.add(conversation)
        await session.commit()
    started = time.perf_counter()
    for text in texts:
        async with services.sessions() as session:
            session.add(
                Message(
                    conversation_id=conversation.id,
                    channel="peer",
                    external_id=uuid.uuid4().hex,
                    direction="in",
                    sender_kind="customer",
                    text=text,
                )
            )
            await session.commit()
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.db, args.messages, args.concurrency))


if __name__ == "__main__":
    main()
