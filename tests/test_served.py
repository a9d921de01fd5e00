"""A real `deskbot serve` from an empty directory: what a hostile network peer or another user
on the machine can get from it (slow headers, file modes, what is printed, response headers)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.mail_servers import free_port


@contextmanager
def served(cwd: Path, port: int, **env: str) -> Iterator[subprocess.Popen[str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DESKBOT_")}
    environment.pop("DATABASE_URL", None)
    environment.update({"DESKBOT_LOG_LEVEL": "WARNING", **env})
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, "server exited"
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def dribble_headers(port: int, gap_s: float = 1.0, up_to_s: float = 40.0) -> float:
    """Send a request's headers a line at a time, never finishing; seconds until closed."""
    with socket.create_connection(("127.0.0.1", port)) as peer:
        peer.settimeout(gap_s)
        started = time.monotonic()
        peer.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        while time.monotonic() - started < up_to_s:
            try:
                peer.sendall(b"X-Slow: 1\r\n")
                if peer.recv(1024) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
        return time.monotonic() - started


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_served_deskbot_keeps_its_data_private_and_its_secrets_quiet(tmp_path: Path) -> None:
    port = free_port()
    with served(tmp_path, port, DESKBOT_REQUEST_HEADER_TIMEOUT_S="3") as first:
        held = dribble_headers(port)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json") as answer:
            headers = answer.headers
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/webchat/widget.js") as answer:
            widget_headers = answer.headers
    printed_first = first.stdout.read() if first.stdout else ""
    var = tmp_path / "var"
    assert held < 8, f"a slow-header connection was held {held:.1f} s"
    assert headers["Server"] == "deskbot" and "aiohttp" not in str(headers)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert widget_headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age" in widget_headers["Cache-Control"]  # the widget may be cached

    assert mode(var) == 0o700
    for name in ("deskbot.db", "admin_token.txt", "secret_key.txt", "demo-logins.txt"):
        assert mode(var / name) == 0o600, name
    for companion in ("deskbot.db-wal", "deskbot.db-shm"):
        if (var / companion).exists():
            assert mode(var / companion) == 0o600, companion

    token = (var / "admin_token.txt").read_text().strip()
    logins = (var / "demo-logins.txt").read_text().strip()
    assert token in printed_first and logins in printed_first
    assert str(var / "admin_token.txt") in printed_first

    with served(tmp_path, free_port()) as second:
        pass
    printed_second = second.stdout.read() if second.stdout else ""
    assert token not in printed_second and "password:" not in printed_second
    assert "admin_token.txt" in printed_second and "demo-logins.txt" in printed_second


def test_an_older_deskbots_readable_data_directory_is_tightened(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    (var / "admin_token.txt").write_text("old-token\n")
    (var / "admin_token.txt").chmod(0o644)
    os.utime(var / "admin_token.txt", (time.time() - 86400, time.time() - 86400))
    with served(tmp_path, free_port()) as server:
        pass
    assert mode(var) == 0o700 and mode(var / "deskbot.db") == 0o600
    assert mode(var / "admin_token.txt") == 0o600
    printed = server.stdout.read() if server.stdout else ""
    assert "old-token" not in printed
