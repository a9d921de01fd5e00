"""Agents over the REST API: queue, claim, reply through the web chat, hand back, resolve."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.conftest import admin_headers
from tests.test_webchat import new_visitor, send


async def make_agent(client: TestClient, email: str, **extra: object) -> int:
    response = await client.post(
        "/api/agents",
        json={"email": email, "name": email.split("@")[0], **extra},
        headers=admin_headers(client),
    )
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def test_escalation_to_resolution_over_the_api(client: TestClient) -> None:
    headers = admin_headers(client)
    visitor = await new_visitor(client)
    await send(client, visitor, "my invoice is wrong, I was charged twice")
    _, escalated = await send(client, visitor, "let me talk to someone")
    conversation_id = escalated["conversation_id"]

    queue = await (await client.get("/api/queue", headers=headers)).json()
    (entry,) = queue["waiting"]
    assert entry["conversation_id"] == conversation_id
    assert entry["reason"].startswith("customer asked for a person")
    assert entry["team"] == "billing" and entry["first_response_due_at"]

    ann = await make_agent(client, "ann@example.com", teams=["billing"], status="online")
    bob = await make_agent(client, "bob@example.com")
    nxt = await (await client.get(f"/api/agents/{ann}/next", headers=headers)).json()
    assert nxt == {"conversation_id": conversation_id}
    path = f"/api/conversations/{conversation_id}"
    assert (
        await client.post(f"{path}/claim", json={"agent_id": ann}, headers=headers)
    ).status == 200
    second = await client.post(f"{path}/claim", json={"agent_id": bob}, headers=headers)
    assert second.status == 409
    _, silent = await send(client, visitor, "how do I reset my password")
    assert silent["replies"] == [] and silent["state"] == "agent"

    reply = await client.post(
        f"{path}/reply", json={"agent_id": ann, "text": "Refund is on its way."}, headers=headers
    )
    assert reply.status == 200
    not_yours = await client.post(
        f"{path}/reply", json={"agent_id": bob, "text": "hi"}, headers=headers
    )
    assert not_yours.status == 409
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    assert history["messages"][-1]["text"] == "Refund is on its way."
    assert history["messages"][-1]["sender_kind"] == "agent"

    assert (
        await client.post(f"{path}/handback", json={"agent_id": ann}, headers=headers)
    ).status == 200
    _, answered = await send(client, visitor, "how do I reset my password")
    assert answered["state"] == "bot" and answered["replies"]
    assert (await client.post(f"{path}/resolve", json={}, headers=headers)).status == 200
    detail = await (await client.get(path, headers=headers)).json()
    assert detail["state"] == "resolved"


async def test_policy_settings_change_live(client: TestClient) -> None:
    headers = admin_headers(client)
    visitor = await new_visitor(client)
    _, before = await send(client, visitor, "the sync is slow today")
    assert before["state"] == "bot"
    changed = await client.patch(
        "/api/escalation/settings", json={"escalate_at": 0.05, "offer_at": 0.01}, headers=headers
    )
    assert changed.status == 200 and (await changed.json())["escalate_at"] == 0.05
    _, after = await send(client, visitor, "the sync is slow today")
    assert after["state"] == "queued"
    current = await (await client.get("/api/escalation/settings", headers=headers)).json()
    assert current["escalate_at"] == 0.05 and current["weight_churn"] > 0


async def test_bad_agent_requests_are_refused(client: TestClient) -> None:
    headers = admin_headers(client)
    visitor = await new_visitor(client)
    _, escalated = await send(client, visitor, "agent please")
    path = f"/api/conversations/{escalated['conversation_id']}"
    assert (
        await client.post(f"{path}/claim", json={"agent_id": 999}, headers=headers)
    ).status == 409
    assert (
        await client.post(f"{path}/claim", json={"agent_id": "x"}, headers=headers)
    ).status == 422
    assert (
        await client.post("/api/conversations/x/claim", json={"agent_id": 1}, headers=headers)
    ).status == 400
    assert (await client.post(f"{path}/claim", json={"agent_id": 1})).status == 401
    await make_agent(client, "ann@example.com")
    dup = await client.post(
        "/api/agents", json={"email": "ann@example.com", "name": "Ann"}, headers=headers
    )
    assert dup.status == 409
    bad = await client.post(
        "/api/agents", json={"email": "not-an-email", "name": "<script>x</script>"}, headers=headers
    )
    assert bad.status == 422
    inverted = await client.patch(
        "/api/escalation/settings", json={"offer_at": 5, "escalate_at": 1}, headers=headers
    )
    assert inverted.status == 422
    unknown = await client.patch("/api/escalation/settings", json={"bogus": 1}, headers=headers)
    assert unknown.status == 422


async def test_crm_import_and_churn_factors(client: TestClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot import keys
    from bot.services import churn_dir
    from escalation.churn import ChurnModel, read_customers
    from models import Customer
    from tests.test_policy import synthetic_customers

    rows = read_customers(synthetic_customers(tmp_path / "c.csv"))
    ChurnModel.train(rows, "churned", "email").save(churn_dir(client.app[keys.SETTINGS]))
    headers = admin_headers(client)
    content = (
        "email,plan,tenure,seats,tier\n"
        "Ann@Example.com,monthly,2,1,vip\nbo@example.com,yearly,60,9,\n"
    )
    imported = await client.post(
        "/api/customers/import", json={"content": content}, headers=headers
    )
    assert await imported.json() == {"created": 2, "updated": 0}
    again = await client.post("/api/customers/import", json={"content": content}, headers=headers)
    assert await again.json() == {"created": 0, "updated": 2}
    async with client.app[keys.SESSIONS]() as session:
        from sqlalchemy import select

        ann = await session.scalar(select(Customer).where(Customer.email == "ann@example.com"))
    assert ann is not None and ann.tier == "vip"
    client.app[keys.CHURN].reload()  # what the server's periodic check does
    profile = await (await client.get(f"/api/customers/{ann.id}", headers=headers)).json()
    assert profile["churn"]["risk"] > 0.5
    assert profile["churn"]["factors"] and "churn risk" in profile["churn"]["explanation"]
    for bad in ("name\nx\n", "email\nnot-an-email\n", "email,x\na@b.c," + "y" * 600 + "\n"):
        refused = await client.post("/api/customers/import", json={"content": bad}, headers=headers)
        assert refused.status == 400
