"""`deskbot serve --workers 2`: two processes share the port, PostgreSQL and Redis; a worker
killed with SIGKILL is started again; configurations that cannot be shared are refused."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.mail_servers import free_port
from tests.test_faults import serve, wait_healthy

on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
QUESTIONS = [
    "what payment methods do you accept?",
    "how do I reset my password?",
    "how much does it cost",
    "can I export my data",
]


def environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "DESKBOT_REDIS_PREFIX": f"workers-{uuid.uuid4().hex[:8]}",
        "DESKBOT_DATA_DIR": str(tmp_path / "var"),
        "DESKBOT_LOG_LEVEL": "WARNING",
        "DESKBOT_RATE_MESSAGES_PER_VISITOR_MIN": "1000",
    }


async def workers_answering(http: aiohttp.ClientSession, base: str, want: set[int]) -> set[int]:
    """Each request on a new connection; the kernel hands connections to either process."""
    seen: set[int] = set()
    for _ in range(400):
        async with http.get(f"{base}/healthz") as response:
            if response.status == 200:
                seen.add((await response.json())["worker"])
        if want <= seen:
            break
        await asyncio.sleep(0.02)
    return seen


def worker_pids(parent: int) -> dict[int, int]:
    """worker index → pid, from the children's command lines."""
    found: dict[int, int] = {}
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    for pid in map(int, children):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"--worker-index" in argv:
            found[int(argv[argv.index(b"--worker-index") + 1])] = pid
    return found


@on_postgresql
async def test_two_workers_serve_one_conversation_and_survive_a_kill(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = serve(environment(tmp_path, database_url), port, log, "--workers", "2")
    try:
        await wait_healthy(port, server)
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            assert await workers_answering(http, base, {0, 1}) == {0, 1}, log.read_text()[-2000:]
            async with http.post(f"{base}/webchat/sessions", json={}) as response:
                auth = {"Authorization": f"Bearer {(await response.json())['token']}"}
            token = auth["Authorization"].split()[1]
            async with http.ws_connect(f"{base}/webchat/ws?token={token}") as ws:
                await ws.receive_json(timeout=10)  # history
                expected: list[int] = []
                for n, text in enumerate(QUESTIONS * 3):
                    body = {"text": text, "client_message_id": f"m{n}"}
                    async with http.post(
                        f"{base}/webchat/messages", json=body, headers=auth
                    ) as response:
                        assert response.status == 200
                        expected += [r["id"] for r in (await response.json())["replies"]]
                pushed: list[int] = []
                while len(pushed) < len(expected):
                    frame = await ws.receive_json(timeout=10)
                    if frame.get("type") == "message" and frame["message"]["sender_kind"] == "bot":
                        pushed.append(frame["message"]["id"])
                assert sorted(pushed) == sorted(expected)  # each reply once, whichever process

            killed = worker_pids(server.pid)[1]
            os.kill(killed, signal.SIGKILL)
            await asyncio.sleep(0.5)
            assert await workers_answering(http, base, {0, 1}) == {0, 1}
            assert worker_pids(server.pid)[1] != killed
            async with http.post(
                f"{base}/webchat/messages", json={"text": "how much does it cost"}, headers=auth
            ) as response:
                assert "per user" in (await response.json())["replies"][0]["text"]
    finally:
        server.terminate()
        server.wait(timeout=40)
    assert server.returncode == 0
    assert "worker exited; starting it again" in log.read_text()


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"REDIS_URL": ""}, "--workers needs REDIS_URL"),
        ({"DATABASE_URL": ""}, "--workers needs PostgreSQL"),
    ],
)
def test_workers_refuse_what_processes_cannot_share(
    tmp_path: Path, settings: dict[str, str], refusal: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    environment.update(
        DATABASE_URL="postgresql://postgres@127.0.0.1/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DESKBOT_DATA_DIR=str(tmp_path / "var"),
    )
    environment.update(settings)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--workers", "2"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and refusal in result.stderr


def test_worker_sockets_share_one_port_but_never_another_servers() -> None:
    from bot.workers import listening_sockets

    socks = listening_sockets("127.0.0.1", 0, 3)
    try:
        port = socks[0].getsockname()[1]
        assert {s.getsockname()[1] for s in socks} == {port}
        # A second `serve --workers` on the same port must fail, not split the traffic.
        with pytest.raises(OSError):
            listening_sockets("127.0.0.1", port, 2)
    finally:
        for sock in socks:
            sock.close()
