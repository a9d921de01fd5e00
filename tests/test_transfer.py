"""Transfer: an agent hands their chat to a colleague or a team's queue, with a note."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot import keys
from tests.conftest import admin_headers
from tests.test_agent_api import make_agent
from tests.test_webchat import new_visitor, send


async def claimed_chat(client: TestClient, agent_id: int) -> int:
    visitor = await new_visitor(client)
    _, queued = await send(client, visitor, "I need a human about my bill")
    await client.app[keys.ENGINE].claim(queued["conversation_id"], agent_id)
    return int(queued["conversation_id"])


async def transfer(client: TestClient, conversation_id: int, **body: object) -> tuple[int, dict]:
    response = await client.post(
        f"/api/conversations/{conversation_id}/transfer", json=body, headers=admin_headers(client)
    )
    return response.status, await response.json()


async def test_to_a_colleague_and_to_a_team_with_notes(client: TestClient) -> None:
    ann = await make_agent(client, "ann@acme.test")
    bob = await make_agent(client, "bob@acme.test", teams=["billing"])
    conversation_id = await claimed_chat(client, ann)
    status, body = await transfer(
        client, conversation_id, agent_id=ann, to_agent_id=bob, note="VIP, refund approved"
    )
    assert (status, body["state"]) == (200, "agent")
    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=admin_headers(client))
    ).json()
    assert detail["assigned_agent_id"] == bob
    notes = await (
        await client.get(
            f"/api/conversations/{conversation_id}/notes", headers=admin_headers(client)
        )
    ).json()
    assert "Transferred to bob: VIP, refund approved" in notes["notes"][0]["text"]

    # Ann no longer has it: she cannot move it again.
    status, _ = await transfer(client, conversation_id, agent_id=ann, to_team="billing")
    assert status == 409
    status, body = await transfer(
        client, conversation_id, agent_id=bob, to_team="billing", note="needs a refund"
    )
    assert (status, body["state"]) == (200, "queued")
    entry = next(
        e
        for e in (await (await client.get("/api/queue", headers=admin_headers(client))).json())[
            "waiting"
        ]
        if e["conversation_id"] == conversation_id
    )
    assert entry["team"] == "billing" and "needs a refund" in entry["reason"]


async def test_bad_transfers_are_refused_and_nothing_moves(client: TestClient) -> None:
    ann = await make_agent(client, "ann@acme.test")
    full = await make_agent(client, "full@acme.test", max_concurrent=1)
    conversation_id = await claimed_chat(client, ann)
    await claimed_chat(client, full)  # she is at her limit
    for body, expected in [
        ({"agent_id": ann}, 422),
        ({"agent_id": ann, "to_agent_id": full, "to_team": "billing"}, 422),
        ({"agent_id": ann, "to_team": "Not A Team!"}, 422),
        ({"agent_id": ann, "to_agent_id": 999999}, 409),
        ({"agent_id": ann, "to_agent_id": full}, 409),
        ({"agent_id": ann, "to_team": "billing", "note": "x" * 3000}, 422),
    ]:
        status, answer = await transfer(client, conversation_id, **body)
        assert status == expected, (body, answer)
    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=admin_headers(client))
    ).json()
    assert detail["state"] == "agent" and detail["assigned_agent_id"] == ann
