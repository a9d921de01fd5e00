"""Load through the real interface: a `deskbot serve` process, web-chat sessions over WebSocket.

This script is the load generator (a separate process from the server, loopback only, bounded
by message count and time). Traffic: FAQ questions from the demo knowledge base, a share of
angry messages and a share of conversations that ask for a person (which then go quiet: the
bot is silent once a person owns the chat). Prints messages/s, ack and reply latency
percentiles, the server's peak memory, CPU per message by process group, and errors.

With --peer rasa the same scripts then go through Rasa's own stack (`rasa run`, REST channel,
SQL tracker store on the same PostgreSQL; see bench/rasa_peer.py) and the ratio is printed.

    .venv/bin/python -m bench.load --db postgresql --conversations 200 --messages 4000
    .venv/bin/python -m bench.load --workers 2 --peer rasa      # needs `deskbot rasa setup`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import cpu, rasa_peer
from bench.cpu import CpuMeter, Usage
from bench.engine import database, drop, questions
from bot.nlu.rasa_env import RasaEnvironment, default_home

ANGRY = [
    "This is the third time I ask and it is STILL not fixed!!!",
    "I have been waiting for hours, this is ridiculous",
    "your app keeps crashing and nobody helps me",
    "I was charged twice and I am furious",
]
HANDOFF = "I want to talk to a human"
REPLY_TIMEOUT = 30


@dataclass
class Tally:
    sent: int = 0
    acked: int = 0
    replied: int = 0
    errors: int = 0
    ack_ms: list[float] = field(default_factory=list)
    reply_ms: list[float] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    database_url: str, data_dir: Path, port: int, workers: int, log: Path | None
) -> subprocess.Popen[bytes]:
    """The server's warnings go to `log` (--server-log), or nowhere."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    if workers > 1:
        environment.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
        environment["DESKBOT_REDIS_PREFIX"] = f"bench-{port}"
    environment.update(
        DATABASE_URL=database_url,
        DESKBOT_DATA_DIR=str(data_dir),
        DESKBOT_LOG_LEVEL="WARNING",
        DESKBOT_DEMO_LOGINS="false",
        DESKBOT_RATE_SESSIONS_PER_IP_MIN="1000000",
        DESKBOT_RATE_MESSAGES_PER_IP_MIN="1000000",
        DESKBOT_RATE_MESSAGES_PER_VISITOR_MIN="1000000",
        DESKBOT_RATE_MESSAGES_PER_SENDER_MIN="1000000",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port), "--workers", str(workers)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab") if log else subprocess.DEVNULL,
    )


async def wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            assert server.poll() is None, "the server exited"
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("server did not come up")


def script(
    rng: random.Random, turns: int, faq: list[str], angry_share: float, handoff_share: float
) -> list[str]:
    lines = [
        rng.choice(ANGRY) if rng.random() < angry_share else rng.choice(faq) for _ in range(turns)
    ]
    if rng.random() < handoff_share:
        lines[rng.randrange(turns)] = HANDOFF
    return lines


async def conversation(
    http: aiohttp.ClientSession,
    base: str,
    lines: list[str],
    tally: Tally,
    deadline: float,
    think: random.Random | None = None,
    think_s: float = 0.0,
) -> None:
    """One customer; with `think`, a pause (exponential, mean think_s) before each message,
    as people read the answer and type."""
    try:
        async with http.post(f"{base}/webchat/sessions", json={}) as response:
            token = (await response.json())["token"]
        async with http.ws_connect(f"{base}/webchat/ws?token={token}") as ws:
            await ws.receive_json()  # history
            for text in lines:
                if think is not None:
                    await asyncio.sleep(think.expovariate(1 / think_s))
                if time.monotonic() > deadline:
                    return
                if not await turn(ws, text, tally):
                    return  # a person owns the chat now: the customer waits for them
    except (TimeoutError, aiohttp.ClientError, KeyError):
        tally.errors += 1


