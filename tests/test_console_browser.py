"""The agent console and admin pages in real Chromium, against PostgreSQL.

An agent watches the queue live, takes over a web-chat customer's conversation (a second
browser context) and replies; an admin adds an FAQ intent and the customer gets its answer;
an agent is refused the admin pages; customer-written markup stays text.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select

from bot import keys
from bot.app import init_app
from bot.settings import Settings
from models import Agent, AgentRole
from tests.browser import CHROMIUM_FLAGS, chromium_path
from tests.conftest import eventually

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "a-long-test-password"
WAIT_MS = 15_000

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class Site:
    server: TestServer
    browser: Browser

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def signed_in(self, email: str) -> Page:
        page = await (await self.browser.new_context()).new_page()
        await page.goto(self.url("/login"))
        await page.fill("input[name=email]", email)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_load_state()
        return page

    async def customer(self) -> Page:
        page = await (await self.browser.new_context()).new_page()
        await page.goto(self.url("/"))
        await expect(page.locator("#deskbot-status")).to_have_attribute(
            "data-connected", "true", timeout=WAIT_MS
        )
        return page


async def say(customer: Page, text: str) -> None:
    await customer.fill("#deskbot-input", text)
    await customer.click("#deskbot-send")


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[Site]:
    app = await init_app(settings)
    server = TestServer(app)
    await server.start_server()
    users = app[keys.USERS]
    await users.add("admin@acme.test", "Ada Admin", AgentRole.ADMIN, PASSWORD, "test")
    await users.add(
        "agent@acme.test", "Sam Agent", AgentRole.AGENT, PASSWORD, "test", ("support", "billing")
    )
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            yield Site(server, browser)
            await browser.close()
    finally:
        await server.close()


async def test_agent_takes_over_live_and_the_customer_gets_the_reply(site: Site) -> None:
    agent = await site.signed_in("agent@acme.test")
    await expect(agent).to_have_url(site.url("/console"))
    await expect(agent.locator("#live")).to_have_text("live", timeout=WAIT_MS)
    await expect(agent.locator("#queue-list")).to_contain_text("Nobody is waiting")

    customer = await site.customer()
    await say(customer, "I want to talk to a human")
    item = agent.locator("#queue-list .queue-item")  # appears without a reload
    await expect(item).to_contain_text("asked for a person", timeout=WAIT_MS)
    await expect(item).to_contain_text("webchat")

    await item.locator("button").click()
    await expect(agent.locator("#transcript")).to_contain_text("I want to talk to a human")
    await expect(agent.locator("#transcript")).to_contain_text("human_handoff")
    await agent.click("#claim")
    await expect(agent.locator("#reply-form")).to_be_visible()
    await expect(agent.locator("#chat-title")).to_contain_text("agent")

    hostile = "<script>document.body.dataset.pwned='1'</script><b>bold?</b>"
    await say(customer, hostile)
    await expect(agent.locator("#transcript .msg.customer .text").last).to_have_text(
        hostile, timeout=WAIT_MS
    )
    assert await agent.evaluate("document.body.dataset.pwned") is None

    await agent.fill("#reply-text", "Hi, this is Sam from Acme. I can help with that.")
    await agent.click("#reply-form button[type=submit]")
    reply = customer.locator(".deskbot-agent", has_text="this is Sam from Acme")
    await expect(reply).to_be_visible(timeout=WAIT_MS)

    bot_answers = await customer.locator(".deskbot-out").count()
    await say(customer, "How do I reset my password?")  # the bot stays silent now
    await expect(agent.locator("#suggestions")).to_contain_text("password", timeout=WAIT_MS)
    await expect(agent.locator("#transcript")).to_contain_text("reset my password")
    await customer.wait_for_timeout(500)
    assert await customer.locator(".deskbot-out").count() == bot_answers

    await agent.fill("#note-text", "VIP, be nice <img src=x onerror=alert(1)>")
    await agent.click("#note-form button[type=submit]")
    await expect(agent.locator("#notes")).to_contain_text("onerror=alert(1)")
    await expect(customer.locator("#deskbot-log")).not_to_contain_text("VIP, be nice")

    ARTIFACTS.mkdir(exist_ok=True)
    await agent.screenshot(path=str(ARTIFACTS / "console-agent.png"), full_page=True)

    await agent.click("#resolve")
    await expect(agent.locator("#chat-title")).to_contain_text("resolved", timeout=WAIT_MS)
    await expect(customer.locator("#deskbot-log")).to_contain_text(
        "from 1 (not at all) to 5", timeout=WAIT_MS
    )


async def test_admin_adds_an_faq_and_the_customer_gets_its_answer(site: Site) -> None:
    admin = await site.signed_in("admin@acme.test")
    await expect(admin).to_have_url(site.url("/admin/faqs"))
    await expect(admin.locator("#intents tr").first).to_be_visible(timeout=WAIT_MS)
    before = await admin.locator("#model-version").inner_text()

    await admin.click("#new")
    await admin.fill("#f-name", "loyalty_points")
    await admin.fill("#f-category", "billing")
    await admin.fill(
        "#f-examples-en",
        "\n".join(
            [
                "how many loyalty points do i earn",
                "how do loyalty points work",
                "what are reward points",
                "do i get points when i pay",
                "loyalty programme",
                "how to earn reward points",
            ]
        ),
    )
    await admin.fill("#f-answers-en", "You earn 5 loyalty points per dollar, shown on your bill.")
    await admin.click("#editor button[type=submit]")
    await expect(admin.locator("#faq-done")).to_contain_text("Saved loyalty_points")
    await expect(admin.locator("#model-version")).not_to_have_text(before, timeout=WAIT_MS)
    await expect(admin.locator("#model-state")).to_contain_text("live", timeout=WAIT_MS)

    await admin.fill("#try-text", "how many loyalty points will I earn")
    await admin.click("#try button[type=submit]")
    await expect(admin.locator("#ranking .verdict")).to_contain_text("loyalty_points")

    customer = await site.customer()
    await say(customer, "how many loyalty points do I earn?")
    answer = customer.locator(".deskbot-out", has_text="5 loyalty points per dollar")
    await expect(answer).to_be_visible(timeout=WAIT_MS)

    await admin.goto(site.url("/admin/history"))
    await expect(admin.locator("table.list")).to_contain_text("loyalty_points")
    await expect(admin.locator("table.list")).to_contain_text("admin@acme.test")

    await admin.goto(site.url("/admin/reports?days=7"))
    await expect(admin.locator(".tiles")).to_contain_text("conversations")
    top_intents = admin.locator("section.card", has_text="Top intents")
    await expect(top_intents.locator("table.bars")).to_contain_text("loyalty_points")
    ARTIFACTS.mkdir(exist_ok=True)
    await admin.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)
    await admin.set_viewport_size({"width": 390, "height": 844})
    await admin.screenshot(path=str(ARTIFACTS / "reports-phone.png"), full_page=True)


async def test_an_agent_is_refused_the_admin_pages(site: Site) -> None:
    agent = await site.signed_in("agent@acme.test")
    for path in ("/admin/faqs", "/admin/settings", "/admin/customers", "/admin/reports"):
        response = await agent.goto(site.url(path))
        assert response is not None and response.status == 403, path
        await expect(agent.locator("h1")).to_have_text("Not allowed")
    status = await agent.evaluate(
        """async () => (await fetch('/api/intents', {method: 'POST',
            headers: {'Content-Type': 'application/json',
                      'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},
            body: JSON.stringify({name: 'sneaky'})})).status"""
    )
    assert status == 403
    assert await agent.locator("nav").inner_text() == "Console"


async def test_admin_changes_settings_and_adds_a_user_who_can_sign_in(site: Site) -> None:
    admin = await site.signed_in("admin@acme.test")
    await admin.goto(site.url("/admin/settings"))
    await expect(admin.locator("#p-escalate_at")).to_be_visible(timeout=WAIT_MS)
    await admin.fill("#p-escalate_at", "1.5")
    await admin.click("#policy button[type=submit]")
    await expect(admin.locator("#policy-done")).to_contain_text("escalate_at")
    await expect(admin.locator("#h-business_hours")).to_have_value("Mon-Fri 09:00-18:00")
    await admin.fill("#h-business_hours", "someday")
    await admin.click("#hours button[type=submit]")
    await expect(admin.locator("#policy-error")).to_contain_text("write them like")
    await admin.fill("#h-business_hours", "24/7")
    await admin.click("#hours button[type=submit]")
    await expect(admin.locator("#policy-done")).to_contain_text("business hours")
    await admin.fill("#canned-shortcut", "refund")
    await admin.fill("#canned-text", "Your refund is on its way <3")
    await admin.click("#canned-form button[type=submit]")
    await expect(admin.locator("#canned-list")).to_contain_text(
        "/refund Your refund is on its way <3"
    )
    await expect(admin.locator("#w-welcome-zh")).to_have_value(re.compile("您好"))
    await admin.fill("#w-welcome-en", "Hello from Acme <b>!</b>")
    await admin.check("#w-prechat_form")
    await admin.click("#webchat button[type=submit]")
    await expect(admin.locator("#policy-done")).to_contain_text("web chat")
    widget = await site.server.app[keys.WEBCHAT_SETTINGS].load()
    assert widget.welcome["en"] == "Hello from Acme <b>!</b>" and widget.prechat_form
    await admin.screenshot(path=str(ARTIFACTS / "admin-settings.png"), full_page=True)

    await admin.goto(site.url("/admin/users"))
    await admin.fill("#u-email", "newbie@acme.test")
    await admin.fill("#u-name", "Newbie")
    await admin.fill("#u-teams", "billing, support")
    await admin.fill("#u-password", PASSWORD)
    await admin.click("#add-user button[type=submit]")
    await expect(admin.locator("#users")).to_contain_text("newbie@acme.test")
    ARTIFACTS.mkdir(exist_ok=True)
    await admin.screenshot(path=str(ARTIFACTS / "admin-users.png"), full_page=True)

    newbie = await site.signed_in("newbie@acme.test")
    await expect(newbie).to_have_url(site.url("/console"))
    await expect(newbie.locator("#canned")).to_contain_text("/refund")
    await admin.goto(site.url("/admin/history"))
    await expect(admin.locator("table.list")).to_contain_text("user_added")
    await expect(admin.locator("table.list")).to_contain_text("service_hours")


async def test_agent_corrects_a_messages_sentiment_with_one_click(site: Site) -> None:
    from sqlalchemy import select

    from models import Message

    agent = await site.signed_in("agent@acme.test")
    await expect(agent.locator("#live")).to_have_text("live", timeout=WAIT_MS)
    customer = await site.customer()
    await say(customer, "I want to talk to a human")
    item = agent.locator("#queue-list .queue-item")
    await expect(item).to_contain_text("asked for a person", timeout=WAIT_MS)
    await item.locator("button").click()
    message = agent.locator("#transcript .msg.customer").first
    await expect(message).to_contain_text("talk to a human")
    await message.locator(".sentiment-fix button[data-label=negative]").click()
    chosen = message.locator(".sentiment-fix button.chosen")
    await expect(chosen).to_have_attribute("data-label", "negative", timeout=WAIT_MS)
    async with site.server.app[keys.SESSIONS]() as session:
        labels = (
            await session.scalars(
                select(Message.sentiment_label).where(Message.sender_kind == "customer")
            )
        ).all()
    assert labels == ["negative"]


RECORD_NOTIFICATIONS = """
document.hasFocus = () => false;  // the agent works in another window meanwhile
window.__notes = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push(options.body); }
  close() {}
};
"""


async def test_notifications_title_count_unread_marks_and_typing_both_ways(site: Site) -> None:
    context = await site.browser.new_context(permissions=["notifications"])
    await context.add_init_script(RECORD_NOTIFICATIONS)
    agent = await context.new_page()
    await agent.goto(site.url("/login"))
    await agent.fill("input[name=email]", "agent@acme.test")
    await agent.fill("input[name=password]", PASSWORD)
    await agent.click("button[type=submit]")
    await expect(agent.locator("#live")).to_have_text("live", timeout=WAIT_MS)

    async def notified(text: str) -> None:  # polled: the page's CSP forbids wait_for_function
        for _ in range(WAIT_MS // 100):
            if text in await agent.evaluate("window.__notes.join(' | ')"):
                return
            await agent.wait_for_timeout(100)
        raise AssertionError(f"no notification {text!r}")

    first = await site.customer()
    await say(first, "I want to talk to a human")
    item = agent.locator("#queue-list .queue-item")
    await expect(item).to_contain_text("asked for a person", timeout=WAIT_MS)
    await notified("New chat waiting")
    await item.locator("button").click()
    await agent.click("#claim")
    await expect(agent.locator("#reply-form")).to_be_visible()

    await first.type("#deskbot-input", "one moment, I am looking for my invoice", delay=20)
    await expect(agent.locator("#customer-typing")).to_have_text(
        "The customer is typing…", timeout=WAIT_MS
    )
    await agent.type("#reply-text", "Take your time", delay=20)
    await expect(first.locator("#deskbot-typing")).to_have_text(
        "Sam Agent is typing…", timeout=WAIT_MS
    )
    await agent.click("#reply-form button[type=submit]")
    await expect(first.locator(".deskbot-agent .deskbot-who")).to_have_text("Sam Agent")

    # A second chat of hers, not the one open: its customer's message marks it and counts.
    second = await site.customer()
    await say(second, "I need a person please")
    await expect(agent.locator("#queue-list .queue-item")).to_have_count(1, timeout=WAIT_MS)
    other = (await site.server.app[keys.QUEUE].entries())[0].conversation_id
    agent_id = int(
        await agent.evaluate("fetch('/api/me').then((r) => r.json()).then((m) => m.agent_id)")
    )
    await site.server.app[keys.ENGINE].claim(other, agent_id)
    mine = agent.locator(f'#mine-list [data-conversation="{other}"]')
    await expect(mine).to_be_visible(timeout=WAIT_MS)
    await say(second, "Are you there?")
    await expect(mine.locator(".unread-mark")).to_be_visible(timeout=WAIT_MS)
    await expect(agent).to_have_title(re.compile(r"^\(1\) "))
    await notified(f"The customer wrote in #{other}")
    ARTIFACTS.mkdir(exist_ok=True)
    await agent.screenshot(path=str(ARTIFACTS / "console-unread-desktop.png"))
    await mine.locator("button").click()
    await expect(agent.locator("#transcript")).to_contain_text("Are you there?")
    await expect(mine.locator(".unread-mark")).to_have_count(0)
    await expect(agent).not_to_have_title(re.compile(r"^\("))


async def test_admin_registers_a_webhook_and_watches_its_deliveries(site: Site) -> None:
    from tests.test_webhooks import receiver_at

    receiver, hook_server = await receiver_at()
    try:
        admin = await site.signed_in("admin@acme.test")
        await admin.goto(site.url("/admin/webhooks"))
        await expect(admin.locator("#hooks")).to_contain_text("No webhooks yet", timeout=WAIT_MS)
        await admin.fill("#hook-url", str(hook_server.make_url("/hook")))
        for box in await admin.locator("#hook-events input").all():
            await box.set_checked(await box.get_attribute("value") == "conversation.escalated")
        await admin.click("#add-hook button[type=submit]")
        secret_line = admin.locator("#hook-secret")
        await expect(secret_line).to_contain_text("whsec_", timeout=WAIT_MS)
        receiver.secret = (await secret_line.inner_text()).rsplit(": ", 1)[1].strip()
        receiver.fail_next = 1

        customer = await site.customer()
        await say(customer, "I want to talk to a human")
        rows = admin.locator("#deliveries tr.delivery")
        await expect(rows.first).to_contain_text("conversation.escalated", timeout=20_000)
        await expect(admin.locator("#deliveries tr.delivery.sent")).to_have_count(1, timeout=20_000)
        await expect(rows.first).to_contain_text("204")
        assert receiver.events() == ["conversation.escalated"] and receiver.refused == []
        ARTIFACTS.mkdir(exist_ok=True)
        await admin.screenshot(path=str(ARTIFACTS / "admin-webhooks.png"), full_page=True)
    finally:
        await hook_server.close()


async def test_an_agent_transfers_a_chat_to_a_colleague_with_a_note(site: Site) -> None:
    await site.server.app[keys.USERS].add(
        "bea@acme.test", "Bea Billing", AgentRole.AGENT, PASSWORD, "test", ("billing",)
    )
    sam = await site.signed_in("agent@acme.test")
    bea = await site.signed_in("bea@acme.test")
    customer = await site.customer()
    await say(customer, "I want to talk to a human")
    item = sam.locator("#queue-list .queue-item")
    await expect(item).to_contain_text("asked for a person", timeout=WAIT_MS)
    await item.locator("button").click()
    await sam.click("#claim")
    await expect(sam.locator("#transfer")).to_be_visible(timeout=WAIT_MS)
    await sam.click("#transfer")
    bea_option = sam.locator("#transfer-to option", has_text="Bea Billing")
    await sam.select_option("#transfer-to", await bea_option.get_attribute("value"))
    await sam.fill("#transfer-note", "Refund question, card ending 42")
    await sam.screenshot(path=str(ARTIFACTS / "console-transfer.png"))
    await sam.click("#transfer-form button[type=submit]")
    await expect(sam.locator("#reply-form")).to_be_hidden(timeout=WAIT_MS)
    await expect(sam.locator("#chat-reason")).to_contain_text("transferred to Bea Billing")

    mine = bea.locator("#mine-list .queue-item")
    await expect(mine).to_have_count(1, timeout=WAIT_MS)
    await mine.locator("button").click()
    await expect(bea.locator("#notes")).to_contain_text("Refund question, card ending 42")
    await expect(bea.locator("#reply-form")).to_be_visible()


async def test_round_robin_assignment_and_reassignment_when_an_agent_leaves(site: Site) -> None:
    await site.server.app[keys.USERS].add(
        "bea@acme.test", "Bea Support", AgentRole.AGENT, PASSWORD, "test", ("support",)
    )
    admin = await site.signed_in("admin@acme.test")
    await admin.goto(site.url("/admin/settings"))
    await expect(admin.locator("#a-default option")).to_have_count(3, timeout=WAIT_MS)
    await admin.select_option("#a-default", "round_robin")
    await admin.click("#assignment button[type=submit]")
    await expect(admin.locator("#policy-done")).to_contain_text("assignment")
    await admin.close(run_before_unload=True)  # she leaves: no chats for her

    sam = await site.signed_in("agent@acme.test")
    bea = await site.signed_in("bea@acme.test")
    for page in (sam, bea):
        await expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)

    async def both_beating() -> bool:
        async with site.server.app[keys.SESSIONS]() as session:
            seen = await session.scalars(
                select(Agent.last_seen_at).where(
                    Agent.email.in_(["agent@acme.test", "bea@acme.test"])
                )
            )
            return all(seen.all())

    await eventually(both_beating, within=10)
    for _ in range(2):
        await say(await site.customer(), "I want to talk to a human")
    sams, beas = sam.locator("#mine-list .queue-item"), bea.locator("#mine-list .queue-item")
    await expect(sams).to_have_count(1, timeout=20_000)
    await expect(beas).to_have_count(1, timeout=20_000)
    await sam.screenshot(path=str(ARTIFACTS / "console-assigned-desktop.png"))

    site.server.app[keys.ASSIGNER].requeue_grace_s = 2  # 20 s by default
    await sam.close(run_before_unload=True)  # Sam leaves: his chat goes to Bea, who is there
    await expect(beas).to_have_count(2, timeout=30_000)
