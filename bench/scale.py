"""Cost on an empty database and on a year of a busy company's data, in one run.

For each database (empty, then seeded by bench/seed.py at the size asked for) this starts a
real `deskbot serve`, drives web-chat load through it (bench/load.py's conversations), times
the web-chat round trip (a new session and its first message) one at a time, and times the
API pages an agent and an admin open (reports over 30 and 365 days and as CSV, the queue, the
conversation list, a customer panel, customer search). Prints each figure for both databases
and the ratio.

    .venv/bin/python -m bench.scale --customers 50000 --conversations 200000 --messages 2000000
    .venv/bin/python -m bench.scale --db sqlite --customers 5000 --conversations 20000 \\
        --messages 200000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp

from bench.engine import database, drop, questions
from bench.load import conversation, drive, free_port, script, start_server, wait_healthy
from bench.seed import Size, describe, seed_url
from bot.database import make_engine, make_sessionmaker, upgrade
from bot.report_rollup import roll_up
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
    throughput: float = 0.0
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
        days = await roll_up(make_sessionmaker(engine), utcnow(), ROLLUP_GRACE)
        print(f"  rolled up {days} days in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        await engine.dispose()


async def measure(kind: str, size: Size | None, args: argparse.Namespace) -> Figures:
    with tempfile.TemporaryDirectory() as tmp:
        url, name = await prepared_database(kind, Path(tmp), size)
        data_dir = Path(tmp) / "var"
        data_dir.mkdir(mode=0o700)
        token = secrets.token_urlsafe(24)
        (data_dir / "admin_token.txt").write_text(token)
        (data_dir / "admin_token.txt").chmod(0o600)
        port = free_port()
        server = start_server(url, data_dir, port, 1, None)
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(base, server)
            return await _figures(base, token, args)
        finally:
            server.terminate()
            server.wait(timeout=30)
            await drop(name)


async def _figures(base: str, token: str, args: argparse.Namespace) -> Figures:
    figures = Figures()
    rng = random.Random(11)
    faq = questions(2000)
    scripts = [script(rng, args.turns, faq, 0.1, 0.05) for _ in range(args.conversations_load)]

    async def one(http, n, lines, tally, deadline):  # type: ignore[no-untyped-def]
        await conversation(http, base, lines, tally, deadline)

    tally, elapsed = await drive(scripts, 300, one)
    figures.throughput = tally.acked / elapsed
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        for _ in range(TIMED_REPEATS * 3):
            started = time.perf_counter()
            async with http.post(f"{base}/webchat/sessions", json={}) as response:
                visitor = {"Authorization": f"Bearer {(await response.json())['token']}"}
            async with http.post(
                f"{base}/webchat/messages", json={"text": rng.choice(faq)}, headers=visitor
            ) as response:
                await response.read()
            figures.round_trip_ms.append((time.perf_counter() - started) * 1000)
        async with http.get(f"{base}/api/conversations", headers=headers) as response:
            latest = (await response.json())["conversations"][0]
        ids = {"customer": latest["customer_id"], "conversation": latest["id"]}
        for page in PAGES:
            path = page.format(**ids)
            times = figures.pages_ms.setdefault(page, [])
            for _ in range(TIMED_REPEATS):
                started = time.perf_counter()
                async with http.get(f"{base}{path}", headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{path}: HTTP {response.status}")
                times.append((time.perf_counter() - started) * 1000)
    return figures


def report(empty: Figures, year: Figures) -> None:
    def row(label: str, a: float, b: float, unit: str) -> None:
        ratio = b / a if a else float("nan")
        print(f"{label:<44} {a:>10.1f} {b:>12.1f} {unit:<6} {ratio:>6.2f}x")

    print(f"{'':<44} {'empty':>10} {'a year':>12} {'':<6} {'year/empty':>6}")
    row("web-chat throughput", empty.throughput, year.throughput, "msg/s")
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
    print(f"{args.db}: empty database", flush=True)
    empty = await measure(args.db, None, args)
    print(f"{args.db}: a year of data", flush=True)
    year = await measure(args.db, size, args)
    print(
        f"load: {args.conversations_load} web-chat conversations x {args.turns} turns; "
        f"pages: median of {TIMED_REPEATS}"
    )
    report(empty, year)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--conversations-load", type=int, default=50)
    parser.add_argument("--turns", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
