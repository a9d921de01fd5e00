"""Cost on an empty database and on a year of a busy company's data, in one run.

Two databases, one empty and one seeded by bench/seed.py at the size asked for (then rolled
up, as the service does on its first start), each behind a real `deskbot serve`. Taken in
turn on the two servers: web-chat load (bench/load.py's conversations) in rounds that
alternate which goes first, the web-chat round trip (a new session and its first message)
one at a time, and the API pages an agent and an admin open (reports over 30 and 365 days and
as CSV, the queue, the conversation list, a customer panel, customer search). Prints each
figure for both databases and the ratio.

    .venv/bin/python -m bench.scale --customers 50000 --conversations 200000 --messages 2000000
    .venv/bin/python -m bench.scale --db sqlite --customers 5000 --conversations 20000 \\
        --messages 200000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp

from bench.cpu import CpuMeter
from bench.engine import database, drop, questions
from bench.load import conversation, drive, free_port, script, start_server, wait_healthy
from bench.seed import Size, describe, seed_url
from bot.database import make_engine, make_sessionmaker, upgrade
from bot.report_rollup import roll_up, roll_up_conversations
from bot.settings import async_driver_url
from models.base import utcnow

TIMED_REPEATS = 7
ROLLUP_GRACE = timedelta(hours=1, minutes=10)  # the service's, at its default settings
PAGES = (
    "/api/reports?days=30",
    "/api/reports?days=365",
    "/api/reports.csv?days=365",
    "/api/queue",
    "/api/conversations?state=resolved",
    "/api/customers?q=customer4711",
    "/api/customers?q=47",
    "/api/customers/{customer}",
    "/api/conversations/{conversation}/customer",
)


@dataclass
class Figures:
    throughput: list[float] = field(default_factory=list)
    server_cpu_ms: list[float] = field(default_factory=list)  # per message, each round
    postgres_cpu_ms: list[float] = field(default_factory=list)
    round_trip_ms: list[float] = field(default_factory=list)
    pages_ms: dict[str, list[float]] = field(default_factory=dict)


async def prepared_database(kind: str, tmp: Path, size: Size | None) -> tuple[str, str | None]:
    url, name = await database(kind, tmp)
    engine = make_engine(async_driver_url(url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    if size is not None:
        print(f"  seeded: {describe(await seed_url(url, size))}", flush=True)
        await _roll_up(url)
    return url, name


async def _roll_up(url: str) -> None:
    """What the server's rollup job does on its first start over this data, timed here so
    the pages are measured as they are served from the second hour on."""
    engine = make_engine(async_driver_url(url))
    try:
        started = time.perf_counter()
        sessions = make_sessionmaker(engine)
        days = await roll_up(sessions, utcnow(), ROLLUP_GRACE)
        tallied = await roll_up_conversations(sessions, utcnow())
        print(
            f"  rolled up {days} days of messages and {tallied} of conversations "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    finally:
        await engine.dispose()


@dataclass
class Served:
    base: str
    token: str
    pid: int
    figures: Figures = field(default_factory=Figures)
    ids: dict[str, int] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def served(kind: str, tmp: Path, size: Size | None) -> AsyncIterator[Served]:
    data_dir, token = _data_dir(tmp)
    url, name = await prepared_database(kind, tmp, size)
    port = free_port()
    server = start_server(url, data_dir, port, 1, None)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", server)
        yield Served(f"http://127.0.0.1:{port}", token, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        await drop(name)


def _data_dir(tmp: Path) -> tuple[Path, str]:
    """A server's data directory with a known admin token."""
    data_dir = tmp / "var"
    data_dir.mkdir(mode=0o700, parents=True)
    token = secrets.token_urlsafe(24)
    (data_dir / "admin_token.txt").write_text(token)
    (data_dir / "admin_token.txt").chmod(0o600)
    return data_dir, token


async def measure(both: list[Served], args: argparse.Namespace) -> None:
    """Rounds alternate which database goes first, so neither gets the warmer machine."""
    rng = random.Random(11)
    faq = questions(2000)
    for round_ in range(args.rounds):
        for target in both if round_ % 2 == 0 else both[::-1]:
            await _throughput(target, rng, faq, args)
    async with aiohttp.ClientSession() as http:
        for target in both:
            target.ids = await _latest(http, target)
        for _ in range(TIMED_REPEATS * 3):
            for target in both:
                target.figures.round_trip_ms.append(await _round_trip(http, target, rng, faq))
        for page in PAGES:
            for _ in range(TIMED_REPEATS):
                for target in both:
                    times = target.figures.pages_ms.setdefault(page, [])
                    times.append(await _page(http, target, page.format(**target.ids)))


