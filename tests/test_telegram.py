"""Telegram end to end: the real python-telegram-bot code against a local Bot API server."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot.app import init_app
from bot.settings import Settings
from channels.telegram import SECRET_HEADER
from models import Customer, Message
from tests.conftest import admin_headers, eventually
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.hostile_corpus import MALFORMED_TELEGRAM_UPDATES
from tests.test_agent_api import make_agent
from tests.test_cli import run

PAYLOADS = Path(__file__).parent / "payloads"
CHAT = 1111111


def update(name: str = "telegram_update_private_text", **changes: Any) -> dict[str, Any]:
    data = json.loads((PAYLOADS / f"{name}.json").read_text())
    data = copy.deepcopy(data)
    for key, value in changes.items():
        if key == "update_id":
            data["update_id"] = value
        else:
            data["message"][key] = value
    return data


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def tg_settings(make_settings: Callable[..., Settings], fake: FakeTelegram) -> Settings:
    return make_settings(telegram_token=TOKEN, telegram_api_url=fake.api_url)


@pytest.fixture
async def tg(aiohttp_client, tg_settings: Settings) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(await init_app(tg_settings))


async def post_update(client: TestClient, data: object, secret: str | None = None):  # type: ignore[no-untyped-def]
    settings = client.app[keys.SETTINGS]
    headers = {SECRET_HEADER: settings.telegram_webhook_secret if secret is None else secret}
    return await client.post("/channels/telegram/webhook", json=data, headers=headers)


async def test_a_question_gets_the_faq_answer_with_a_typing_action(
    tg: TestClient, fake: FakeTelegram
) -> None:
    response = await post_update(tg, update())
    assert response.status == 200
    assert (await response.json()) == {"ok": True, "result": "accepted"}
    await eventually(lambda: fake.sent())
    ((chat, text),) = fake.sent()
    assert chat == CHAT and "Forgot password" in text
    assert fake.made("sendChatAction")[0]["action"] == "typing"


async def test_start_greets_and_group_chats_are_ignored(tg: TestClient, fake: FakeTelegram) -> None:
    started = await post_update(tg, update(text="/start", message_id=1))
    assert (await started.json())["result"] == "accepted"
    group = await post_update(tg, update("telegram_update_group_text"))
    assert (await group.json())["result"] == "ignored"
    no_text = update(message_id=2)
    del no_text["message"]["text"]
    no_text["message"]["sticker"] = {
        "file_id": "CAACAgIAAxkBAAIB",
        "file_unique_id": "AgADBAADwDZPEw",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    assert (await (await post_update(tg, no_text)).json())["result"] == "ignored"
    await eventually(lambda: fake.sent())
    assert [chat for chat, _ in fake.sent()] == [CHAT]
    assert fake.sent()[0][1].startswith("Hi!")


async def test_forged_unsigned_and_malformed_updates_are_refused(
    tg: TestClient, fake: FakeTelegram
) -> None:
    assert (await post_update(tg, update(), secret="guess")).status == 401
    unsigned = await tg.post("/channels/telegram/webhook", json=update())
    assert unsigned.status == 401
    headers = {SECRET_HEADER: tg.app[keys.SETTINGS].telegram_webhook_secret}
    bad_json = await tg.post("/channels/telegram/webhook", data=b"{not json", headers=headers)
    assert bad_json.status == 400
    not_update = await tg.post("/channels/telegram/webhook", json=[1, 2], headers=headers)
    assert not_update.status == 400
    broken = update()
    broken["message"]["sticker"] = {"file_id": "x"}  # missing required fields
    skipped = await post_update(tg, broken)  # signed: skipped, or Telegram would redeliver it
    assert skipped.status == 200 and (await skipped.json())["result"] == "malformed"
    huge = await tg.post("/channels/telegram/webhook", data=b"x" * (300 * 1024), headers=headers)
    assert huge.status == 413
    conversations = await tg.get("/api/conversations", headers=admin_headers(tg))
    assert (await conversations.json())["conversations"] == []
    assert fake.sent() == []


async def test_a_redelivered_update_is_answered_once(tg: TestClient, fake: FakeTelegram) -> None:
    first = await post_update(tg, update())
    again = await post_update(tg, update())
    assert (await first.json())["result"] == "accepted"
    assert (await again.json())["result"] == "duplicate"
    await eventually(lambda: fake.sent())
    await eventually(lambda: len(fake.made("sendChatAction")) == 2)
    assert len(fake.sent()) == 1


async def test_escalation_reaches_the_queue_and_the_agents_reply_reaches_telegram(
    tg: TestClient, fake: FakeTelegram
) -> None:
    headers = admin_headers(tg)
    await post_update(tg, update(text="I want to talk to a human", message_id=10))
    (entry,) = (await (await tg.get("/api/queue", headers=headers)).json())["waiting"]
    assert entry["channel"] == "telegram"
    agent = await make_agent(tg, "ann@acme.test", status="online")
    path = f"/api/conversations/{entry['conversation_id']}"
    assert (await tg.post(f"{path}/claim", json={"agent_id": agent}, headers=headers)).status == 200
    reply = await tg.post(
        f"{path}/reply",
        json={"agent_id": agent, "text": "Ann here, happy to help."},
        headers=headers,
    )
    assert reply.status == 200
    await eventually(lambda: any("Ann here" in text for _, text in fake.sent()))
    assert fake.sent()[-1] == (CHAT, "Ann here, happy to help.")


async def test_rate_limits_and_failures_are_retried_without_loss(
    tg: TestClient, fake: FakeTelegram
) -> None:
    fake.rate_limited_sends = 1
    fake.failing_sends = 1
    await post_update(tg, update())
    await eventually(lambda: fake.sent(), within=10)
    assert len(fake.sent()) == 1 and "Forgot password" in fake.sent()[0][1]


async def test_polling_mode_answers_without_a_public_url(
    aiohttp_client, make_settings: Callable[..., Settings], fake: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        telegram_token=TOKEN,
        telegram_api_url=fake.api_url,
        telegram_mode="polling",
        telegram_poll_timeout_s=1,
    )
    fake.pending_updates = [update(), update(update_id=10001, message_id=1366, text="thanks")]
    await aiohttp_client(await init_app(settings))
    await eventually(lambda: len(fake.sent()) == 2, within=10)
    assert "Forgot password" in fake.sent()[0][1]
    assert fake.made("deleteWebhook")  # polling and a webhook cannot both be active
    await eventually(lambda: any(p.get("offset") == 10002 for p in fake.made("getUpdates")))


async def test_set_webhook_command_registers_the_url_and_secret(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    result = await asyncio.to_thread(
        run,
        ["telegram", "set-webhook", "https://support.acme.test/channels/telegram/webhook"],
        tmp_path,
        DESKBOT_TELEGRAM_TOKEN=TOKEN,
        DESKBOT_TELEGRAM_API_URL=fake.api_url,
    )
    assert result.returncode == 0, result.stderr
    (call,) = fake.made("setWebhook")
    assert call["url"] == "https://support.acme.test/channels/telegram/webhook"
    assert (
        call["secret_token"]
        == (tmp_path / "var" / "telegram_webhook_secret.txt").read_text().strip()
    )
    missing = await asyncio.to_thread(run, ["telegram", "set-webhook", "https://x.test/"], tmp_path)
    assert missing.returncode == 1 and "telegram_token" in missing.stderr


def malformed(number: int, changes: dict[str, object]) -> dict[str, Any]:
    data = update(update_id=50_000 + number, message_id=5_000 + number)
    for path, value in changes.items():
        if path == "":
            data["message"] = value
            continue
        *parents, leaf = ["message", *path.split(".")]
        target = data
        for key in parents:
            target = target[key]
        target[leaf] = value
    return data


async def test_malformed_updates_with_the_secret_are_skipped_with_200_and_store_nothing(
    tg: TestClient, fake: FakeTelegram
) -> None:
    for number, (label, changes) in enumerate(MALFORMED_TELEGRAM_UPDATES.items()):
        response = await post_update(tg, malformed(number, changes))
        assert response.status == 200, f"{label}: {response.status} {await response.text()}"
        assert (await response.json())["result"] in {"malformed", "empty", "ignored"}, label
    async with tg.app[keys.SESSIONS]() as session:
        assert list(await session.scalars(select(Message))) == []
    assert (await (await post_update(tg, update())).json())["result"] == "accepted"


async def test_a_hostile_name_and_an_over_long_text_are_kept_cleaned(
    tg: TestClient, fake: FakeTelegram
) -> None:
    named = update()
    named["message"]["from"]["first_name"] = "Ja\u0000ne\r\n"
    named["message"]["from"]["last_name"] = "R" * 300
    assert (await (await post_update(tg, named)).json())["result"] == "accepted"
    long = update(update_id=10_002, message_id=1_400, text="How much? " + "x" * 4086)
    assert (await (await post_update(tg, long)).json())["result"] == "accepted"
    async with tg.app[keys.SESSIONS]() as session:
        (name,) = list(await session.scalars(select(Customer.display_name)))
        texts = list(await session.scalars(select(Message).where(Message.direction == "in")))
    assert name.startswith("Jane RRR") and len(name) == 200
    assert texts[1].meta["truncated_from"] == "4096" and "[message cut" in texts[1].text


async def test_polling_skips_malformed_updates_and_moves_its_offset_past_them(
    aiohttp_client, make_settings: Callable[..., Settings], fake: FakeTelegram
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        telegram_token=TOKEN,
        telegram_api_url=fake.api_url,
        telegram_mode="polling",
        telegram_poll_timeout_s=1,
    )
    bad = [malformed(n, c) for n, c in enumerate(MALFORMED_TELEGRAM_UPDATES.values())]
    good = update(update_id=60_000, message_id=6_000)
    fake.pending_updates = [*bad, good]
    await aiohttp_client(await init_app(settings))
    await eventually(lambda: len(fake.sent()) == 1, within=10)
    await eventually(lambda: any(p.get("offset") == 60_001 for p in fake.made("getUpdates")))
    assert "Forgot password" in fake.sent()[0][1]
