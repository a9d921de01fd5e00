"""Agent presence from their open staff pages: the queue counts only agents who are there,
and a customer handed over with nobody there is told so instead of a wait of minutes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import async_playwright, expect
from sqlalchemy import update

from bot import keys
from bot.app import init_app
from bot.services import Services, build_services, running
from bot.settings import Settings
from escalation.presence import SEEN_FOR_S, Presence, presence_of
from models import Agent, AgentRole
from tests.browser import CHROMIUM_FLAGS, chromium_path
from tests.conftest import RecordingChannel, admin_headers
from tests.test_accounts import add_user, sign_in
from tests.test_console_browser import ARTIFACTS, PASSWORD
from tests.test_engine import said
from tests.test_queue import MONDAY_10, FakeClock, escalate

NOBODY = "Nobody from our team is at their desk"


async def until(read: Callable[[], Awaitable[str]], wanted: str, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (seen := await read()) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"still {seen}, not {wanted}"
        await asyncio.sleep(0.2)


def test_presence_reads_the_choice_the_heartbeat_and_the_last_input() -> None:
    now = MONDAY_10
    agent = Agent(email="a@acme.test", name="a", status="online", active=True)
    assert presence_of(agent, now) is Presence.OFFLINE  # no page has ever beaten
    agent.last_seen_at = agent.last_active_at = now - timedelta(seconds=5)
    assert presence_of(agent, now) is Presence.ONLINE
    agent.last_active_at = now - timedelta(minutes=11)
    assert presence_of(agent, now) is Presence.AWAY  # the console is open, nobody at it
    assert presence_of(agent, now, idle_s=3600) is Presence.ONLINE
    agent.last_active_at = now
    agent.status = "away"
    assert presence_of(agent, now) is Presence.AWAY
    agent.status = "online"
    agent.last_seen_at = now - timedelta(seconds=SEEN_FOR_S + 1)  # the browser closed
    assert presence_of(agent, now) is Presence.OFFLINE
    agent.last_slack_at = now - timedelta(minutes=5)  # working from Slack, no page open
    assert presence_of(agent, now) is Presence.ONLINE
    agent.last_slack_at = now - timedelta(minutes=11)
    assert presence_of(agent, now) is Presence.OFFLINE
    agent.last_seen_at = now
    agent.active = False
    assert presence_of(agent, now) is Presence.OFFLINE


async def test_the_wait_is_promised_only_while_an_agent_is_there(settings: Settings) -> None:
    clock = FakeClock(MONDAY_10)
    async with running(build_services(settings, {"test": RecordingChannel()}, clock)) as services:
        async with services.sessions() as session:
            agent = Agent(email="ann@acme.test", name="Ann", teams=["support"], status="online")
            session.add(agent)
            await session.commit()
            agent_id = agent.id

        async def stamp(seen: datetime | None, active: datetime | None) -> None:
            async with services.sessions() as session:
                await session.execute(
                    update(Agent)
                    .where(Agent.id == agent_id)
                    .values(last_seen_at=seen, last_active_at=active)
                )
                await session.commit()

        # "online" by choice, but no console open (closed the browser, or after a restart)
        first = await escalate(services, "nobody-open")
        assert NOBODY in first.replies[1].text and "number 1 in the queue" in first.replies[1].text
        assert "min" not in first.replies[1].text

        await stamp(MONDAY_10, MONDAY_10)
        there = await escalate(services, "agent-there")
        assert "number 2 in the queue; the expected wait is about" in there.replies[1].text

        await stamp(MONDAY_10, MONDAY_10 - timedelta(minutes=30))  # open, untouched: away
        idle = await escalate(services, "agent-idle")
        assert NOBODY in idle.replies[1].text

        zh = await escalate(services, "zh-nobody", "转人工")
        assert "客服团队暂时无人在线" in zh.replies[1].text

        await stamp(MONDAY_10, MONDAY_10)
        clock.now = MONDAY_10 + timedelta(seconds=SEEN_FOR_S + 1)  # its page stopped beating
        gone = await escalate(services, "agent-gone")
        assert NOBODY in gone.replies[1].text


async def test_a_page_beats_and_closes_over_http(client: TestClient) -> None:
    agent_id = await add_user(client, "ann@acme.test")
    csrf = await sign_in(client, "ann@acme.test")  # signing in chooses "online"
    headers = {"X-CSRF-Token": csrf}
    me = await (await client.get("/api/me")).json()
    assert me["status"] == "online" and me["presence"] == "offline"  # no page beat yet

    beat = await client.post("/api/me/presence", json={"active": True}, headers=headers)
    assert beat.status == 200 and (await beat.json()) == {"presence": "online"}
    assert (await (await client.get("/api/me")).json())["presence"] == "online"
    listed = await (await client.get("/api/agents", headers=admin_headers(client))).json()
    (ann,) = [a for a in listed["agents"] if a["id"] == agent_id]
    assert ann["status"] == "online" and ann["presence"] == "online"

    changed = await client.patch("/api/me", json={"status": "away"}, headers=headers)
    assert changed.status == 200
    assert (await (await client.get("/api/me")).json())["presence"] == "away"
    await client.patch("/api/me", json={"status": "online"}, headers=headers)

    gone = await client.post("/api/me/presence", json={"gone": True}, headers=headers)
    assert (await gone.json()) == {"presence": "offline"}

    forged = await client.post("/api/me/presence", json={"active": True})  # no CSRF token
    assert forged.status == 403
    assert (await (await client.get("/api/me")).json())["presence"] == "offline"
    for bad in ({"active": "very"}, {"active": True, "extra": 1}, [1]):
        refused = await client.post("/api/me/presence", json=bad, headers=headers)
        assert refused.status in (400, 422), bad
    token = await client.post(
        "/api/me/presence", json={"active": True}, headers=admin_headers(client)
    )
    assert token.status == 422  # the admin token is nobody the queue waits for


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_closing_the_console_tells_the_next_customer_nobody_is_there(
    make_settings: object,
) -> None:
    """Chromium: the console's page beats as soon as it opens, so the customer is promised a
    wait; once the agent closes it, the next customer handed over hears that nobody is there."""
    settings = make_settings(business_hours="24/7")  # type: ignore[operator]
    app = await init_app(settings)
    server = TestServer(app)
    await server.start_server()
    sam = await app[keys.USERS].add(
        "sam@acme.test", "Sam", AgentRole.AGENT, PASSWORD, "t", ("support",)
    )
    url = lambda path: str(server.make_url(path))  # noqa: E731

    async def presence() -> str:
        async with app[keys.SESSIONS]() as session:
            agent = await session.get_one(Agent, sam.id)
        return presence_of(agent, datetime.now(UTC)).value

    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            console = await (await browser.new_context()).new_page()

            await console.goto(url("/login"))
            await console.fill("input[name=email]", "sam@acme.test")
            await console.fill("input[name=password]", PASSWORD)
            await console.click("button[type=submit]")
            await expect(console.locator("#live")).to_have_text("live", timeout=15_000)
            await until(presence, "online")
            ARTIFACTS.mkdir(exist_ok=True)
            await console.screenshot(path=str(ARTIFACTS / "presence-console-desktop.png"))

            for size, viewport in (("desktop", (1280, 800)), ("phone", (390, 844))):
                size_of = {"width": viewport[0], "height": viewport[1]}
                customer = await (await browser.new_context(viewport=size_of)).new_page()
                await customer.goto(url("/"))
                await customer.fill("#deskbot-input", "can I talk to a person please")
                await customer.click("#deskbot-send")
                waiting = customer.locator(".deskbot-out", has_text="expected wait")
                nobody = customer.locator(".deskbot-out", has_text=NOBODY)
                header = customer.locator("#deskbot-status")
                if size == "desktop":
                    await expect(header).to_have_text("Team online", timeout=15_000)
                    await expect(waiting).to_be_visible(timeout=15_000)
                    await customer.screenshot(path=str(ARTIFACTS / "presence-wait-desktop.png"))
                    await console.close()  # the agent closes the console's tab
                    await until(presence, "offline")
                else:
                    await expect(header).to_have_text("Team away · the bot can help")
                    await expect(nobody).to_be_visible(timeout=15_000)
                    await customer.screenshot(path=str(ARTIFACTS / "presence-nobody-phone.png"))
                await customer.context.close()
            await browser.close()
    finally:
        await server.close()


async def test_writing_again_while_queued_tells_the_wait_without_counting_oneself(
    settings: Settings,
) -> None:
    clock = FakeClock(MONDAY_10)
    async with running(build_services(settings, {"test": RecordingChannel()}, clock)) as services:
        async with services.sessions() as session:
            session.add(
                Agent(
                    email="ann@acme.test",
                    name="Ann",
                    teams=["support"],
                    status="online",
                    last_seen_at=MONDAY_10,
                    last_active_at=MONDAY_10,
                )
            )
            await session.commit()
        await escalate(services, "ahead")
        clock.now += timedelta(minutes=1)
        await escalate(services, "behind")
        clock.now += timedelta(minutes=1)
        again = await escalate(services, "behind", "hello? is anyone there")
        (ack,) = again.replies
        assert "a person will read this" in ack.text
        assert "number 2 in the queue; the expected wait is about" in ack.text
        first = await escalate(services, "ahead", "still waiting...")  # not behind "behind"
        assert "number 1 in the queue" in first.replies[0].text


async def test_two_quick_messages_while_queued_lose_no_answer(services: Services) -> None:
    await services.engine.receive(said("agent please", user="quick-queued"))
    ack, answer = await asyncio.gather(
        services.engine.receive(said("hello?? anyone", user="quick-queued")),
        services.engine.receive(said("how do I reset my password", user="quick-queued")),
    )
    steps = str(await services.knowledge.answer("reset_password", "en"))
    assert answer.state == "queued" and steps in answer.replies[0].text
    # The wait goes out unless the answer was said first (its word stands for both then).
    assert ack.state == "queued" and len(ack.replies) <= 1
    assert all("a person will read this" in r.text for r in ack.replies)
