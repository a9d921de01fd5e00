"""The knowledge base over its REST API: CRUD, import/export, live retraining, bad input."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from bot import keys
from knowledge.formats import write_rasa
from tests.conftest import admin_headers
from tests.test_webchat import new_visitor, send

NEW_INTENT = {
    "name": "office_pets",
    "category": "general",
    "examples": {
        "en": [
            "can i bring my dog to the office",
            "are pets allowed at acme",
            "is the office dog friendly",
            "may i bring my cat to work",
            "pet policy at the office",
        ],
        "zh": ["可以带狗来办公室吗", "公司允许带宠物吗", "办公室能带猫吗"],
    },
    "answers": {"en": ["Dogs are welcome on Fridays."], "zh": ["周五欢迎带狗来办公室。"]},
}


async def wait_for_model(client: TestClient, previous: str | None) -> None:
    nlu = client.app[keys.NLU]
    for _ in range(200):
        if nlu.version != previous:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the model was not retrained")


async def test_new_intent_goes_live_without_restart(client: TestClient) -> None:
    visitor = await new_visitor(client)
    before = client.app[keys.NLU].version
    _, old = await send(client, visitor, "can I bring my dog to the office?")
    assert "Fridays" not in old["replies"][0]["text"]
    created = await client.post("/api/intents", json=NEW_INTENT, headers=admin_headers(client))
    assert created.status == 201
    await wait_for_model(client, before)
    _, new = await send(client, visitor, "can I bring my dog to the office?")
    assert new["replies"][0]["text"] == "Dogs are welcome on Fridays."


async def test_edited_answer_is_live_at_once_and_disabling_removes_the_intent(
    client: TestClient,
) -> None:
    headers = admin_headers(client)
    visitor = await new_visitor(client)
    patch = {"answers": {"en": ["Call us at +1 555 0100."]}}
    response = await client.patch("/api/intents/support_hours", json=patch, headers=headers)
    assert response.status == 200 and (await response.json())["version"] == 2
    _, body = await send(client, visitor, "what are your support hours")
    assert body["replies"][0]["text"] == "Call us at +1 555 0100."
    before = client.app[keys.NLU].version
    await client.patch("/api/intents/support_hours", json={"enabled": False}, headers=headers)
    await wait_for_model(client, before)
    parsed = await client.post(
        "/api/nlu/parse", json={"text": "what are your support hours"}, headers=headers
    )
    assert (await parsed.json())["intent"] != "support_hours"


async def test_crud_and_search(client: TestClient) -> None:
    headers = admin_headers(client)
    assert (await client.post("/api/intents", json=NEW_INTENT, headers=headers)).status == 201
    duplicate = await client.post("/api/intents", json=NEW_INTENT, headers=headers)
    assert duplicate.status == 409
    found = await (await client.get("/api/intents?q=dog", headers=headers)).json()
    assert [i["name"] for i in found["intents"]] == ["office_pets"]
    chinese = await (await client.get("/api/intents?q=宠物", headers=headers)).json()
    assert [i["name"] for i in chinese["intents"]] == ["office_pets"]
    billing = await (await client.get("/api/intents?category=billing", headers=headers)).json()
    assert len(billing["intents"]) >= 8
    conflict = await client.patch(
        "/api/intents/office_pets", json={"enabled": False}, headers={**headers, "If-Match": "7"}
    )
    assert conflict.status == 409
    assert (await client.delete("/api/intents/office_pets", headers=headers)).status == 200
    assert (await client.get("/api/intents/office_pets", headers=headers)).status == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**NEW_INTENT, "name": "Bad Name!"}, 422),
        ({**NEW_INTENT, "name": "x" * 100}, 422),
        ({**NEW_INTENT, "examples": {"english!": ["hi"]}}, 422),
        ({**NEW_INTENT, "examples": {"en": [""]}}, 422),
        ({**NEW_INTENT, "surprise": 1}, 422),
        ({**NEW_INTENT, "name": "x'); DROP TABLE faq_intents; --"}, 422),
    ],
)
async def test_invalid_intents_are_refused(client: TestClient, body: dict, status: int) -> None:  # type: ignore[type-arg]
    headers = admin_headers(client)
    before = await (await client.get("/api/intents", headers=headers)).json()
    response = await client.post("/api/intents", json=body, headers=headers)
    assert response.status == status
    assert (await response.json())["details"]
    after = await (await client.get("/api/intents", headers=headers)).json()
    assert after == before


async def test_admin_api_needs_the_admin_token(client: TestClient) -> None:
    assert (await client.get("/api/intents")).status == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert (await client.post("/api/intents", json=NEW_INTENT, headers=wrong)).status == 401
    visitor = await new_visitor(client)  # a visitor token is not an admin token
    assert (await client.get("/api/intents", headers=visitor)).status == 401


async def test_export_and_import_round_trip(client: TestClient) -> None:
    headers = admin_headers(client)
    for fmt in ("yaml", "csv"):
        exported = await client.get(f"/api/kb/export?format={fmt}", headers=headers)
        assert exported.status == 200
        content = await exported.text()
        result = await client.post(
            "/api/kb/import", json={"format": fmt, "content": content}, headers=headers
        )
        assert await result.json() == {"created": 0, "updated": 0, "deleted": 0}


async def test_rasa_import_creates_intents(client: TestClient) -> None:
    from knowledge.schema import IntentData

    files = write_rasa([IntentData(**NEW_INTENT)])
    response = await client.post(
        "/api/kb/import",
        json={"format": "rasa", "content": files["data/nlu.yml"], "domain": files["domain.yml"]},
        headers=admin_headers(client),
    )
    assert await response.json() == {"created": 1, "updated": 0, "deleted": 0}
    stored = await (
        await client.get("/api/intents/office_pets", headers=admin_headers(client))
    ).json()
    assert stored["answers"] == NEW_INTENT["answers"]
    assert stored["examples"] == NEW_INTENT["examples"]


@pytest.mark.parametrize(
    "body",
    [
        {"format": "yaml", "content": "intents: [ {"},
        {"format": "yaml", "content": "just a string"},
        {"format": "csv", "content": "a,b\n1,2\n"},
        {"format": "csv", "content": "intent,kind,text\nx,banana,hi\n"},
        {"format": "rasa", "content": "nlu: 5"},
        {"format": "exe", "content": "MZ"},
    ],
)
async def test_bad_imports_are_refused_and_change_nothing(client: TestClient, body: dict) -> None:  # type: ignore[type-arg]
    headers = admin_headers(client)
    before = await (await client.get("/api/intents", headers=headers)).json()
    response = await client.post("/api/kb/import", json=body, headers=headers)
    assert response.status == 400
    assert (await response.json())["error"]
    after = await (await client.get("/api/intents", headers=headers)).json()
    assert after == before


async def test_nlu_parse_shows_the_ranking(client: TestClient) -> None:
    response = await client.post(
        "/api/nlu/parse", json={"text": "I forgot my password"}, headers=admin_headers(client)
    )
    body = await response.json()
    assert body["intent"] == "reset_password" and body["outcome"] == "confident"
    assert body["ranking"][0]["name"] == "reset_password" and len(body["ranking"]) > 1


async def test_escalated_conversation_and_its_reason_via_the_api(client: TestClient) -> None:
    visitor = await new_visitor(client)
    _, body = await send(client, visitor, "let me talk to someone")
    headers = admin_headers(client)
    queued = await (await client.get("/api/conversations?state=queued", headers=headers)).json()
    assert [c["id"] for c in queued["conversations"]] == [body["conversation_id"]]
    assert queued["conversations"][0]["escalation_reason"] == "customer asked for a person"
    detail = await (
        await client.get(f"/api/conversations/{body['conversation_id']}", headers=headers)
    ).json()
    assert [m["sender_kind"] for m in detail["messages"]] == ["customer", "bot", "bot"]
    assert (await client.get("/api/conversations/abc", headers=headers)).status == 400
    assert (await client.get("/api/conversations/999999", headers=headers)).status == 404
    assert (await client.get("/api/conversations?state=nope", headers=headers)).status == 400


async def test_health_and_openapi(client: TestClient) -> None:
    from openapi_spec_validator import validate

    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["status"] == "ok"
    document = await (await client.get("/api/openapi.json")).json()
    validate(document)
    paths = set(document["paths"])
    for expected in (
        "/webchat/sessions",
        "/webchat/messages",
        "/api/intents",
        "/api/intents/{name}",
        "/api/kb/import",
        "/api/nlu/parse",
        "/api/conversations/{id}",
    ):
        assert expected in paths