async def turn(ws: aiohttp.ClientWebSocketResponse, text: str, tally: Tally) -> bool:
    """One message: the ack (stored and handled) and the bot's first reply (delivered by the
    outbox through the socket), in either order. False once the chat left the bot."""
    started = time.perf_counter()
    tally.sent += 1
    await ws.send_json({"type": "message", "text": text})
    state: str | None = None
    replied = False
    while state is None or not replied:
        frame = await ws.receive_json(timeout=REPLY_TIMEOUT)
        kind = frame.get("type")
        if kind == "ack":
            state = frame["state"]
            tally.acked += 1
            tally.ack_ms.append((time.perf_counter() - started) * 1000)
        elif kind == "message" and frame["message"]["sender_kind"] in {"bot", "system"}:
            if not replied:
                tally.replied += 1
                tally.reply_ms.append((time.perf_counter() - started) * 1000)
            replied = True
        elif kind == "error":
            tally.errors += 1
            return False
    return state == "bot"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """The server's resident memory (VmHWM: peak, VmRSS: now): the process and, with
    --workers, its workers."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0.0
    for process in [pid, *map(int, children)]:
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1]) / 1024
    return total


@dataclass
class Idle:
    """Web-chat sockets opened before the load and left open through it."""

    count: int = 0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0


async def open_idle(
    http: aiohttp.ClientSession, base: str, count: int, stack: contextlib.AsyncExitStack
) -> int:
    """Sessions and sockets for `count` visitors who opened the chat and wrote nothing."""
    gate = asyncio.Semaphore(100)

    async def one() -> bool:
        async with gate:
            try:
                async with http.post(f"{base}/webchat/sessions", json={}) as response:
                    token = (await response.json())["token"]
                ws = await stack.enter_async_context(
                    http.ws_connect(f"{base}/webchat/ws?token={token}", heartbeat=None)
                )
                await ws.receive_json(timeout=REPLY_TIMEOUT)  # history
                return True
            except (TimeoutError, aiohttp.ClientError, KeyError):
                return False

    return sum(await asyncio.gather(*(one() for _ in range(count))))


@dataclass
class Outcome:
    tally: Tally
    elapsed: float
    rss_mb: float
    cpu: Usage
    idle: Idle = field(default_factory=Idle)


async def drive(scripts: list[list[str]], duration: float, one: Any) -> tuple[Tally, float]:
    tally = Tally()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        started = time.perf_counter()
        deadline = time.monotonic() + duration
        await asyncio.gather(*(one(http, n, s, tally, deadline) for n, s in enumerate(scripts)))
        return tally, time.perf_counter() - started


async def run_deskbot(args: argparse.Namespace, scripts: list[list[str]]) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        url, name = await database(args.db, Path(tmp))
        port = free_port()
        server = start_server(url, Path(tmp) / "var", port, args.workers, args.server_log)
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(base, server)
            idle = Idle(rss_before_mb=rss_mb(server.pid, "VmRSS"))
            async with (
                contextlib.AsyncExitStack() as stack,
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
            ):
                if args.idle:
                    idle.count = await open_idle(http, base, args.idle, stack)
                    await asyncio.sleep(1)
                    idle.rss_after_mb = rss_mb(server.pid, "VmRSS")

                async def one(http, n, lines, tally, deadline):  # type: ignore[no-untyped-def]
                    think = random.Random(n) if args.think else None
                    await conversation(http, base, lines, tally, deadline, think, args.think)

                meter = CpuMeter(server.pid)
                meter.start()
                tally, elapsed = await drive(scripts, args.duration, one)
                cpu = meter.stop()
            return Outcome(tally, elapsed, rss_mb(server.pid), cpu, idle)
        finally:
            server.terminate()
            server.wait(timeout=30)
            await drop(name)


async def run_rasa(args: argparse.Namespace, scripts: list[list[str]]) -> Outcome:
    """The same scripts through Rasa's REST channel: one POST per message, the answer in the
    response. Conversations stop where deskbot's would hand over to a person."""
    env = RasaEnvironment(default_home())
    if not env.installed():
        raise SystemExit("--peer rasa needs Rasa: run `deskbot rasa setup` first")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deskbot" / "bench"
    project, model = await asyncio.to_thread(
        rasa_peer.trained_model, env, args.rasa_epochs, cache / "rasa-peer"
    )
    with tempfile.TemporaryDirectory() as tmp:
        _, name = await database("postgresql", Path(tmp))
        port = free_port()
        server = rasa_peer.start(env, project, model, port, name or "")
        webhook = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
        try:
            await rasa_peer.wait_ready(f"http://127.0.0.1:{port}", server)

            async def one(http, n, lines, tally, deadline):  # type: ignore[no-untyped-def]
                think = random.Random(n) if args.think else None
                await rest_conversation(
                    http, webhook, f"load-{n}", lines, tally, deadline, think, args.think
                )

            meter = CpuMeter(server.pid)
            meter.start()
            tally, elapsed = await drive(scripts, args.duration, one)
            return Outcome(tally, elapsed, rss_mb(server.pid), meter.stop())
        finally:
            server.terminate()
            server.wait(timeout=60)
            await drop(name)


