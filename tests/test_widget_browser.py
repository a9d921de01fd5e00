"""The widget as customers meet it, in real Chromium at desktop and phone size, embedded on a
company's own page (a second loopback origin): in Chinese from the page's language, the
admin's welcome, an email left when nobody is there, the agent's name and typing, CSAT by
button, axe-core with no serious violation; the pre-chat form; a signed-in user's CRM tier in
the agent console."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aioimaplib
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect

from bot import keys
from bot.app import init_app
from bot.services import churn_dir
from bot.settings import Settings
from escalation.churn import ChurnModel, read_customers
from models import AgentRole
from tests.browser import CHROMIUM_FLAGS, chromium_path
from tests.conftest import admin_headers, eventually
from tests.mail_servers import IMAP_PASSWORD, IMAP_USER, Dovecot, SmtpProvider, free_port
from tests.test_email import mail_settings, provider  # noqa: F401
from tests.test_policy import synthetic_customers

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
PASSWORD = "a-long-test-password"
WAIT_MS = 15_000
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
SERIOUS = {"serious", "critical"}

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def identity_attributes(secret: str, user_id: str, email: str, name: str) -> str:
    """What the company's server adds to the widget tag (README: Known customers)."""
    identity = json.dumps(
        {"user_id": user_id, "email": email, "name": name, "issued_at": int(time.time())}
    )
    signature = hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()
    return f'data-identity="{html.escape(identity)}" data-identity-signature="{signature}"'


@dataclass
class Shop:
    """deskbot, and a company site on another origin that embeds its widget."""

    deskbot: TestServer
    site: TestServer
    browser: Browser
    pages: dict[str, str]

    @property
    def app(self) -> web.Application:
        return self.deskbot.app

    def url(self, path: str) -> str:
        return str(self.site.make_url(path))

    def api(self) -> ClientSession:
        return ClientSession(str(self.deskbot.make_url("/")), headers=admin_headers(self))

    async def visitor(self, path: str, size: str) -> Page:
        width, height = SIZES[size]
        context = await self.browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        await page.goto(self.url(path))
        await expect(page.locator("#deskbot-status")).to_have_attribute(
            "data-connected", "true", timeout=WAIT_MS
        )
        return page


