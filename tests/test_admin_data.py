"""Admin data: reports (JSON, CSV, page), customer export and erasure, background retrain."""

from __future__ import annotations

import asyncio
import csv
import io
import re

from aiohttp.test_utils import TestClient

from bot import keys
from models import AgentRole, Conversation, Customer
from tests.conftest import admin_headers
from tests.test_accounts import add_user, sign_in
from tests.test_agent_api import make_agent
from tests.test_webchat import new_visitor, send

HOSTILE_FALLBACK = "=zzkq(1) <b onmouseover=x>vbnm xqjw plorf</b>"


async def escalate_and_resolve(client: TestClient, rating: str) -> int:
    headers = admin_headers(client)
    visitor = await new_visitor(client)
    _, escalated = await send(client, visitor, "I want to talk to a human")
    conversation_id = escalated["conversation_id"]
    agent = await make_agent(client, f"a{conversation_id}@acme.test", status="online")
    path = f"/api/conversations/{conversation_id}"
    for action, body in (
        ("claim", {"agent_id": agent}),
        ("reply", {"agent_id": agent, "text": "Here to help."}),
        ("resolve", {"agent_id": agent}),
    ):
        response = await client.post(f"{path}/{action}", json=body, headers=headers)
        assert response.status == 200, await response.text()
    await send(client, visitor, rating)
    return conversation_id


async def test_reports_count_containment_escalation_sla_csat_and_fallbacks(
    client: TestClient,
) -> None:
    headers = admin_headers(client)
    contained = await new_visitor(client)
    await send(client, contained, "How do I reset my password?")
    confused = await new_visitor(client)
    _, fallback = await send(client, confused, HOSTILE_FALLBACK)
    assert fallback["state"] == "bot"
    await escalate_and_resolve(client, "5")
    await escalate_and_resolve(client, "2")

    report = await (await client.get("/api/reports?days=7", headers=headers)).json()
    overall = report["overall"]
    assert overall["conversations"] == 4
    assert overall["containment_rate"] == 0.5 and overall["escalation_rate"] == 0.5
    assert overall["csat"] == 0.5 and overall["csat_ratings"] == 2
    assert overall["sla_attainment"] == 1.0
    assert overall["first_response_s"] is not None and overall["resolution_s"] is not None
    assert report["escalation_reasons"] == {"asked for a person": 2}
    assert report["top_intents"]["reset_password"] == 1
    assert report["top_fallbacks"] == [{"text": HOSTILE_FALLBACK.lower(), "count": 1}]
    assert report["by_channel"]["webchat"]["conversations"] == 4
    assert sum(day["conversations"] or 0 for day in report["by_day"].values()) == 4

    exported = await client.get("/api/reports.csv?days=7", headers=headers)
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(await exported.text())))
    assert rows[0][:3] == ["slice", "key", "conversations"]
    (fallback_row,) = [r for r in rows if r[0] == "fallback"]
    assert fallback_row[1].startswith("'=zzkq")  # no formula when opened in a spreadsheet

    for bad in ("0", "abc", "9999", "-1"):
        assert (await client.get(f"/api/reports?days={bad}", headers=headers)).status == 400


async def test_report_and_customer_pages_show_customer_text_as_text(client: TestClient) -> None:
    confused = await new_visitor(client)
    _, sent = await send(client, confused, HOSTILE_FALLBACK)
    async with client.app[keys.SESSIONS]() as session:
        conversation = await session.get(Conversation, sent["conversation_id"])
        assert conversation is not None
        customer = await session.get(Customer, conversation.customer_id)
        assert customer is not None
        customer.display_name = "<script>alert('pwned')</script>"
        await session.commit()
    await add_user(client, "root@acme.test", AgentRole.ADMIN)
    await sign_in(client, "root@acme.test")
    reports = await (await client.get("/admin/reports?days=1")).text()
    assert "&lt;b onmouseover=x&gt;" in reports and "<b onmouseover" not in reports
    customers = await (await client.get("/admin/customers?q=script")).text()
    assert "&lt;script&gt;alert(" in customers and "<script>alert(" not in customers
    assert (
        "default-src 'self'"
        in (await client.get("/admin/reports")).headers["Content-Security-Policy"]
    )


