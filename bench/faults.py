"""Faults under web-chat traffic: does every reply still reach its customer, once and promptly?

Starts `deskbot serve --workers 2` on a fresh PostgreSQL database and a redis-server of its own
on its own port (never a shared one: it kills and freezes it), then for each fault opens fresh
web-chat sessions (most over the WebSocket as the widget does, the rest over HTTP), sends FAQ
questions, resends a message with the same client_message_id whenever it was not acknowledged,
and injects the fault a few seconds in:

    worker-kill   SIGKILL one of the two workers (the supervisor starts it again)
    pg-storm      pg_terminate_backend on every connection of the database, repeatedly
    redis-restart Redis killed, then started again on the same port
    redis-freeze  Redis stopped with SIGSTOP (hangs, does not refuse), then SIGCONT

Then it reconciles the database against what every client received and prints, per fault:
accepted (acknowledged messages), stored, duplicates stored, answered, duplicate replies (the
same reply pushed twice to one socket), replies that never reached an open socket (stored while
the visitor's socket stayed open for 5 s, never pushed to it), replies held more than 5 s
beyond the fault, and ack and reply p99. Loopback only, bounded by time.

    .venv/bin/python -m bench.faults [--sessions 50] [--websocket 35] [--seconds 20]
        [--faults worker-kill,pg-storm,redis-restart,redis-freeze] [--server-log PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench.engine import PG_ADMIN, database, drop, questions
from bench.load import free_port, percentile, wait_healthy

ACK_TIMEOUT_S = 5.0
REPLY_WAIT_S = 15.0
HELD_S = 5.0
FAULT_AT_S = 4.0


@dataclass
class Turn:
    client_message_id: str
    first_sent: float  # wall clock (compared with the database's timestamps)
    attempts: int = 0
    acked_at: float | None = None
    replied_at: float | None = None


@dataclass
class Visitor:
    token: str
    visitor_id: str
    websocket: bool
    turns: list[Turn] = field(default_factory=list)
    pushed: dict[int, list[float]] = field(default_factory=dict)  # reply id -> arrival times
    open_since: float | None = None
    open_spans: list[tuple[float, float]] = field(default_factory=list)

    def socket_opened(self) -> None:
        self.open_since = time.time()

    def socket_closed(self) -> None:
        if self.open_since is not None:
            self.open_spans.append((self.open_since, time.time()))
            self.open_since = None

    def open_throughout(self, start: float, end: float) -> bool:
        spans = [*self.open_spans]
        if self.open_since is not None:
            spans.append((self.open_since, float("inf")))
        return any(a <= start and end <= b for a, b in spans)


@dataclass
class Fault:
    name: str
    started: float = 0.0
    ended: float = 0.0


class OwnRedis:
    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._data = data
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", str(self._data)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def signal(self, which: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(which)


def start_server(
    database_url: str, redis_url: str, data_dir: Path, port: int, log: Path | None
) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    environment.pop("REDIS_URL", None)
    environment.update(
        DATABASE_URL=database_url,
        DESKBOT_REDIS_URL=redis_url,
        DESKBOT_REDIS_PREFIX=f"faults-{port}",
        DESKBOT_DATA_DIR=str(data_dir),
        DESKBOT_LOG_LEVEL="WARNING",
        DESKBOT_DEMO_LOGINS="false",
        DESKBOT_RATE_SESSIONS_PER_IP_MIN="1000000",
        DESKBOT_RATE_MESSAGES_PER_IP_MIN="1000000",
        DESKBOT_RATE_MESSAGES_PER_VISITOR_MIN="1000000",
        DESKBOT_RATE_MESSAGES_PER_SENDER_MIN="1000000",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port), "--workers", "2"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab") if log else subprocess.DEVNULL,
    )


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


class Traffic:
    """One fault's sessions: each sends questions one after another until told to stop."""

    def __init__(
        self, base: str, http: aiohttp.ClientSession, texts: list[str], settle_s: float
    ) -> None:
        self.base = base
        self.settle_s = settle_s
        self.http = http
        self.texts = texts
        self.visitors: list[Visitor] = []
        self.stopping = asyncio.Event()

    async def new_visitor(self, websocket: bool) -> Visitor:
        while True:
            try:
                async with self.http.post(f"{self.base}/webchat/sessions", json={}) as response:
                    if response.status == 200:
                        body = await response.json()
                        visitor = Visitor(body["token"], body["visitor_id"], websocket)
                        self.visitors.append(visitor)
                        return visitor
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)

    async def websocket_visitor(self, visitor: Visitor, seed: int) -> None:
        rng = random.Random(seed)
        acks: dict[str, asyncio.Future[bool]] = {}
        replies = asyncio.Event()
        url = self.base.replace("http", "ws", 1) + f"/webchat/ws?token={visitor.token}"
        ws: aiohttp.ClientWebSocketResponse | None = None

        async def read(socket: aiohttp.ClientWebSocketResponse) -> None:
            async for frame in socket:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = frame.json()
                if data["type"] == "ack":
                    future = acks.get(data.get("client_message_id"))
                    if future is not None and not future.done():
                        future.set_result(True)
                elif data["type"] == "error":
                    for future in acks.values():
                        if not future.done():
                            future.set_result(False)
                elif data["type"] == "message" and data["message"]["direction"] == "out":
                    visitor.pushed.setdefault(data["message"]["id"], []).append(time.time())
                    replies.set()

        async def connected() -> aiohttp.ClientWebSocketResponse:
            nonlocal ws
            while ws is None or ws.closed:
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    ws = await self.http.ws_connect(url, heartbeat=None)
                    visitor.socket_opened()
                    reader = asyncio.create_task(read(ws))
                    reader.add_done_callback(lambda _: visitor.socket_closed())
                    return ws
                await asyncio.sleep(0.2)
            return ws

        try:
            n = 0
            while not self.stopping.is_set():
                turn = Turn(f"m{n}", time.time())
                visitor.turns.append(turn)
                before = len(visitor.pushed)
                while turn.acked_at is None:
                    socket = await connected()
                    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                    acks[turn.client_message_id] = future
                    turn.attempts += 1
                    try:
                        await socket.send_json(
                            {
                                "type": "message",
                                "text": rng.choice(self.texts),
                                "client_message_id": turn.client_message_id,
                            }
                        )
                        if await asyncio.wait_for(future, ACK_TIMEOUT_S):
                            turn.acked_at = time.time()
                    except (TimeoutError, aiohttp.ClientError, ConnectionError):
                        pass
                    if turn.acked_at is None:
                        await asyncio.sleep(0.2)
                deadline = time.time() + REPLY_WAIT_S
                while len(visitor.pushed) == before and time.time() < deadline:
                    replies.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(replies.wait(), 0.5)
                if len(visitor.pushed) > before:
                    turn.replied_at = max(t[0] for t in visitor.pushed.values())
                n += 1
                await asyncio.sleep(rng.uniform(0.3, 0.8))
            await asyncio.sleep(self.settle_s)  # late replies still arrive on the open socket
        finally:
            if ws is not None:
                await ws.close()

    async def http_visitor(self, visitor: Visitor, seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        headers = {"Authorization": f"Bearer {visitor.token}"}
        while not self.stopping.is_set():
            turn = Turn(f"m{n}", time.time())
            visitor.turns.append(turn)
            while turn.acked_at is None:
                turn.attempts += 1
                try:
                    async with self.http.post(
                        f"{self.base}/webchat/messages",
                        json={"text": rng.choice(self.texts), "client_message_id": f"m{n}"},
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=ACK_TIMEOUT_S * 2),
                    ) as response:
                        if response.status == 200:
                            body = await response.json()
                            turn.acked_at = time.time()
                            if body["replies"]:
                                turn.replied_at = turn.acked_at
                except (TimeoutError, aiohttp.ClientError):
                    pass
                if turn.acked_at is None:
                    await asyncio.sleep(0.2)
            n += 1
            await asyncio.sleep(rng.uniform(0.3, 0.8))