@pytest.fixture
async def shop(
    mail_settings: Callable[..., Settings],  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> AsyncIterator[Shop]:
    """With the email channel set up, as the widget's email offer needs."""
    deskbot = TestServer(await init_app(mail_settings()), host="127.0.0.1")
    await deskbot.start_server()
    widget = deskbot.make_url("/webchat/widget.js")
    pages: dict[str, str] = {}

    async def page(request: web.Request) -> web.Response:
        if request.match_info["name"] not in pages:
            raise web.HTTPNotFound()
        lang, attributes = pages[request.match_info["name"]].split("|", 1)
        return web.Response(
            text=f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Acme shop</title></head><body><main><h1>Acme shop</h1></main>"
            f'<script src="{widget}" data-open="true" {attributes} defer></script>'
            "</body></html>",
            content_type="text/html",
        )

    site_app = web.Application()
    site_app.router.add_get("/{name}", page)
    site = TestServer(site_app, host="127.0.0.2")
    await site.start_server()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            yield Shop(deskbot, site, browser, pages)
            await browser.close()
    finally:
        await site.close()
        await deskbot.close()


async def serious_violations(page: Page) -> list[str]:
    results = await Axe().run(page, context={"include": [["#deskbot-panel"]]})
    return [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]


async def agent_claims(shop: Shop, conversation_id: int, agent_id: int) -> None:
    async with shop.api() as http:
        claimed = await http.post(
            f"/api/conversations/{conversation_id}/claim", json={"agent_id": agent_id}
        )
        assert claimed.status == 200, await claimed.text()


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_chinese_customer_leaves_an_email_sees_the_agent_and_rates_by_button(
    shop: Shop, size: str
) -> None:
    shop.pages["zh"] = "zh-CN|"
    page = await shop.visitor("/zh", size)
    await expect(page.locator("#deskbot-launcher")).to_contain_text("在线客服")
    await expect(page.locator(".deskbot-welcome")).to_contain_text("您好")
    assert await page.locator("#deskbot-input").get_attribute("placeholder") == "请输入您的问题…"
    await expect(page.locator("#deskbot-status")).to_contain_text("客服")
    assert await serious_violations(page) == []

    await page.fill("#deskbot-input", "我要找人工客服")
    await page.click("#deskbot-send")
    await expect(page.locator(".deskbot-out", has_text="转接")).to_be_visible(timeout=WAIT_MS)
    card = page.locator("#deskbot-email")  # nobody of the team is signed in
    await expect(card).to_contain_text("留下您的邮箱", timeout=WAIT_MS)
    await card.locator("input[type=email]").fill("not-an-address")
    await card.locator("button[type=submit]").click()
    await expect(card.locator(".deskbot-error")).to_contain_text("操作未成功")
    await card.locator("input[type=email]").fill(f"li-{size}@home.test")
    await card.locator("button[type=submit]").click()
    await expect(page.locator(".deskbot-note", has_text=f"li-{size}@home.test")).to_be_visible()

    queue = await shop.app[keys.QUEUE].entries()
    conversation_id = queue[0].conversation_id
    agent = await shop.app[keys.USERS].add(
        f"ann-{size}@acme.test", "Ann", AgentRole.AGENT, PASSWORD, "test"
    )
    await agent_claims(shop, conversation_id, agent.id)
    async with shop.api() as http:
        path = f"/api/conversations/{conversation_id}"
        typing = await http.post(f"{path}/typing", json={"agent_id": agent.id})
        assert typing.status == 200
        await expect(page.locator("#deskbot-typing")).to_have_text("Ann 正在输入…")
        await http.post(f"{path}/reply", json={"agent_id": agent.id, "text": "您好，我是 Ann。"})
    reply = page.locator(".deskbot-agent", has_text="我是 Ann")
    await expect(reply).to_be_visible(timeout=WAIT_MS)
    await expect(reply.locator(".deskbot-who")).to_have_text("Ann")
    await expect(page.locator("#deskbot-typing")).to_have_text("")

    await shop.app[keys.ENGINE].resolve(conversation_id, "test")
    five = page.locator(".deskbot-choice", has_text="5")
    await expect(five).to_be_visible(timeout=WAIT_MS)
    assert await page.locator(".deskbot-choice").count() == 5
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"widget-zh-csat-{size}.png"))
    assert await serious_violations(page) == []
    await five.click()
    await expect(page.locator(".deskbot-out", has_text="感谢您的评价")).to_be_visible(
        timeout=WAIT_MS
    )
    await expect(page.locator(".deskbot-choice")).to_have_count(0)
    await page.context.close()


