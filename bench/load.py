"""Load through the real interface: a `deskbot serve` process, web-chat sessions over WebSocket.

This script is the load generator (a separate process from the server, loopback only, bounded
by message count and time). Traffic: FAQ questions from the demo knowledge base, a share of
angry messages and a share of conversations that ask for a person (which then go quiet: the
bot is silent once a person owns the chat). Prints messages/s, ack and reply latency
percentiles, the server's peak memory, and errors.

    .venv/bin/python -m bench.load --db postgresql --conversations 200 --messages 4000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.engine import database, drop, questions

ANGRY = [
    "This is the third time I ask and it is STILL not fixed!!!",
    "I have been waiting for hours, this is ridiculous",
    "your app keeps crashing and nobody helps me",
    "I was charged twice and I am furious",
]
HANDOFF = "I want to talk to a human"


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


def start_server(database_url: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    environment.update(
        DATABASE_URL=database_url,
        DESKBOT_DATA_DIR=str(data_dir),
        DESKBOT_LOG_LEVEL="WARNING",
        DESKBOT_DEMO_LOGINS="false",
        DESKBOT_RATE_SESSIONS_PER_IP_MIN="1000000",
        DESKBOT_RATE_MESSAGES_PER_IP_MIN="1000000",
        DESKBOT_RATE_MESSAGES_PER_VISITOR_MIN="1000000",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
    http: aiohttp.ClientSession, base: str, lines: list[str], tally: Tally, deadline: float
) -> None:
    try:
        async with http.post(f"{base}/webchat/sessions", json={}) as response:
            token = (await response.json())["token"]
        async with http.ws_connect(f"{base}/webchat/ws?token={token}") as ws:
            await ws.receive_json()  # history
            for text in lines:
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
        frame = await ws.receive_json(timeout=30)
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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(11)
    faq = questions(2000)
    turns = max(1, args.messages // args.conversations)
    scripts = [script(rng, turns, faq, args.angry, args.handoff) for _ in range(args.conversations)]
    with tempfile.TemporaryDirectory() as tmp:
        url, name = await database(args.db, Path(tmp))
        port = free_port()
        server = start_server(url, Path(tmp) / "var", port)
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(base, server)
            tally = Tally()
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as http:
                started = time.perf_counter()
                deadline = time.monotonic() + args.duration
                await asyncio.gather(
                    *(conversation(http, base, s, tally, deadline) for s in scripts)
                )
                elapsed = time.perf_counter() - started
            rss = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
            await drop(name)
    report(args, turns, tally, elapsed, rss)


def report(args: argparse.Namespace, turns: int, tally: Tally, elapsed: float, rss: float) -> None:
    def spread(values: list[float]) -> str:
        marks = (percentile(values, q) for q in (0.5, 0.95, 0.99))
        return "p50 {:.0f}  p95 {:.0f}  p99 {:.0f}".format(*marks)

    print(f"deskbot serve on {args.db}: {args.conversations} concurrent web-chat conversations,")
    print(
        f"  {turns} turns each, {args.angry:.0%} angry messages, {args.handoff:.0%} want a person"
    )
    print(f"messages sent {tally.sent}, acknowledged {tally.acked}, bot replies {tally.replied}")
    print(f"errors {tally.errors}")
    print(f"throughput {tally.acked / elapsed:.1f} messages/s over {elapsed:.1f} s")
    print(f"ack latency ms   {spread(tally.ack_ms)}")
    print(f"reply latency ms {spread(tally.reply_ms)}")
    print(f"server peak RSS {rss:.0f} MB")


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
    parser.add_argument("--angry", type=float, default=0.1, help="share of angry messages")
    parser.add_argument(
        "--handoff", type=float, default=0.05, help="share of conversations asking for a person"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
