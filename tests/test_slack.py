"""Slack end to end: real slack-bolt and slack-sdk code, signed requests, a local Web API server."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot.app import init_app
from bot.settings import Settings
from models import AgentRole, Message, SlackAgentThread
from tests.conftest import admin_headers, eventually, within_one_window
from tests.fake_slack import (
    AGENT_CHANNEL,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    post_event,
    signed_headers,
)
from tests.hostile_corpus import BAD_SLACK_TIMESTAMPS, MALFORMED_SLACK_EVENTS
from tests.test_engine import wait_for
from tests.test_webchat import new_visitor, send

PAYLOADS = Path(__file__).parent / "payloads"
DM = "D024BE91L"
AGENT_USER = "UAGENT0001"


def event(name: str = "slack_event_im", **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text()))
    data["event"].update(changes)
    return data


def agent_says(
    text: str, thread_ts: str, user: str = AGENT_USER, ts: str | None = None
) -> dict[str, Any]:
    data = event(
        channel=AGENT_CHANNEL, channel_type="channel", user=user, text=text, thread_ts=thread_ts
    )
    data["event"]["ts"] = ts or f"{time.time():.6f}"
    data["event"].pop("client_msg_id")
    return data


async def agent_thread_recorded(client: TestClient) -> bool:
    """The escalation's thread is known once its row is committed, a moment after Slack saw
    the post: an agent's reply in between is not yet matched to a conversation."""
    async with client.app[keys.SESSIONS]() as session:
        return await session.scalar(select(SlackAgentThread.conversation_id)) is not None


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack(emails={AGENT_USER: "ann@acme.test"})
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def slack(
    aiohttp_client, make_settings: Callable[..., Settings], fake: FakeSlack
) -> TestClient:  # type: ignore[no-untyped-def]
    settings = make_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_agent_channel=AGENT_CHANNEL,
        slack_api_url=fake.api_url,
    )
    client = await aiohttp_client(await init_app(settings))
    await client.app[keys.USERS].add(
        "ann@acme.test", "Ann", AgentRole.AGENT, "a-long-test-password", "test", ("support",)
    )
    return client


async def test_a_direct_message_gets_the_faq_answer(slack: TestClient, fake: FakeSlack) -> None:
    response = await post_event(slack, event())
    assert response.status == 200
    async with slack.app[keys.SESSIONS]() as session:  # acked only once it is stored
        stored = await session.scalar(select(Message.text).where(Message.direction == "in"))
    assert stored == event()["event"]["text"]
    await eventually(lambda: fake.posts(DM))
    (post,) = fake.posts(DM)
    assert "Forgot password" in post["text"] and "thread_ts" not in post


async def test_a_shared_channel_message_is_answered_in_its_thread(
    slack: TestClient, fake: FakeSlack
) -> None:
    await post_event(slack, event("slack_event_shared_channel"))
    await eventually(lambda: fake.posts("C0SHARED01"))
    (post,) = fake.posts("C0SHARED01")
    assert post["thread_ts"] == "1700000100.000200" and "PayPal" in post["text"]
    ordinary = event("slack_event_shared_channel", ts="1700000200.000100")
    ordinary.pop("is_ext_shared_channel")  # an internal channel: not a customer
    await post_event(slack, ordinary)
    await eventually(lambda: len(fake.posts()) == 1)


