"""Limits on the platform channels: a flooding sender is kept for agents but not answered, and
an address that keeps forging webhook calls is refused before any work."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot.app import init_app
from bot.settings import Settings
from models import Message, OutboxItem
from tests.conftest import eventually, within_one_window
from tests.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, signed_headers
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.test_engine import wait_for
from tests.test_slack import event as slack_event
from tests.test_telegram import CHAT, post_update, update

OTHER_CHAT = 2222222


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def client(
    aiohttp_client,  # type: ignore[no-untyped-def]
    make_settings: Callable[..., Settings],
    telegram_api: FakeTelegram,
    slack_api: FakeSlack,
) -> TestClient:
    settings = make_settings(
        telegram_token=TOKEN,
        telegram_api_url=telegram_api.api_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_api.api_url,
        rate_messages_per_sender_min=3,
        rate_webhook_failures_per_ip_min=4,
    )
    return await aiohttp_client(await init_app(settings))


def from_other_user(message_id: int) -> dict[str, object]:
    data = update(message_id=message_id, update_id=900 + message_id)
    data["message"]["chat"]["id"] = OTHER_CHAT  # type: ignore[index]
    data["message"]["from"]["id"] = OTHER_CHAT  # type: ignore[index]
    return data


async def inbound_messages(client: TestClient) -> list[Message]:
    async with client.app[keys.SESSIONS]() as session:
        rows = await session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)
        )
        return list(rows)


async def outbox_drained(client: TestClient) -> None:
    async def all_sent() -> bool:
        async with client.app[keys.SESSIONS]() as session:
            statuses = list(await session.scalars(select(OutboxItem.status)))
        return all(status == "sent" for status in statuses)

    await wait_for(all_sent)


async def test_a_flooding_sender_is_kept_for_agents_told_once_and_others_still_answered(
    client: TestClient, telegram_api: FakeTelegram
) -> None:
    await within_one_window()
    for number in range(1, 7):
        text = f"how do I reset my password ({number})"
        response = await post_update(client, update(message_id=number, update_id=number, text=text))
        assert response.status == 200  # Telegram must not redeliver or hold its queue
        assert (await response.json())["result"] == "accepted"
    assert (await post_update(client, from_other_user(1))).status == 200

    def to(chat: int) -> list[str]:
        return [text for to_chat, text in telegram_api.sent() if to_chat == chat]

    await eventually(lambda: len(to(CHAT)) >= 4 and len(to(OTHER_CHAT)) >= 1)
    await outbox_drained(client)
    answers = to(CHAT)
    assert len(answers) == 4, answers
    assert sum("Forgot password" in text for text in answers) == 3
    assert "faster than I can answer" in answers[3]
    assert len(to(OTHER_CHAT)) == 1 and "Forgot password" in to(OTHER_CHAT)[0]

    stored = await inbound_messages(client)
    assert len(stored) == 7  # nothing lost: agents see every message
    throttled = [m.text for m in stored if m.meta.get("throttled")]
    assert throttled == [f"how do I reset my password ({n})" for n in (4, 5, 6)]
    assert all(m.handled_at is not None for m in stored)


async def test_an_address_forging_telegram_calls_is_refused_before_any_work(
    client: TestClient, telegram_api: FakeTelegram
) -> None:
    await within_one_window()
    for number in range(4):
        forged = await post_update(client, update(update_id=number), secret=f"guess-{number}")
        assert forged.status == 401
    refused = await post_update(client, update(update_id=10))  # now even with the secret
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert "too many requests" in (await refused.json())["error"]
    assert await inbound_messages(client) == []
    assert telegram_api.sent() == []


async def test_an_address_forging_slack_signatures_is_refused_before_any_work(
    client: TestClient, slack_api: FakeSlack
) -> None:
    await within_one_window()
    raw = json.dumps(slack_event(text="hello"))
    good = await client.post("/channels/slack/events", data=raw, headers=signed_headers(raw))
    assert good.status == 200  # signed requests never count against the address
    for number in range(4):
        forged = signed_headers(raw, secret=f"not-the-secret-{number}")
        assert (await client.post("/channels/slack/events", data=raw, headers=forged)).status == 401
    again = json.dumps(slack_event(text="hello again", ts="1700000099.000200"))
    refused = await client.post("/channels/slack/events", data=again, headers=signed_headers(again))
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert [m.text for m in await inbound_messages(client)] == ["hello"]  # acked once stored
