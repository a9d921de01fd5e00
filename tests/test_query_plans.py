"""No statement deskbot sends while it works scans a big table.

A database seeded with months of conversations (small enough for CI), then the real app used
as customers, agents and admins use it: web-chat messages (an FAQ question, Chinese, an angry
one, a request for a person, a rating), an agent's claim, reply, hand-back and resolve, and
every GET route of the API and the pages, reports over a year included. Every statement the
app sent meanwhile is then planned by PostgreSQL (the production database); a full scan of
conversations, messages, customers, customer_identities or outbox fails the test, naming the
statement.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient

from bench.seed import Size, seed_url
from bot import database, keys
from bot.app import init_app
from bot.report_rollup import roll_up, roll_up_conversations
from bot.settings import Settings
from models import AgentRole
from models.base import utcnow
from tests.conftest import ClientFactory, admin_headers
from tests.query_plans import pg_scans, recording
from tests.test_accounts import add_user, sign_in
from tests.test_webchat import new_visitor, send

SIZE = Size(customers=3_000, conversations=12_000, messages=100_000)


@pytest.fixture
async def seeded(settings: Settings) -> AsyncIterator[Settings]:
    engine = database.make_engine(settings.sqlalchemy_url)
    try:
        await database.upgrade(engine)
    finally:
        await engine.dispose()
    await seed_url(settings.database_url, SIZE, datetime.now(UTC))
    yield settings


@pytest.fixture
async def seeded_client(seeded: Settings, aiohttp_client: ClientFactory) -> TestClient:
    return await aiohttp_client(await init_app(seeded))


async def _use_as_everyone_does(client: TestClient) -> None:
    admin = admin_headers(client)
    agent = await add_user(client, "ann@acme.test")
    visitor = await new_visitor(client)
    for text in (
        "What payment methods do you accept?",
        "我怎么重置密码？",
        "I was charged twice and I am furious!!!",
        "I want to talk to a human",
        "are you there?",
    ):
        status, _ = await send(client, visitor, text)
        assert status == 200
    queue = await (await client.get("/api/queue", headers=admin)).json()
    waiting = max(e["conversation_id"] for e in queue["waiting"])  # ours is the newest
    path = f"/api/conversations/{waiting}"
    for action, body in (
        ("claim", {"agent_id": agent}),
        ("reply", {"agent_id": agent, "text": "Hello, I can help with that."}),
        ("handback", {"agent_id": agent}),
        ("claim", {"agent_id": agent}),
        ("resolve", {"agent_id": agent}),
    ):
        response = await client.post(f"{path}/{action}", json=body, headers=admin)
        assert response.status == 200, (action, await response.text())
    await send(client, visitor, "5")
    await _every_get_route(client, waiting, agent)
    await add_user(client, "root@acme.test", AgentRole.ADMIN)
    await sign_in(client, "root@acme.test")
    for page in ("/console", "/admin/reports", "/admin/customers", "/admin/history"):
        assert (await client.get(page)).status == 200, page
    await asyncio.sleep(0.3)  # the outbox delivers the last replies


async def _every_get_route(client: TestClient, conversation: int, agent: int) -> None:
    admin = admin_headers(client)
    customer = (
        await (await client.get(f"/api/conversations/{conversation}", headers=admin)).json()
    )["customer_id"]
    ids = {"id": str(conversation)}
    paths = []
    for route in client.app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        if route.method != "GET" or not canonical.startswith("/api/"):
            continue
        if canonical.startswith("/api/customers/"):
            paths.append(canonical.replace("{id}", str(customer)))
        elif canonical.startswith("/api/agents/"):
            paths.append(canonical.replace("{id}", str(agent)))
        elif "{" not in canonical or re.fullmatch(r"/api/conversations/\{id\}.*", canonical):
            paths.append(canonical.format(**ids))
    paths += [
        "/api/reports?days=365",
        "/api/reports.csv?days=365",
        "/api/customers?q=customer12",
        "/api/customers?q=12",
        "/api/conversations?state=resolved",
        "/api/conversations?state=queued",
    ]
    for path in paths:
        response = await client.get(path, headers=admin)
        assert response.status in {200, 404}, (path, response.status, await response.text())
    erased = await client.post(
        f"/api/customers/{customer}/erase", json={"confirm": customer}, headers=admin
    )
    assert erased.status == 200, await erased.text()
    # the rollups, as the service's hourly job runs them once the days are over and settled
    tomorrow = utcnow() + timedelta(days=1, hours=3)
    await roll_up(client.app[keys.SESSIONS], tomorrow, timedelta(hours=2))
    await roll_up_conversations(client.app[keys.SESSIONS], utcnow() + timedelta(days=8))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_no_statement_scans_a_big_table(seeded_client: TestClient, seeded: Settings) -> None:
    engine = seeded_client.app[keys.SESSIONS].kw["bind"]
    with recording(engine) as log:
        await _use_as_everyone_does(seeded_client)
    statements = log.planned()
    assert len(statements) > 40, "the scenario ran too few statements to say anything"
    scans = await pg_scans(seeded.database_url, statements)
    assert not scans, "\n".join(map(str, scans))