async def test_url_verification_and_forged_requests(slack: TestClient, fake: FakeSlack) -> None:
    challenge = {
        "token": "x",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    answered = await post_event(slack, challenge)
    assert (await answered.json())["challenge"] == challenge["challenge"]

    body = json.dumps(event())
    forged = await slack.post(
        "/channels/slack/events", data=body, headers=signed_headers(body, "wrong-secret")
    )
    stale = await slack.post(
        "/channels/slack/events",
        data=body,
        headers=signed_headers(body, timestamp=int(time.time()) - 3600),
    )
    unsigned = await slack.post(
        "/channels/slack/events", data=body, headers={"Content-Type": "application/json"}
    )
    assert [forged.status, stale.status, unsigned.status] == [401, 401, 401]
    conversations = await slack.get("/api/conversations", headers=admin_headers(slack))
    assert (await conversations.json())["conversations"] == []


async def test_slack_retries_are_answered_once(slack: TestClient, fake: FakeSlack) -> None:
    payload = event()
    body = json.dumps(payload)
    assert (await post_event(slack, payload)).status == 200
    retry = {
        **signed_headers(body),
        "X-Slack-Retry-Num": "1",
        "X-Slack-Retry-Reason": "http_timeout",
    }
    assert (await slack.post("/channels/slack/events", data=body, headers=retry)).status == 200
    await eventually(lambda: fake.posts(DM))
    detail = await (await slack.get("/api/conversations", headers=admin_headers(slack))).json()
    (conversation,) = detail["conversations"]
    messages = await (
        await slack.get(f"/api/conversations/{conversation['id']}", headers=admin_headers(slack))
    ).json()
    assert [m["sender_kind"] for m in messages["messages"]] == ["customer", "bot"]
    assert len(fake.posts(DM)) == 1


async def test_escalation_goes_to_the_agents_channel_and_a_thread_reply_reaches_the_customer(
    slack: TestClient, fake: FakeSlack
) -> None:
    await post_event(slack, event(text="I want to talk to a human", ts="1355517600.000001"))
    await wait_for(lambda: agent_thread_recorded(slack))
    (announcement,) = fake.posts(AGENT_CHANNEL)
    assert "needs a person" in announcement["text"] and "asked for a person" in announcement["text"]
    thread = fake.thread_in(AGENT_CHANNEL)

    await post_event(slack, event(text="hello? anyone?", ts="1355517700.000001"))
    await eventually(
        lambda: any("Customer: hello? anyone?" in p["text"] for p in fake.posts(AGENT_CHANNEL))
    )

    await post_event(slack, agent_says("Hi, Ann here. Let me look.", thread))
    await eventually(lambda: any(p["text"] == "Hi, Ann here. Let me look." for p in fake.posts(DM)))
    await post_event(slack, agent_says("resolve", thread))
    await eventually(lambda: any("from 1 (not at all) to 5" in p["text"] for p in fake.posts(DM)))
    queue = await (
        await slack.get("/api/conversations?state=resolved", headers=admin_headers(slack))
    ).json()
    assert len(queue["conversations"]) == 1


async def test_a_web_chat_customer_gets_the_reply_written_in_slack(
    slack: TestClient, fake: FakeSlack
) -> None:
    visitor = await new_visitor(slack)
    await send(slack, visitor, "I want to talk to a human")
    await wait_for(lambda: agent_thread_recorded(slack))
    thread = fake.posts(AGENT_CHANNEL)[0]
    ts = fake.thread_in(AGENT_CHANNEL)
    assert "on webchat" in thread["text"]

    await post_event(slack, agent_says("who is this?", ts, user="USTRANGER1"))
    await eventually(
        lambda: any("not a deskbot agent" in p["text"] for p in fake.posts(AGENT_CHANNEL))
    )
    availability = await (await slack.get("/webchat/availability")).json()
    await post_event(slack, agent_says("claim", ts))
    await post_event(slack, agent_says("Ann from Acme here.", ts))

    async def replied() -> bool:
        history = await (await slack.get("/webchat/messages", headers=visitor)).json()
        return history["messages"][-1]["text"] == "Ann from Acme here."

    await wait_for(replied)
    # Working from Slack, with no console open, counts her as there for the queue.
    agents = await (await slack.get("/api/agents", headers=admin_headers(slack))).json()
    assert [a["presence"] for a in agents["agents"] if a["status"] == "online"] == ["online"]
    assert availability["people"] in ("away", "offline")


async def test_a_disabled_agent_loses_their_slack_powers_at_once(
    slack: TestClient, fake: FakeSlack
) -> None:
    await post_event(slack, event(text="I want to talk to a human", ts="1355517600.000001"))
    await wait_for(lambda: agent_thread_recorded(slack))  # not only posted: its row committed
    thread = fake.thread_in(AGENT_CHANNEL)
    await post_event(slack, agent_says("claim", thread))

    async def claimed() -> bool:
        queue = await slack.get("/api/conversations?state=agent", headers=admin_headers(slack))
        return len((await queue.json())["conversations"]) == 1

    await wait_for(claimed, within=20)
    await slack.app[keys.USERS].disable("ann@acme.test", "test")
    await post_event(slack, agent_says("Still here, and I can read your account.", thread))
    await eventually(
        lambda: any("not a deskbot agent" in p["text"] for p in fake.posts(AGENT_CHANNEL)),
        within=20,  # the Slack user's email is looked up again for a disabled agent
    )
    assert not any("I can read your account" in p["text"] for p in fake.posts(DM))


async def test_rate_limited_sends_are_retried(slack: TestClient, fake: FakeSlack) -> None:
    fake.rate_limited_posts = 1
    await post_event(slack, event())
    await eventually(lambda: fake.posts(DM), within=10)
    assert len(fake.posts(DM)) == 1


def test_a_bot_token_without_its_signing_secret_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    from bot.settings import SettingsError

    with pytest.raises(SettingsError, match="slack_signing_secret"):
        make_settings(slack_bot_token=BOT_TOKEN)


async def test_a_message_over_the_length_limit_is_kept_cut_and_flagged(
    slack: TestClient, fake: FakeSlack
) -> None:
    long = "How do I reset my password? " + "please " * 10_000
    response = await post_event(slack, event(text=long))
    assert response.status == 200
    async with slack.app[keys.SESSIONS]() as session:
        (stored,) = list(await session.scalars(select(Message).where(Message.direction == "in")))
    limit = slack.app[keys.SETTINGS].max_message_chars
    assert len(stored.text) <= limit and stored.text.startswith("How do I reset my password?")
    assert stored.text.endswith(
        f"[message cut: {len(long.strip())} characters, the limit is {limit}]"
    )
    assert stored.meta["truncated_from"] == str(len(long.strip()))
    await eventually(lambda: fake.posts(DM))  # and answered


async def test_malformed_events_are_acknowledged_and_store_nothing(
    slack: TestClient, fake: FakeSlack
) -> None:
    for number, (label, changes) in enumerate(MALFORMED_SLACK_EVENTS.items()):
        payload = event(**{"ts": f"1700000100.{number:06d}", **changes})
        payload["event"] = {k: v for k, v in payload["event"].items() if v is not None}
        response = await post_event(slack, payload)
        assert response.status == 200, f"{label}: {response.status} {await response.text()}"
    not_an_object = {**event(), "event": "message"}
    assert (await post_event(slack, not_an_object)).status == 200
    forged = json.dumps(not_an_object)
    headers = signed_headers(forged, secret="not-the-secret")
    assert (await slack.post("/channels/slack/events", data=forged, headers=headers)).status == 401
    async with slack.app[keys.SESSIONS]() as session:
        assert list(await session.scalars(select(Message))) == []
    assert (await post_event(slack, event())).status == 200  # the next real one still flows
    await eventually(lambda: fake.posts(DM))


async def test_a_timestamp_that_is_no_number_is_401_and_counted_as_forged(
    slack: TestClient,
) -> None:
    await within_one_window()
    limit = slack.app[keys.SETTINGS].rate_webhook_failures_per_ip_min
    body = json.dumps(event())
    statuses = []
    for stamp in BAD_SLACK_TIMESTAMPS:
        headers = {**signed_headers(body), "X-Slack-Request-Timestamp": stamp}
        response = await slack.post("/channels/slack/events", data=body, headers=headers)
        statuses.append(response.status)
    assert statuses == [401] * len(BAD_SLACK_TIMESTAMPS)
    for _ in range(limit - len(BAD_SLACK_TIMESTAMPS)):
        headers = {**signed_headers(body), "X-Slack-Request-Timestamp": "abc"}
        await slack.post("/channels/slack/events", data=body, headers=headers)
    refused = await post_event(slack, event())  # the limit counted every one of them
    assert refused.status == 429
