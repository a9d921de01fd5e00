"""Serving while Rasa starts: the port answers at once on the local engine, parses switch to
Rasa when it is up, and /healthz says which engine answers without waiting for traffic.

A local HTTP server plays Rasa's HTTP API (GET /status, PUT /model, POST /model/parse), as
tests/fake_telegram.py plays Telegram's; the real Rasa is exercised in tests/test_rasa.py.
The model archive is there already, so deskbot loads it instead of training."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import init_app
from bot.nlu.rasa_backend import model_version
from bot.settings import Settings
from knowledge.demo import demo_intents
from tests.conftest import ClientFactory
from tests.test_webchat import new_visitor, send

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class StandInRasa:
    """Answers like `rasa run --enable-api` once `up`; before that, like one still starting."""

    def __init__(self) -> None:
        self.up = False
        self.model_file: str | None = None
        app = web.Application()
        app.router.add_get("/status", self.status)
        app.router.add_put("/model", self.load)
        app.router.add_post("/model/parse", self.parse)
        self.server = TestServer(app)

    @property
    def url(self) -> str:
        return str(self.server.make_url(""))

    def _refuse_unless_up(self) -> None:
        if not self.up:
            raise web.HTTPServiceUnavailable()

    async def status(self, request: web.Request) -> web.Response:
        self._refuse_unless_up()
        return web.json_response({"model_file": self.model_file})

    async def load(self, request: web.Request) -> web.Response:
        self._refuse_unless_up()
        self.model_file = (await request.json())["model_file"].rsplit("/", 1)[-1]
        return web.Response(status=204)

    async def parse(self, request: web.Request) -> web.Response:
        self._refuse_unless_up()
        # Whatever is asked, this Rasa thinks it is about prices: tells who answered.
        return web.json_response(
            {"intent_ranking": [{"name": "pricing_plans", "confidence": 0.99}]}
        )


@pytest.fixture
async def rasa() -> AsyncIterator[StandInRasa]:
    stand_in = StandInRasa()
    await stand_in.server.start_server()
    yield stand_in
    await stand_in.server.close()


@pytest.fixture
async def client(
    rasa: StandInRasa, make_settings: Callable[..., Settings], aiohttp_client: ClientFactory
) -> TestClient:
    settings = make_settings(nlu_engine="rasa", rasa_url=rasa.url, rasa_epochs=5)
    models = settings.data_dir / "rasa" / "models"
    models.mkdir(parents=True)
    enabled = [i for i in demo_intents() if i.enabled]
    (models / f"{model_version(enabled, 5)}.tar.gz").write_bytes(b"")  # trained before
    return await aiohttp_client(await init_app(settings))


async def health(client: TestClient) -> dict[str, Any]:
    response = await client.get("/healthz")
    assert response.status == 200
    return await response.json()


async def answered_by(client: TestClient, engine: str, within: float = 15.0) -> None:
    """/healthz, asked with no other traffic, comes to say `engine` answers."""
    deadline = asyncio.get_running_loop().time() + within
    while (await health(client))["rasa"]["answering"] != engine:
        assert asyncio.get_running_loop().time() < deadline, f"{engine} never answered"
        await asyncio.sleep(0.2)


async def test_serves_on_the_local_engine_until_rasa_is_up_then_on_rasa(
    rasa: StandInRasa, client: TestClient
) -> None:
    assert (await health(client))["rasa"]["answering"] == "local"  # listening already
    visitor = await new_visitor(client)
    _, local = await send(client, visitor, "hello")
    assert local["replies"][0]["text"].startswith("Hi!")
    assert (await health(client))["rasa"]["local_fallbacks"] == 1

    rasa.up = True
    await answered_by(client, "rasa")
    _, by_rasa = await send(client, visitor, "hello")
    assert "per user" in by_rasa["replies"][0]["text"]  # Rasa's (stand-in) intent

    rasa.up = False  # Rasa goes away: /healthz says so without a parse having failed
    await answered_by(client, "local")
    _, covered = await send(client, visitor, "hello")
    assert covered["replies"][0]["text"].startswith("Hi!")

    rasa.up = True
    await answered_by(client, "rasa")
