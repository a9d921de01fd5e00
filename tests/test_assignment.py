"""Automatic assignment: waiting chats go to online agents with room, least loaded or in turn,
per team; a gone agent's chats go back to the queue and on to someone who is there."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from bot import keys
from models import Agent, Conversation
from models.base import utcnow
from tests.conftest import admin_headers, eventually
from tests.test_agent_api import make_agent
from tests.test_webchat import new_visitor, send


async def present(client: TestClient, *agent_ids: int, seen_ago_s: float = 0) -> None:
    """As an open, used console leaves them (presence.js beats)."""
    at = utcnow() - timedelta(seconds=seen_ago_s)
    async with client.app[keys.SESSIONS]() as session:
        await session.execute(
            update(Agent)
            .where(Agent.id.in_(agent_ids))
            .values(status="online", last_seen_at=at, last_active_at=at)
        )
        await session.commit()


async def set_modes(client: TestClient, **change: object) -> None:
    response = await client.patch("/api/assignment", json=change, headers=admin_headers(client))
    assert response.status == 200, await response.text()


async def escalate(client: TestClient, text: str = "I need a human") -> int:
    _, body = await send(client, await new_visitor(client), text)
    assert body["state"] in {"queued", "agent"}
    return int(body["conversation_id"])


async def owners(client: TestClient) -> dict[int, int | None]:
    async with client.app[keys.SESSIONS]() as session:
        rows = await session.execute(select(Conversation.id, Conversation.assigned_agent_id))
        return {row.id: row.assigned_agent_id for row in rows}


async def test_least_loaded_spreads_chats_and_respects_capacity(client: TestClient) -> None:
    ann = await make_agent(client, "ann@acme.test")
    bob = await make_agent(client, "bob@acme.test", max_concurrent=1)
    await present(client, ann, bob)
    await set_modes(client, default="least_loaded")
    chats = [await escalate(client) for _ in range(3)]

    async def all_assigned() -> bool:
        got = await owners(client)
        return all(got.get(c) for c in chats)

    await eventually(all_assigned, within=15)
    got = await owners(client)
    assert sorted(got[c] for c in chats) == sorted([ann, ann, bob])  # bob has room for one
    fourth = await escalate(client)  # ann has room (3), bob none

    async def fourth_to_ann() -> bool:
        return (await owners(client)).get(fourth) == ann

    await eventually(fourth_to_ann, within=15)


async def test_round_robin_takes_turns_and_a_manual_team_waits(client: TestClient) -> None:
    ann = await make_agent(client, "ann@acme.test", teams=["support", "billing"])
    bob = await make_agent(client, "bob@acme.test", teams=["support", "billing"])
    await present(client, ann, bob)
    await set_modes(client, default="round_robin", teams={"billing": "manual"})
    first, second = await escalate(client), await escalate(client)
    billing = await escalate(client, "I want a person, I was charged twice for my invoice")

    async def both() -> bool:
        got = await owners(client)
        return bool(got.get(first) and got.get(second))

    await eventually(both, within=15)
    got = await owners(client)
    assert {got[first], got[second]} == {ann, bob}
    async with client.app[keys.SESSIONS]() as session:
        waiting = await session.get(Conversation, billing)
    assert waiting is not None and waiting.team == "billing"
    assert waiting.state == "queued" and waiting.assigned_agent_id is None


async def test_a_gone_agents_chat_goes_back_to_the_queue_and_to_who_is_there(
    client: TestClient,
) -> None:
    ann = await make_agent(client, "ann@acme.test")
    bob = await make_agent(client, "bob@acme.test")
    await present(client, ann)
    await set_modes(client, default="least_loaded")
    chat = await escalate(client)

    async def owned_by(agent_id: int) -> bool:
        return (await owners(client)).get(chat) == agent_id

    await eventually(lambda: owned_by(ann), within=15)
    client.app[keys.ASSIGNER].requeue_grace_s = 1  # 20 s by default: a page change is no leaving
    await present(client, ann, seen_ago_s=3600)  # her browser closed an hour ago
    await present(client, bob)
    await eventually(lambda: owned_by(bob), within=20)
    notes = await (
        await client.get(f"/api/conversations/{chat}/notes", headers=admin_headers(client))
    ).json()
    assert any("went offline" in n["text"] for n in notes["notes"])


async def test_manual_by_default_and_bad_modes_refused(client: TestClient) -> None:
    ann = await make_agent(client, "ann@acme.test")
    await present(client, ann)
    current = await (await client.get("/api/assignment", headers=admin_headers(client))).json()
    assert current == {"default": "manual", "teams": {}}
    chat = await escalate(client)
    await client.app[keys.ASSIGNER].assign_waiting(client.app[keys.ENGINE].claim)
    async with client.app[keys.SESSIONS]() as session:
        waiting = await session.get(Conversation, chat)
    assert waiting is not None and waiting.state == "queued"
    bad = await client.patch(
        "/api/assignment", json={"default": "random"}, headers=admin_headers(client)
    )
    assert bad.status in {400, 422}
    assert (await client.patch("/api/assignment", json={"default": "manual"})).status == 401


async def test_moving_between_pages_is_not_leaving(client: TestClient) -> None:
    """A page change says "gone" for a moment: the chat stays with its agent."""
    ann = await make_agent(client, "ann@acme.test")
    await present(client, ann)
    await set_modes(client, default="least_loaded")
    chat = await escalate(client)

    async def hers() -> bool:
        return (await owners(client)).get(chat) == ann

    await eventually(hers, within=15)
    users = client.app[keys.USERS]
    await users.heartbeat(ann, active=True, gone=True)  # the console page closes…
    engine, assigner = client.app[keys.ENGINE], client.app[keys.ASSIGNER]
    assert await assigner.requeue_from_gone(engine.requeue) == []
    await users.heartbeat(ann, active=True)  # …and the FAQ page opens
    assert await assigner.requeue_from_gone(engine.requeue) == []
    assert await hers()