async def _throughput(
    target: Served, rng: random.Random, faq: list[str], args: argparse.Namespace
) -> None:
    """One round of load; the other server idles meanwhile, so PostgreSQL's CPU in the
    round is this server's (its idle peer's polling included, a small and even share)."""
    scripts = [script(rng, args.turns, faq, 0.1, 0.05) for _ in range(args.conversations_load)]

    async def one(http, n, lines, tally, deadline):  # type: ignore[no-untyped-def]
        await conversation(http, target.base, lines, tally, deadline)

    meter = CpuMeter(target.pid)
    meter.start()
    tally, elapsed = await drive(scripts, 300, one)
    usage = meter.stop()
    messages = max(tally.acked, 1)
    target.figures.throughput.append(tally.acked / elapsed)
    target.figures.server_cpu_ms.append(usage.seconds["server"] * 1000 / messages)
    target.figures.postgres_cpu_ms.append(usage.seconds["postgres"] * 1000 / messages)


async def _latest(http: aiohttp.ClientSession, target: Served) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {target.token}"}
    async with http.get(f"{target.base}/api/conversations", headers=headers) as response:
        latest = (await response.json())["conversations"][0]
    return {"customer": latest["customer_id"], "conversation": latest["id"]}


async def _round_trip(
    http: aiohttp.ClientSession, target: Served, rng: random.Random, faq: list[str]
) -> float:
    started = time.perf_counter()
    async with http.post(f"{target.base}/webchat/sessions", json={}) as response:
        visitor = {"Authorization": f"Bearer {(await response.json())['token']}"}
    async with http.post(
        f"{target.base}/webchat/messages", json={"text": rng.choice(faq)}, headers=visitor
    ) as response:
        await response.read()
    return (time.perf_counter() - started) * 1000


async def _page(http: aiohttp.ClientSession, target: Served, path: str) -> float:
    headers = {"Authorization": f"Bearer {target.token}"}
    started = time.perf_counter()
    async with http.get(f"{target.base}{path}", headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: HTTP {response.status}")
    return (time.perf_counter() - started) * 1000


def report(empty: Figures, year: Figures) -> None:
    def row(label: str, a: float, b: float, unit: str) -> None:
        ratio = b / a if a else float("nan")
        print(f"{label:<44} {a:>10.1f} {b:>12.1f} {unit:<6} {ratio:>6.2f}x")

    print(f"{'':<44} {'empty':>10} {'a year':>12} {'':<6} {'year/empty':>6}")
    row(
        "web-chat throughput, median of rounds",
        statistics.median(empty.throughput),
        statistics.median(year.throughput),
        "msg/s",
    )
    row(
        "server CPU per message, median of rounds",
        statistics.median(empty.server_cpu_ms),
        statistics.median(year.server_cpu_ms),
        "ms",
    )
    if any(empty.postgres_cpu_ms):
        row(
            "PostgreSQL CPU per message, median of rounds",
            statistics.median(empty.postgres_cpu_ms),
            statistics.median(year.postgres_cpu_ms),
            "ms",
        )
    row(
        "round trip (session + message), p50",
        statistics.median(empty.round_trip_ms),
        statistics.median(year.round_trip_ms),
        "ms",
    )
    for page in PAGES:
        row(
            f"GET {page}"[:44],
            statistics.median(empty.pages_ms[page]),
            statistics.median(year.pages_ms[page]),
            "ms",
        )


async def run(args: argparse.Namespace) -> None:
    size = Size(args.customers, args.conversations, args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{args.db}: an empty database and a year of data, both served", flush=True)
        async with (
            served(args.db, Path(tmp) / "empty", None) as empty,
            served(args.db, Path(tmp) / "year", size) as year,
        ):
            await measure([empty, year], args)
    print(
        f"load: {args.conversations_load} web-chat conversations x {args.turns} turns, "
        f"{args.rounds} rounds each; round trips: {TIMED_REPEATS * 3}; pages: median of "
        f"{TIMED_REPEATS}; each figure taken alternately on the two servers"
    )
    print(f"throughput rounds: empty {_rounded(empty)}, a year {_rounded(year)}")
    report(empty.figures, year.figures)


def _rounded(target: Served) -> list[int]:
    return [round(x) for x in target.figures.throughput]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--conversations-load", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
