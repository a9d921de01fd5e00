"""Shared fixtures: real databases (SQLite and PostgreSQL), settings, the real app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot import keys
from bot.app import init_app
from bot.services import Services, build_services, running
from bot.settings import Settings, load_settings

PG_ADMIN_DSN = os.environ.get("DESKBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def shared_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained models are keyed by their training data, so tests can share them."""
    return tmp_path_factory.mktemp("nlu-models")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, for the mail servers' TLS."""
    from tests.mail_servers import self_signed_cert

    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'deskbot.db'}"
        return
    name = f"deskbot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def make_settings(
    tmp_path: Path, database_url: str, shared_models: Path
) -> Callable[..., Settings]:
    data_dir = tmp_path / "var"
    (data_dir / "nlu").mkdir(parents=True)
    (data_dir / "nlu" / "local").symlink_to(shared_models)

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "database_url": database_url,
            "outbox_poll_interval_s": 0.05,
            "outbox_base_delay_s": 0.05,
            "log_json": False,
            "demo_logins": False,
            **overrides,
        }
        return load_settings(None, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


@pytest.fixture
async def services(settings: Settings, channel: RecordingChannel) -> AsyncIterator[Services]:
    """The real services, delivering through the recording channel named 'test'."""
    async with running(build_services(settings, {channel.name: channel})) as ready:
        yield ready


ClientFactory = Callable[[web.Application], Awaitable[TestClient]]


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient:
    """`settings` first: fixtures are torn down in reverse, so the app stops before its
    database is dropped."""
    return await aiohttp_client(await init_app(settings))


def admin_headers(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.app[keys.SETTINGS].admin_token}"}


class RecordingChannel:
    """A stand-in for a remote platform: records what was sent, fails when told to."""

    def __init__(self, name: str = "test") -> None:
        self.name = name
        self.sent: list[tuple[str, str]] = []
        self.failures_left = 0
        self.down = False
        self.outage = False  # failures are the platform's being away, not the recipient's
        self.refuses: set[str] = set()  # threads whose replies fail, not as an outage

    async def send_text(self, target: Any, message: Any) -> None:
        from channels.base import DeliveryError

        if target.external_thread in self.refuses:
            raise DeliveryError("recipient refused (simulated)")
        if self.down or self.failures_left > 0:
            self.failures_left = max(0, self.failures_left - 1)
            raise DeliveryError("platform unavailable (simulated)", outage=self.outage)
        self.sent.append((target.external_thread, message.text))


async def eventually(predicate: Callable[[], object], within: float = 5.0) -> None:
    """Wait until a condition holds, e.g. a fake platform saw a call; a coroutine function's
    answer is awaited (a coroutine object itself would always look true)."""
    import asyncio
    import inspect

    async def holds() -> bool:
        answer = predicate()
        if inspect.isawaitable(answer):
            answer = await answer
        return bool(answer)

    deadline = asyncio.get_running_loop().time() + within
    while not await holds():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def within_one_window(window_s: int = 60, needed_s: float = 10.0) -> None:
    """Rate limits used to count in fixed windows; bot/rate_limits.py's moving window needs
    none of this. Kept until the last test that calls it is rid of it."""
    import asyncio
    import time

    remaining = window_s - time.time() % window_s
    if remaining < needed_s:
        await asyncio.sleep(remaining + 0.05)
