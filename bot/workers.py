"""`deskbot serve --workers N`: N server processes sharing one listening socket, supervised.

The parent prepares the database, the knowledge base, the model and the demo logins once, binds
one socket per worker on the port (SO_REUSEPORT: the kernel spreads connections evenly), then
starts N copies of the same command, each accepting on its inherited socket. A worker that dies
is started again on the same socket, so connections that arrive meanwhile wait in its queue
rather than fail; SIGTERM or Ctrl-C stops them all. Events reach every process through Redis,
so any message can arrive at any worker and every socket still gets it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.settings import Settings

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX_S = 30.0
STOP_GRACE_S = 30.0


class WorkersUnsupported(ValueError):
    """This configuration cannot be served by several processes."""


def check_can_fork(settings: Settings, workers: int) -> None:
    if workers < 2:
        return
    if not settings.redis_url:
        raise WorkersUnsupported(
            "--workers needs REDIS_URL: events must reach the sockets held by every process"
        )
    if not settings.database_url or settings.database_url.startswith("sqlite"):
        raise WorkersUnsupported("--workers needs PostgreSQL (DATABASE_URL), not SQLite")
    if settings.nlu_engine == "rasa" and not settings.rasa_url:
        raise WorkersUnsupported(
            "--workers with the rasa engine needs RASA_URL: one Rasa server shared by all"
        )


async def prepare_once(settings: Settings) -> None:
    """What every worker would otherwise race to do on an empty database."""
    from bot.accounts.demo import ensure_demo_logins
    from bot.accounts.users import Users
    from bot.services import build_services, prepare

    services = build_services(settings, {})
    try:
        await prepare(services)
        if settings.demo_logins:
            await ensure_demo_logins(Users(services.sessions), settings.data_dir)
    finally:
        await services.db.dispose()


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per worker, all on one port (SO_REUSEPORT): the kernel spreads new
    connections evenly across them. A single shared socket would not: asyncio accepts up to
    a backlog's worth of connections per wake-up, so whichever worker woke first took most."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # A plain bind first: with SO_REUSEPORT alone we would silently join another server's
    # group on this port (same user) and share its traffic, instead of "address in use".
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        port = probe.getsockname()[1]
    socks: list[socket.socket] = []
    for _ in range(count):
        sock = socket.create_server((host, port), family=family, backlog=1024, reuse_port=True)
        sock.set_inheritable(True)
        port = sock.getsockname()[1]  # with port 0, the rest join the port the first got
        socks.append(sock)
    return socks


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    failures: int = 0


class Supervisor:
    """Starts the workers, restarts the ones that die, stops them all on a signal."""

    def __init__(self, command: list[str], socks: list[socket.socket]) -> None:
        self._command = command
        self._socks = socks
        self._count = len(socks)
        self._workers: dict[int, _Worker] = {}
        self._stopping = False

    def _spawn(self, index: int, failures: int = 0) -> None:
        fd = self._socks[index].fileno()
        process = subprocess.Popen(
            [*self._command, "--listen-fd", str(fd), "--worker-index", str(index)],
            pass_fds=(fd,),
        )
        self._workers[index] = _Worker(index, process, failures=failures)
        log.info("worker started", extra={"worker": index, "pid": process.pid})

    def stop(self, *_: object) -> None:
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for index in range(self._count):
            self._spawn(index)
        restart_at: dict[int, float] = {}
        while not self._stopping:
            time.sleep(0.2)
            now = time.monotonic()
            for index, worker in list(self._workers.items()):
                code = worker.process.poll()
                if code is None or index in restart_at:
                    continue
                quick = now - worker.started < 10
                worker.failures = worker.failures + 1 if quick else 1
                delay = min(RESTART_BACKOFF_MAX_S, 0.5 * 2 ** (worker.failures - 1))
                log.error(
                    "worker exited; starting it again",
                    extra={"worker": index, "exit_code": code, "restart_in_s": delay},
                )
                restart_at[index] = now + delay
            for index, when in list(restart_at.items()):
                if now >= when and not self._stopping:
                    del restart_at[index]
                    self._spawn(index, self._workers[index].failures)
        return self._shutdown()

    def _shutdown(self) -> int:
        for worker in self._workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in self._workers.values():
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        return 0


def worker_command() -> list[str]:
    """The command this process was started with, run again as a worker."""
    return [sys.executable, "-m", "bot", *sys.argv[1:]]


def serve_workers(settings: Settings, count: int, announce: Callable[[int], None]) -> int:
    asyncio.run(prepare_once(settings))
    socks = listening_sockets(settings.host, settings.port, count)
    os.environ["DESKBOT_DEMO_LOGINS"] = "false"  # the parent made them, or there are users
    announce(socks[0].getsockname()[1])
    return Supervisor(worker_command(), socks).run()