async def test_the_prechat_form_and_a_signed_in_customer_in_the_console(
    shop: Shop, tmp_path: Path
) -> None:
    async with shop.api() as http:
        change = {"prechat_form": True, "welcome": {"en": "Welcome to Acme support!"}}
        assert (await http.patch("/api/webchat/settings", json=change)).status == 200
        crm = "email,tier,plan,tenure,seats\nana@shop.test,vip,monthly,1,3\n"
        imported = await http.post("/api/customers/import", json={"content": crm, "key": "email"})
        assert imported.status == 200

    history = read_customers(synthetic_customers(tmp_path / "customers.csv"))
    ChurnModel.train(history, "churned", "email").save(churn_dir(shop.app[keys.SETTINGS]))
    shop.app[keys.CHURN].reload()

    shop.pages["guest"] = "en|"
    guest = await shop.visitor("/guest", "desktop")
    await expect(guest.locator(".deskbot-welcome")).to_have_text(
        "Welcome to Acme support!", timeout=WAIT_MS
    )
    form = guest.locator("#deskbot-prechat")
    await expect(form).to_be_visible()
    await expect(guest.locator("#deskbot-input")).to_be_disabled()
    await form.locator("input[name=name]").fill("Guy Guest")
    await form.locator("input[name=email]").fill("guy@home.test")
    await form.locator("button[type=submit]").click()
    await expect(guest.locator("#deskbot-input")).to_be_enabled()
    await expect(form).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    assert await serious_violations(guest) == []
    await guest.context.close()

    secret = shop.app[keys.SETTINGS].webchat_identity_secret
    shop.pages["account"] = "en|" + identity_attributes(secret, "42", "ana@shop.test", "Ana Lima")
    ana = await shop.visitor("/account", "desktop")
    await expect(ana.locator("#deskbot-prechat")).to_have_count(0)  # she is known
    await ana.fill("#deskbot-input", "I want to talk to a human")
    await ana.click("#deskbot-send")
    await expect(ana.locator(".deskbot-out", has_text="passing you")).to_be_visible(timeout=WAIT_MS)
    await ana.screenshot(path=str(ARTIFACTS / "widget-signed-in-desktop.png"))

    users = shop.app[keys.USERS]
    await users.add("sam@acme.test", "Sam Agent", AgentRole.AGENT, PASSWORD, "test")
    context = await shop.browser.new_context(viewport={"width": 1440, "height": 900})
    agent = await context.new_page()
    await agent.goto(str(shop.deskbot.make_url("/login")))
    await agent.fill("input[name=email]", "sam@acme.test")
    await agent.fill("input[name=password]", PASSWORD)
    await agent.click("button[type=submit]")
    await agent.wait_for_load_state()
    await agent.goto(str(shop.deskbot.make_url("/console")))
    item = agent.locator(".queue-item").first
    await expect(item).to_contain_text("asked for a person", timeout=WAIT_MS)
    await item.locator("button").click()
    customer = agent.locator("#customer")
    await expect(customer).to_contain_text("Ana Lima ✓ signed in", timeout=WAIT_MS)
    await expect(customer).to_contain_text("vip")
    await expect(customer).to_contain_text("ana@shop.test")
    await expect(customer).to_contain_text(re.compile(r"Churn risk\d+%"))
    await agent.screenshot(path=str(ARTIFACTS / "console-signed-in-customer-desktop.png"))

    # The admin finds her, and the guest, on the Customers page, with a way to their chats.
    await users.add("ada@acme.test", "Ada Admin", AgentRole.ADMIN, PASSWORD, "test")
    admin = await (
        await shop.browser.new_context(viewport={"width": 1440, "height": 900})
    ).new_page()
    await admin.goto(str(shop.deskbot.make_url("/login")))
    await admin.fill("input[name=email]", "ada@acme.test")
    await admin.fill("input[name=password]", PASSWORD)
    await admin.click("button[type=submit]")
    await admin.wait_for_load_state()
    await admin.goto(str(shop.deskbot.make_url("/admin/customers?q=Guy Guest")))
    await expect(admin.locator("tbody")).to_contain_text("guy@home.test (given in the chat)")
    await admin.goto(str(shop.deskbot.make_url("/admin/customers?q=ana@shop")))
    row = admin.locator("tr[data-customer]").first
    await expect(row).to_contain_text("Ana Lima")
    await expect(row).to_contain_text("vip")
    await admin.screenshot(path=str(ARTIFACTS / "admin-customers-desktop.png"))
    await row.locator("a", has_text="latest #").click()
    await expect(admin.locator("#transcript")).to_contain_text("talk to a human", timeout=WAIT_MS)
    await admin.context.close()

    # A page whose identity was tampered with gets no chat in her name.
    forged = identity_attributes("not-the-secret", "42", "ana@shop.test", "Ana Lima")
    shop.pages["forged"] = "en|" + forged
    width, height = SIZES["phone"]
    intruder = await (
        await shop.browser.new_context(viewport={"width": width, "height": height})
    ).new_page()
    refused: list[str] = []
    intruder.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    await intruder.goto(shop.url("/forged"))
    await expect(intruder.locator("#deskbot-status")).to_have_attribute(
        "data-connected", "true", timeout=WAIT_MS
    )
    await expect(intruder.locator("#deskbot-prechat")).to_be_visible()  # a guest, not Ana
    assert await intruder.locator(".deskbot-in").count() == 0  # none of her chat
    assert any("identity was refused" in text for text in refused), refused
    await intruder.context.close()


def closed_now() -> str:
    """Business hours an hour long, half a day from now: the team is away whenever this runs."""
    hour = (datetime.now(UTC).hour + 12) % 23
    return f"Mon-Sun {hour:02d}:00-{hour + 1:02d}:00"