async def worker_kill(server: subprocess.Popen[bytes], **_: Any) -> None:
    workers = children(server.pid)
    os.kill(workers[0], signal.SIGKILL)
    for _ in range(600):  # until the supervisor has noticed (it then starts a new one)
        if workers[0] not in children(server.pid):
            return
        await asyncio.sleep(0.05)


async def pg_storm(database_name: str, **_: Any) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        for _ in range(10):
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
                database_name,
            )
            await asyncio.sleep(0.3)
    finally:
        await admin.close()


async def redis_restart(redis: OwnRedis, **_: Any) -> None:
    redis.kill()
    await asyncio.sleep(2.0)
    redis.start()


async def redis_freeze(redis: OwnRedis, **_: Any) -> None:
    redis.signal(signal.SIGSTOP)
    await asyncio.sleep(5.0)
    redis.signal(signal.SIGCONT)


FAULTS: dict[str, Callable[..., Awaitable[None]]] = {
    "worker-kill": worker_kill,
    "pg-storm": pg_storm,
    "redis-restart": redis_restart,
    "redis-freeze": redis_freeze,
}


async def reconcile(
    database_url: str, traffic: Traffic, fault: Fault, details: bool = False
) -> dict[str, Any]:
    by_thread = {v.visitor_id: v for v in traffic.visitors}
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT m.id, m.direction, m.external_id, m.created_at, m.handled_at,"
            " c.external_thread FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.channel = 'webchat' AND c.external_thread = ANY($1::text[])"
            " ORDER BY m.id",
            list(by_thread),
        )
        outbox = await connection.fetch(
            "SELECT o.status, count(*) AS n FROM outbox o WHERE o.channel = 'webchat'"
            " AND o.external_thread = ANY($1::text[]) GROUP BY o.status",
            list(by_thread),
        )
    finally:
        await connection.close()
    inbound = [r for r in rows if r["direction"] == "in"]
    replies = [r for r in rows if r["direction"] == "out"]
    accepted = sum(1 for v in traffic.visitors for t in v.turns if t.acked_at is not None)
    duplicate_replies = sum(len(times) - 1 for v in traffic.visitors for times in v.pushed.values())
    missed = held = 0
    fault_end = fault.ended
    for reply in replies:
        visitor = by_thread[reply["external_thread"]]
        created = reply["created_at"].timestamp()
        arrivals = visitor.pushed.get(reply["id"])
        if visitor.websocket and not arrivals and visitor.open_throughout(created, created + 5):
            missed += 1
            if details:
                spans = [
                    (round(a - fault.started, 1), round(b - fault.started, 1))
                    for a, b in visitor.open_spans
                ]
                print(
                    f"  missed reply {reply['id']} to {visitor.visitor_id[:8]}, created"
                    f" {created - fault.started:+.2f} s from the fault; socket open {spans},"
                    f" open since {visitor.open_since and visitor.open_since - fault.started}"
                )
        if visitor.websocket and arrivals and arrivals[0] - max(created, fault_end) > HELD_S:
            held += 1
    ack_ms = [
        (t.acked_at - t.first_sent) * 1000
        for v in traffic.visitors
        for t in v.turns
        if t.acked_at is not None
    ]
    reply_ms = [
        (t.replied_at - t.first_sent) * 1000
        for v in traffic.visitors
        for t in v.turns
        if t.replied_at is not None
    ]
    return {
        "fault": fault.name,
        "fault_s": round(fault.ended - fault.started, 1),
        "accepted": accepted,
        "stored": len(inbound),
        "duplicates": len(inbound) - len({r["external_id"] for r in inbound}),
        "answered": sum(1 for r in inbound if r["handled_at"] is not None),
        "replies": len(replies),
        "duplicate_replies": duplicate_replies,
        "missed_open_socket": missed,
        "held_over_5s": held,
        "ack_p99_ms": round(percentile(ack_ms, 99)),
        "reply_p99_ms": round(percentile(reply_ms, 99)),
        "outbox": {r["status"]: r["n"] for r in outbox},
    }


