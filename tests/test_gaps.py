"""Content gaps through the real app: questions that fell back, were rejected or went to a
person are grouped; one call makes an intent of a group and the next paraphrase gets it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from bot import keys
from knowledge.gaps.cluster import cluster, embed, name_for
from knowledge.gaps.finder import RESOLVED_META
from models import Message
from tests.conftest import admin_headers
from tests.test_agent_api import make_agent
from tests.test_engine import wait_for
from tests.test_webchat import new_visitor, send

FELL_BACK = ["do you have a referral program", "is there a referral bonus"]
ESCALATED = "how does your referral program work"
AGENT_ANSWER = "Yes: invite friends from Settings, Referrals; you both get 10 dollars of credit."


async def _ask_and_escalate(client: TestClient) -> None:
    headers = admin_headers(client)
    for text in FELL_BACK:
        _, body = await send(client, await new_visitor(client), text)
        assert body["replies"][0]["text"].startswith("Sorry, I didn't quite get that"), text
    visitor = await new_visitor(client)
    await send(client, visitor, ESCALATED)
    _, handed = await send(client, visitor, "I want to talk to a human")
    assert handed["state"] == "queued"
    agent = await make_agent(client, "ann@acme.test", status="online")
    path = f"/api/conversations/{handed['conversation_id']}"
    for action, body in (
        ("claim", {"agent_id": agent}),
        ("reply", {"agent_id": agent, "text": AGENT_ANSWER}),
    ):
        response = await client.post(f"{path}/{action}", json=body, headers=headers)
        assert response.status == 200, await response.text()


async def test_a_gap_becomes_an_intent_in_one_call_and_answers_the_next_paraphrase(
    client: TestClient,
) -> None:
    headers = admin_headers(client)
    await _ask_and_escalate(client)
    listed = await client.get("/api/gaps", headers=headers)
    assert listed.status == 200, await listed.text()
    data = await listed.json()
    [gap] = [c for c in data["clusters"] if ESCALATED in c["examples"]]
    assert set(gap["examples"]) == {*FELL_BACK, ESCALATED}
    assert gap["reasons"] == {"fallback": 2, "escalated": 1}
    assert gap["suggested_answer"] == AGENT_ANSWER
    assert gap["name"].startswith("gap_") and "referr" in gap["name"]
    assert sum(w["in_gaps"] for w in data["weekly"]) >= 3
    assert all(0 <= w["share"] <= 1 for w in data["weekly"])

    made = await client.post(
        "/api/gaps/intent",
        json={"message_ids": gap["message_ids"], "name": "referrals", "answer": AGENT_ANSWER},
        headers=headers,
    )
    assert made.status == 201, await made.text()
    assert sorted((await made.json())["examples"]["en"]) == sorted([*FELL_BACK, ESCALATED])
    after = await (await client.get("/api/gaps", headers=headers)).json()
    assert all(ESCALATED not in c["examples"] for c in after["clusters"])
    async with client.app[keys.SESSIONS]() as session:
        resolved = await session.get_one(Message, gap["message_ids"][0])
        assert resolved.meta[RESOLVED_META] == "referrals"

    nlu = client.app[keys.NLU]

    async def retrained() -> bool:
        return await nlu.knows("referrals")

    await wait_for(retrained, within=60)  # retrained in the background, live without a restart
    _, body = await send(client, await new_visitor(client), "tell me about the referral program")
    assert body["replies"][0]["text"] == AGENT_ANSWER


async def test_adding_a_gap_to_an_existing_intent_and_bad_requests(client: TestClient) -> None:
    headers = admin_headers(client)
    await _ask_and_escalate(client)
    data = await (await client.get("/api/gaps", headers=headers)).json()
    [gap] = [c for c in data["clusters"] if ESCALATED in c["examples"]]
    added = await client.post(
        "/api/gaps/examples",
        json={"message_ids": gap["message_ids"], "intent": "discounts"},
        headers=headers,
    )
    assert added.status == 200, await added.text()
    assert ESCALATED in (await added.json())["examples"]["en"]
    again = await client.post(
        "/api/gaps/intent",
        json={"message_ids": gap["message_ids"], "name": "referrals", "answer": "x"},
        headers=headers,
    )
    assert again.status == 404  # those questions are no longer gaps
    missing = await client.post(
        "/api/gaps/examples",
        json={"message_ids": [999999], "intent": "discounts"},
        headers=headers,
    )
    assert missing.status == 404
    assert (await client.get("/api/gaps?days=0", headers=headers)).status == 400
    assert (await client.get("/api/gaps")).status == 401
    page = await client.get("/admin/gaps", allow_redirects=False)
    assert page.status in (302, 303)


def test_clustering_groups_paraphrases_and_names_them() -> None:
    from bot.nlu.embeddings import shared

    texts = [
        "my card was charged twice",
        "my card was charged two times",
        "double charge on my card",
        "how do I change my email address",
        "update the email on my account",
    ]
    groups = cluster(embed(texts, shared()))
    assert sorted(map(sorted, groups)) == [[0, 1, 2], [3, 4]]
    taken: set[str] = set()
    first = name_for([texts[3], texts[4]], taken)
    assert first.startswith("gap_") and "email" in first
    assert name_for([texts[3], texts[4]], taken) == first + "_2"
    assert cluster(embed([], shared())) == []