async def rest_conversation(
    http: aiohttp.ClientSession,
    webhook: str,
    sender: str,
    lines: list[str],
    tally: Tally,
    deadline: float,
    think: random.Random | None = None,
    think_s: float = 0.0,
) -> None:
    for text in lines:
        if think is not None:
            await asyncio.sleep(think.expovariate(1 / think_s))
        if time.monotonic() > deadline:
            return
        started = time.perf_counter()
        tally.sent += 1
        try:
            async with http.post(
                webhook,
                json={"sender": sender, "message": text},
                timeout=aiohttp.ClientTimeout(REPLY_TIMEOUT),
            ) as response:
                answer = await response.json()
        except (TimeoutError, aiohttp.ClientError, ValueError):
            tally.errors += 1
            return
        if response.status != 200:
            tally.errors += 1
            return
        took = (time.perf_counter() - started) * 1000
        tally.acked += 1
        tally.ack_ms.append(took)
        if answer:
            tally.replied += 1
            tally.reply_ms.append(took)
        if text == HANDOFF:
            return


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(11)
    faq = questions(2000)
    turns = max(1, args.messages // args.conversations)
    scripts = [script(rng, turns, faq, args.angry, args.handoff) for _ in range(args.conversations)]
    ours = await run_deskbot(args, scripts)
    describe(args, turns)
    report(f"deskbot serve --workers {args.workers} on {args.db}, web chat", ours)
    if args.peer == "rasa":
        theirs = await run_rasa(args, scripts)
        report("peer: rasa run, REST channel, SQL tracker store on PostgreSQL", theirs)
        print(
            f"ratio deskbot / rasa: throughput {rate(ours) / rate(theirs):.2f}x, "
            f"reply p99 {percentile(ours.tally.reply_ms, 0.99):.0f} ms vs "
            f"{percentile(theirs.tally.reply_ms, 0.99):.0f} ms"
        )


def rate(outcome: Outcome) -> float:
    return outcome.tally.acked / outcome.elapsed


def describe(args: argparse.Namespace, turns: int) -> None:
    pace = f"{args.think:g} s mean think time" if args.think else "no think time (saturation)"
    print(
        f"{args.conversations} concurrent conversations, {turns} turns each, {pace}, "
        f"{args.angry:.0%} angry messages, {args.handoff:.0%} want a person"
    )


def report(title: str, outcome: Outcome) -> None:
    def spread(values: list[float]) -> str:
        marks = (percentile(values, q) for q in (0.5, 0.95, 0.99))
        return "p50 {:.0f}  p95 {:.0f}  p99 {:.0f}".format(*marks)

    tally = outcome.tally
    print(title)
    print(f"  messages sent {tally.sent}, acknowledged {tally.acked}, bot replies {tally.replied}")
    print(f"  errors {tally.errors}")
    print(f"  throughput {rate(outcome):.1f} messages/s over {outcome.elapsed:.1f} s")
    print(f"  ack latency ms   {spread(tally.ack_ms)}")
    print(f"  reply latency ms {spread(tally.reply_ms)}")
    print(f"  peak RSS {outcome.rss_mb:.0f} MB")
    print(f"  {cpu.describe(outcome.cpu, tally.acked)}")
    idle = outcome.idle
    if idle.count:
        per_socket = (idle.rss_after_mb - idle.rss_before_mb) * 1024 / idle.count
        print(
            f"  idle web-chat sockets held through the run: {idle.count}; RSS "
            f"{idle.rss_before_mb:.0f} MB before, {idle.rss_after_mb:.0f} MB after opening "
            f"them ({per_socket:.0f} KB per socket)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=2000, help="total, across conversations")
    parser.add_argument(
        "--duration", type=float, default=120.0, help="stop sending after this many s"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (> 1 uses Redis on :6379)"
    )
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean pause before each message, s (0: none)"
    )
    parser.add_argument(
        "--idle", type=int, default=0, help="web-chat sockets opened first and left idle"
    )
    parser.add_argument("--server-log", type=Path, help="append the server's warnings here")
    parser.add_argument("--peer", choices=["none", "rasa"], default="none")
    parser.add_argument(
        "--rasa-epochs", type=int, default=20, help="DIET epochs for the peer's model"
    )
    parser.add_argument("--angry", type=float, default=0.1, help="share of angry messages")
    parser.add_argument(
        "--handoff", type=float, default=0.05, help="share of conversations asking for a person"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