async def run_fault(
    name: str, args: argparse.Namespace, context: dict[str, Any], texts: list[str]
) -> dict[str, Any]:
    base = context["base"]
    async with aiohttp.ClientSession() as http:
        traffic = Traffic(base, http, texts, args.settle)
        visitors = [
            await traffic.new_visitor(websocket=i < args.websocket) for i in range(args.sessions)
        ]
        tasks = [
            asyncio.create_task(
                traffic.websocket_visitor(v, i) if v.websocket else traffic.http_visitor(v, i)
            )
            for i, v in enumerate(visitors)
        ]
        fault = Fault(name)
        await asyncio.sleep(FAULT_AT_S)
        fault.started = time.time()
        await FAULTS[name](**context)
        fault.ended = time.time()
        await asyncio.sleep(max(args.seconds - FAULT_AT_S - (fault.ended - fault.started), 2))
        traffic.stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), args.settle + 60)
        await wait_healthy(base, context["server"])
    return await reconcile(context["database_url"], traffic, fault, args.details)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Serve, then each fault in turn; its figures are printed as they come, and returned."""
    texts = questions(200)
    results = []
    with tempfile.TemporaryDirectory(prefix="deskbot-faults-") as tmp:
        database_url, database_name = await database("postgresql", Path(tmp))
        redis = OwnRedis(Path(tmp))
        redis.start()
        port = free_port()
        server = start_server(database_url, redis.url, Path(tmp) / "var", port, args.server_log)
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(base, server)
            for _ in range(600):
                if len(children(server.pid)) >= 2:
                    break
                await asyncio.sleep(0.1)
            context = {
                "base": base,
                "server": server,
                "redis": redis,
                "database_url": database_url,
                "database_name": database_name,
            }
            print(f"{datetime.now(UTC):%H:%M:%S} serving on {base}; sessions {args.sessions}")
            for name in args.faults.split(","):
                figures = await run_fault(name, args, context, texts)
                print(figures, flush=True)
                results.append(figures)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                server.kill()
            redis.kill()
            await drop(database_name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--websocket", type=int, default=35, help="of the sessions")
    parser.add_argument("--seconds", type=float, default=20.0, help="of traffic per fault")
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--settle", type=float, default=10.0, help="s sockets stay open after")
    parser.add_argument("--server-log", type=Path)
    parser.add_argument("--details", action="store_true", help="print each missed reply")
    args = parser.parse_args()
    unknown = set(args.faults.split(",")) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