async def test_export_then_erase_a_customer(client: TestClient) -> None:
    headers = admin_headers(client)
    visitor = await new_visitor(client)
    _, first = await send(
        client, visitor, "I am Jane Roe, jane@example.com, I want to talk to a human"
    )
    conversation_id = first["conversation_id"]
    note = await client.post(
        f"/api/conversations/{conversation_id}/notes",
        json={"text": "Jane prefers email"},
        headers=headers,
    )
    assert note.status == 201
    detail = await (
        await client.get(f"/api/conversations/{conversation_id}", headers=headers)
    ).json()
    customer_id = detail["customer_id"]

    exported = await client.post(f"/api/customers/{customer_id}/export", headers=headers)
    assert "attachment" in exported.headers["Content-Disposition"]
    data = await exported.json()
    texts = [m["text"] for c in data["conversations"] for m in c["messages"]]
    assert any("jane@example.com" in t for t in texts)
    assert data["identities"][0]["channel"] == "webchat"
    assert data["conversations"][0]["notes"][0]["text"] == "Jane prefers email"

    path = f"/api/customers/{customer_id}/erase"
    assert (
        await client.post(path, json={"confirm": customer_id + 1}, headers=headers)
    ).status == 422
    assert (await client.post(path, json={}, headers=headers)).status == 422
    erased = await client.post(path, json={"confirm": customer_id}, headers=headers)
    counts = await erased.json()
    assert counts["messages_redacted"] >= 2 and counts["identities_removed"] == 1
    assert counts["notes_redacted"] == 1
    # The chat was waiting for a person: it leaves the queue, and nobody can claim it.
    assert counts["conversations_closed"] == 1
    queue = await (await client.get("/api/queue", headers=headers)).json()
    assert queue["waiting"] == []
    agent = await make_agent(client, "ann@acme.test", status="online")
    claim = await client.post(
        f"/api/conversations/{conversation_id}/claim", json={"agent_id": agent}, headers=headers
    )
    assert claim.status == 409

    after = await (
        await client.post(f"/api/customers/{customer_id}/export", headers=headers)
    ).json()
    assert {m["text"] for c in after["conversations"] for m in c["messages"]} == {"[erased]"}
    assert after["identities"] == [] and after["customer"]["erased_at"]
    assert after["conversations"][0]["notes"][0]["text"] == "[erased]"
    report = await (await client.get("/api/reports?days=1", headers=headers)).json()
    assert report["overall"]["conversations"] == 1  # counts are kept

    audit = await (await client.get("/api/audit?entity=customer", headers=headers)).json()
    actions = [e["action"] for e in audit["entries"]]
    assert actions.count("customer_exported") == 2 and actions.count("customer_erased") == 1

    _, again = await send(client, visitor, "hello again")  # the visitor is a stranger now
    assert again["conversation_id"] != conversation_id
    missing = await client.post(
        "/api/customers/99999/erase", json={"confirm": 99999}, headers=headers
    )
    assert missing.status == 404


async def test_background_retrain_reports_progress_and_goes_live(client: TestClient) -> None:
    headers = admin_headers(client)
    created = await client.post(
        "/api/intents",
        json={
            "name": "gift_cards",
            "examples": {"en": ["do you sell gift cards", "gift card", "can i buy a voucher"]},
            "answers": {"en": ["Gift cards are on acme.example/gift."]},
        },
        headers=headers,
    )
    assert created.status == 201
    started = await client.post("/api/nlu/train?background=true", headers=headers)
    assert started.status == 202
    for _ in range(200):
        status = await (await client.get("/api/nlu/status", headers=headers)).json()
        if not status["training"]:
            break
        await asyncio.sleep(0.05)
    parsed = await client.post(
        "/api/nlu/parse", json={"text": "do you sell gift cards"}, headers=headers
    )
    assert (await parsed.json())["intent"] == "gift_cards"


async def test_demo_logins_are_created_once_and_work(aiohttp_client, make_settings) -> None:  # type: ignore[no-untyped-def]
    from bot.app import init_app

    settings = make_settings(demo_logins=True)
    client = await aiohttp_client(await init_app(settings))
    logins = (settings.data_dir / "demo-logins.txt").read_text()
    assert (settings.data_dir / "demo-logins.txt").stat().st_mode & 0o077 == 0
    emails = {line.split()[1]: line.split()[-1] for line in logins.splitlines()}
    assert set(emails) == {"admin@example.com", "agent@example.com"}
    users = client.app[keys.USERS]
    assert await users.authenticate("agent@example.com", emails["agent@example.com"])
    assert len(await users.list()) == 2


async def test_the_customers_page_exports_by_a_post_with_the_csrf_token(
    client: TestClient,
) -> None:
    visitor = await new_visitor(client)
    await send(client, visitor, "I want to talk to a human")
    await add_user(client, "root@acme.test", AgentRole.ADMIN)
    await sign_in(client, "root@acme.test")
    page = await (await client.get("/admin/customers")).text()
    form = re.search(
        r'<form method="post" action="(/api/customers/\d+/export)" class="inline">\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]+)">',
        page,
    )
    assert form is not None, page
    action, token = form.groups()
    exported = await client.post(action, data={"csrf_token": token})
    assert exported.status == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert (await exported.json())["identities"][0]["channel"] == "webchat"
    assert (await client.post(action, data={})).status == 403  # what another site could send
    assert (await client.get(action)).status == 405
