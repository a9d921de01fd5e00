"""All four channels side by side in one app: each customer gets answers and a person."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.app import init_app
from bot.settings import Settings
from tests.conftest import admin_headers, eventually
from tests.fake_slack import AGENT_CHANNEL, BOT_TOKEN, SIGNING_SECRET, FakeSlack, post_event
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.mail_servers import SMTP_PASSWORD, SMTP_USER, SmtpProvider, free_port
from tests.test_agent_api import make_agent
from tests.test_email import SUPPORT, customer_mail, deliver
from tests.test_slack import DM
from tests.test_slack import event as slack_event
from tests.test_telegram import CHAT, post_update
from tests.test_telegram import update as telegram_update
from tests.test_webchat import new_visitor, send

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
async def platforms(
    certificate: tuple[Path, Path],
) -> AsyncIterator[tuple[FakeTelegram, FakeSlack, SmtpProvider]]:
    telegram, slack, smtp = FakeTelegram(), FakeSlack(), SmtpProvider(*certificate)
    await telegram.start()
    await slack.start()
    await smtp.start()
    yield telegram, slack, smtp
    await smtp.stop()
    await slack.close()
    await telegram.close()


@pytest.fixture
async def everything(
    platforms: tuple[FakeTelegram, FakeSlack, SmtpProvider],
    make_settings: Callable[..., Settings],
    certificate: tuple[Path, Path],
    aiohttp_client,  # type: ignore[no-untyped-def]
) -> TestClient:
    telegram, slack, smtp = platforms
    settings = make_settings(
        telegram_token=TOKEN,
        telegram_api_url=telegram.api_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_agent_channel=AGENT_CHANNEL,
        slack_api_url=slack.api_url,
        email_address=SUPPORT,
        email_smtp_host="localhost",
        email_smtp_port=smtp.port,
        email_smtp_username=SMTP_USER,
        email_smtp_password=SMTP_PASSWORD,
        email_ca_file=certificate[0],
        email_receiver_port=free_port(),
    )
    return await aiohttp_client(await init_app(settings))


async def test_four_channels_in_one_server_each_taken_over_by_an_agent(
    everything: TestClient, platforms: tuple[FakeTelegram, FakeSlack, SmtpProvider]
) -> None:
    telegram, slack, smtp = platforms
    headers = admin_headers(everything)
    visitor = await new_visitor(everything)
    await send(everything, visitor, "I want to talk to a human")
    await post_update(everything, telegram_update(text="I want to talk to a human"))
    await post_event(everything, slack_event(text="I want to talk to a human"))
    await deliver(everything, customer_mail("I want to talk to a human"))

    async def waiting() -> dict[str, int]:
        queue = await (await everything.get("/api/queue", headers=headers)).json()
        return {e["channel"]: e["conversation_id"] for e in queue["waiting"]}

    for _ in range(100):
        if len(await waiting()) == 4:
            break
        await __import__("asyncio").sleep(0.05)
    queued = await waiting()
    assert set(queued) == {"webchat", "telegram", "slack", "email"}

    agent = await make_agent(everything, "ann@acme.test", status="online", max_concurrent=4)
    for channel, conversation_id in queued.items():
        path = f"/api/conversations/{conversation_id}"
        claimed = await everything.post(f"{path}/claim", json={"agent_id": agent}, headers=headers)
        assert claimed.status == 200, channel
        replied = await everything.post(
            f"{path}/reply", json={"agent_id": agent, "text": f"Ann on {channel}"}, headers=headers
        )
        assert replied.status == 200, channel

    history = await (await everything.get("/webchat/messages", headers=visitor)).json()
    assert history["messages"][-1]["text"] == "Ann on webchat"
    await eventually(lambda: (CHAT, "Ann on telegram") in telegram.sent())
    await eventually(lambda: any(p["text"] == "Ann on slack" for p in slack.posts(DM)))
    await eventually(lambda: any("Ann on email" in m.get_content() for m in smtp.received))
    assert len(slack.posts(AGENT_CHANNEL)) >= 4  # every escalation was announced to agents