async def test_after_hours_a_visitor_leaves_an_email_and_answers_the_agent_by_email(
    provider: SmtpProvider,  # noqa: F811
    mail_settings: Callable[..., Settings],  # noqa: F811
) -> None:
    """The visitor leaves an address and closes the page; the agent's reply arrives by mail
    (aiosmtpd) with the link back; the visitor answers the mail (it lands in Dovecot, which
    deskbot reads by IMAP) and the agent sees the answer in the same conversation."""
    dovecot = Dovecot()
    dovecot.start()
    try:
        await dovecot.ready()
        port = free_port()
        settings = mail_settings(
            public_url=f"http://127.0.0.1:{port}",
            business_hours=closed_now(),
            email_imap_host="127.0.0.1",
            email_imap_port=dovecot.port,
            email_imap_ssl=False,
            email_imap_username=IMAP_USER,
            email_imap_password=IMAP_PASSWORD,
            email_imap_poll_s=1,
        )
        app = await init_app(settings)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        base = str(server.make_url("/"))
        agent = await app[keys.USERS].add("ann@acme.test", "Ann", AgentRole.AGENT, PASSWORD, "t")
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=chromium_path(), args=CHROMIUM_FLAGS
                )
                visitor = await (
                    await browser.new_context(viewport={"width": 390, "height": 844})
                ).new_page()
                await visitor.goto(base)
                status = visitor.locator("#deskbot-status")
                await expect(status).to_contain_text("Team back", timeout=WAIT_MS)
                await visitor.fill("#deskbot-input", "I need a person about a wrong invoice")
                await visitor.click("#deskbot-send")
                card = visitor.locator("#deskbot-email")
                await expect(card).to_be_visible(timeout=WAIT_MS)
                await card.locator("input[type=email]").fill("jo@home.test")
                await card.locator("button[type=submit]").click()
                await expect(visitor.locator(".deskbot-note")).to_contain_text("jo@home.test")
                await visitor.screenshot(path=str(ARTIFACTS / "widget-email-left-phone.png"))
                await visitor.context.close()  # the visitor leaves

                conversation_id = (await app[keys.QUEUE].entries())[0].conversation_id
                await agent_claims_on(server, conversation_id, agent.id)
                await app[keys.ENGINE].agent_reply(
                    conversation_id, agent.id, "Sorry about that: the invoice is corrected."
                )
                await eventually(lambda: provider.received, within=15)
                (mail,) = provider.received
                assert mail["To"] == "jo@home.test"
                body = mail.get_content()
                assert "Ann answered in your chat" in body and "invoice is corrected" in body
                link = next(w for w in body.split() if "/webchat/chat#resume=" in w)

                back = await (await browser.new_context()).new_page()  # the link, later
                await back.goto(link)
                await expect(back.locator(".deskbot-agent", has_text="corrected")).to_be_visible(
                    timeout=WAIT_MS
                )
                assert "resume=" not in back.url  # the token left the address bar
                await back.context.close()

                answer = EmailMessage()
                answer["From"] = "Jo <jo@home.test>"
                answer["To"] = "support@acme.test"
                answer["Subject"] = f"Re: {mail['Subject']}"
                answer["Message-ID"] = make_msgid("jo", domain="home.test")
                answer["In-Reply-To"] = mail["Message-ID"]
                answer["References"] = mail["Message-ID"]
                answer.set_content("Thank you, that was quick!\n\n> Sorry about that")
                imap = aioimaplib.IMAP4("127.0.0.1", dovecot.port)
                await imap.wait_hello_from_server()
                await imap.login(IMAP_USER, IMAP_PASSWORD)
                assert (await imap.append(answer.as_bytes(), mailbox="INBOX")).result == "OK"
                await imap.logout()

                console = await (
                    await browser.new_context(viewport={"width": 1440, "height": 900})
                ).new_page()
                await console.goto(str(server.make_url("/login")))
                await console.fill("input[name=email]", "ann@acme.test")
                await console.fill("input[name=password]", PASSWORD)
                await console.click("button[type=submit]")
                await console.wait_for_load_state()
                await console.goto(str(server.make_url("/console")))
                mine = console.locator("#mine-list button", has_text=f"#{conversation_id}")
                await mine.click(timeout=WAIT_MS)
                transcript = console.locator("#transcript")
                await expect(transcript).to_contain_text("that was quick", timeout=20_000)
                await expect(transcript).to_contain_text("sent by email")
                await expect(transcript).to_contain_text("wrong invoice")  # the same chat
                await expect(console.locator("#customer")).to_contain_text("jo@home.test")
                await console.screenshot(path=str(ARTIFACTS / "console-answer-by-email.png"))
                await browser.close()
        finally:
            await server.close()
    finally:
        dovecot.stop()


async def agent_claims_on(server: TestServer, conversation_id: int, agent_id: int) -> None:
    token = server.app[keys.SETTINGS].admin_token
    async with ClientSession(
        str(server.make_url("/")), headers={"Authorization": f"Bearer {token}"}
    ) as http:
        claimed = await http.post(
            f"/api/conversations/{conversation_id}/claim", json={"agent_id": agent_id}
        )
        assert claimed.status == 200, await claimed.text()
