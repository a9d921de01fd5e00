"""The Rasa backend against a real Rasa 3.6.21 server in its own virtualenv.

The first run installs Rasa (about 80 s, 2.7 GB) into ~/.cache/deskbot; later runs reuse it.
Training uses a small slice of the demo knowledge base and few epochs (a setting).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot import keys
from bot.app import init_app
from bot.database import upgrade
from bot.nlu.rasa_env import RasaEnvironment, default_home
from bot.services import build_services
from bot.settings import Settings
from knowledge.demo import demo_intents
from knowledge.rasa_project import write_rasa_project
from tests.conftest import ClientFactory
from tests.test_webchat import new_visitor, send

SLICE = {
    "greet",
    "goodbye",
    "thanks",
    "human_handoff",
    "out_of_scope",
    "reset_password",
    "payment_methods",
    "pricing_plans",
    "sync_not_working",
    "refund_request",
}


@pytest.fixture(scope="session")
def rasa_env() -> RasaEnvironment:
    env = RasaEnvironment(default_home())
    env.setup()
    return env


def test_setup_is_idempotent(rasa_env: RasaEnvironment) -> None:
    assert rasa_env.installed()
    assert rasa_env.setup() is False


async def test_exported_project_passes_rasa_data_validate(
    rasa_env: RasaEnvironment, tmp_path: Path
) -> None:
    write_rasa_project(demo_intents(), tmp_path, epochs=5)
    output = await rasa_env.validate(tmp_path)
    assert "No story structure conflicts" in output or "validation" in output.lower()


@pytest.fixture
async def rasa_client(
    rasa_env: RasaEnvironment,
    make_settings: Callable[..., Settings],
    aiohttp_client: ClientFactory,
    unused_tcp_port_factory: Callable[[], int],
) -> AsyncIterator[TestClient]:
    settings = make_settings(
        nlu_engine="rasa", rasa_epochs=60, rasa_port=unused_tcp_port_factory(), load_demo_kb=False
    )
    seed = build_services(settings, {})
    await upgrade(seed.db)
    await seed.knowledge.import_intents([i for i in demo_intents() if i.name in SLICE], "test")
    await seed.db.dispose()
    client = await aiohttp_client(await init_app(settings))
    assert (await health(client))["status"] == "ok"  # serving (locally) while Rasa trains
    for _ in range(1200):
        if (await health(client))["rasa"]["answering"] == "rasa":
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("rasa never came up")
    yield client


async def health(client: TestClient) -> dict:  # type: ignore[type-arg]
    return await (await client.get("/healthz")).json()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_rasa_answers_then_local_covers_while_it_is_down(rasa_client: TestClient) -> None:
    client = rasa_client
    backend = client.app[keys.NLU].rasa
    assert backend is not None and backend.server is not None
    assert (await health(client))["rasa"]["answering"] == "rasa"
    visitor = await new_visitor(client)

    _, answer = await send(client, visitor, "I forgot my password")
    assert "Forgot password" in answer["replies"][0]["text"]
    assert client.app[keys.NLU].local_fallbacks == 0

    backend.server.kill()  # Rasa crashes mid-conversation
    _, covered = await send(client, visitor, "what payment methods do you accept")
    assert "PayPal" in covered["replies"][0]["text"]
    assert client.app[keys.NLU].local_fallbacks >= 1
    assert (await health(client))["rasa"]["answering"] == "local"

    for _ in range(240):  # deskbot's supervisor restarts Rasa; the breaker lets it back in
        if (await health(client))["rasa"]["answering"] == "rasa":
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(backend.client.breaker.reset_after_s)
    fallbacks = client.app[keys.NLU].local_fallbacks
    _, back = await send(client, visitor, "how much does it cost")
    assert "per user" in back["replies"][0]["text"]
    assert client.app[keys.NLU].local_fallbacks == fallbacks
    assert (await health(client))["rasa"]["answering"] == "rasa"


def test_circuit_breaker_opens_waits_and_tries_again() -> None:
    from bot.nlu.circuit import BreakerState, CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allows()
        breaker.failed()
    assert breaker.state is BreakerState.OPEN and not breaker.allows()
    now[0] = 10.0
    assert breaker.state is BreakerState.HALF_OPEN and breaker.allows()
    breaker.failed()  # the trial failed: open again for another period
    assert breaker.state is BreakerState.OPEN
    now[0] = 20.0
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED


def test_nlu_evaluate_with_the_rasa_engine(rasa_env: RasaEnvironment, tmp_path: Path) -> None:
    import json

    from tests.test_cli import run

    intents = {
        "reset": [
            "how do i reset my password",
            "forgot my password",
            "password reset please",
            "i can't remember my password",
            "change my password",
            "lost password",
        ],
        "price": [
            "what does the pro plan cost",
            "how much is it",
            "pricing please",
            "how expensive is the business plan",
            "price per user",
            "cost of a plan",
        ],
        "parcel": [
            "where is my parcel",
            "my package has not arrived",
            "track my delivery",
            "when will my order come",
            "parcel status",
            "delivery is late",
        ],
    }
    train = "text,intent\n" + "\n".join(f"{t},{i}" for i, ts in intents.items() for t in ts)
    (tmp_path / "train.csv").write_text(train + "\n")
    (tmp_path / "test.csv").write_text(
        "text,intent\nplease reset my password,reset\nhow much does pro cost,price\n"
        "where is my package,parcel\n"
    )
    result = run(
        [
            "nlu",
            "evaluate",
            "--train",
            "train.csv",
            "--test",
            "test.csv",
            "--engine",
            "rasa",
            "--epochs",
            "40",
            "--json",
        ],
        tmp_path,
        # Rasa trains once per calibration fold and once for good: minutes on a busy CI box.
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["examples"] == 3 and figures["train_seconds"] > 0
    assert figures["in_scope_accuracy"] >= 2 / 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_faq_edit_retrains_rasa_and_swaps_the_model_live(rasa_client: TestClient) -> None:
    from tests.conftest import admin_headers
    from tests.test_knowledge_api import NEW_INTENT

    client = rasa_client
    backend = client.app[keys.NLU].rasa
    assert backend is not None
    before = backend.version
    created = await client.post("/api/intents", json=NEW_INTENT, headers=admin_headers(client))
    assert created.status == 201
    for _ in range(600):  # Rasa trains in the background; the old model answers meanwhile
        status = await backend.client.status()
        if backend.version != before and status.model_file == f"{backend.version}.tar.gz":
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("the new Rasa model was not loaded")
    for _ in range(120):  # the background probe may have caught Rasa busy loading the model
        if backend.answering == "rasa":
            break
        await asyncio.sleep(0.5)
    fallbacks = client.app[keys.NLU].local_fallbacks
    visitor = await new_visitor(client)
    _, answer = await send(client, visitor, "can I bring my dog to the office?")
    assert answer["replies"][0]["text"] == "Dogs are welcome on Fridays."
    assert client.app[keys.NLU].local_fallbacks == fallbacks  # Rasa answered, not the fallback
