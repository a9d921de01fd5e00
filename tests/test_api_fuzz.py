"""Schemathesis against the live OpenAPI document of a running `deskbot serve`: whatever the
generated input, no 500s."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from tests.mail_servers import free_port
from tests.test_faults import serve, wait_healthy


async def test_no_generated_request_gets_a_server_error(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    server = serve(
        {
            "DATABASE_URL": database_url,
            "DESKBOT_DATA_DIR": str(tmp_path / "var"),
            "DESKBOT_LOG_LEVEL": "ERROR",
            "DESKBOT_DEMO_LOGINS": "false",
            "DESKBOT_RATE_SESSIONS_PER_IP_MIN": "1000000",
            "DESKBOT_RATE_MESSAGES_PER_IP_MIN": "1000000",
            "DESKBOT_RATE_MESSAGES_PER_VISITOR_MIN": "1000000",
        },
        port,
        tmp_path / "server.log",
    )
    try:
        await wait_healthy(port, server)
        token = (tmp_path / "var" / "admin_token.txt").read_text().strip()
        schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
        assert schemathesis, "schemathesis is in the test extras"
        result = await asyncio.to_thread(
            subprocess.run,
            [
                schemathesis, "run", f"http://127.0.0.1:{port}/api/openapi.json",
                "--url", f"http://127.0.0.1:{port}",
                "-H", f"Authorization: Bearer {token}",
                "--checks", "not_a_server_error",
                "--max-examples", "15",
                "--seed", "20261124",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    server_log = (tmp_path / "server.log").read_text()[-3000:]
    assert result.returncode == 0, result.stdout[-4000:] + server_log
    assert "passed" in result.stdout
