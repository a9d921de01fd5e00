"""The demo page in real Chromium: a customer types a question and reads the answer."""

from __future__ import annotations

from pathlib import Path

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright, expect

from bot import keys
from bot.app import init_app
from bot.settings import Settings
from models import AgentRole
from tests.browser import CHROMIUM_FLAGS, chromium_path

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


async def test_demo_page_chat_in_chromium(settings: Settings) -> None:
    server = TestServer(await init_app(settings))
    await server.start_server()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            page = await browser.new_page()
            await page.goto(str(server.make_url("/")))
            await expect(page.locator("#deskbot-status")).to_have_attribute(
                "data-connected", "true", timeout=10_000
            )
            await page.fill("#deskbot-input", "What payment methods do you accept?")
            await page.click("#deskbot-send")
            answer = page.locator(".deskbot-out", has_text="PayPal")
            await expect(answer).to_be_visible(timeout=10_000)

            hostile = "<img src=x onerror=\"document.body.dataset.pwned='1'\">"
            await page.fill("#deskbot-input", hostile)
            await page.click("#deskbot-send")
            await expect(page.locator(".deskbot-in", has_text="onerror")).to_be_visible()
            assert await page.evaluate("document.body.dataset.pwned") is None

            await page.reload()  # the conversation resumes with its history
            await expect(page.locator(".deskbot-out", has_text="PayPal")).to_be_visible(
                timeout=10_000
            )
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(
                path=str(ARTIFACTS / f"webchat-demo-{settings.sqlalchemy_url.split('+')[0]}.png")
            )
            await browser.close()
    finally:
        await server.close()


async def test_clarify_buttons_and_confirmation_in_chromium(settings: Settings) -> None:
    """A vague word gets numbered choices as buttons; a click answers with that intent, and
    the buttons go; an irreversible intent waits for Yes. Desktop and phone sizes."""
    server = TestServer(await init_app(settings))
    await server.start_server()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            for size, viewport in (("desktop", (1280, 800)), ("phone", (390, 844))):
                page = await browser.new_page(
                    viewport={"width": viewport[0], "height": viewport[1]}
                )
                await page.goto(str(server.make_url("/")))
                await expect(page.locator("#deskbot-status")).to_have_attribute(
                    "data-connected", "true", timeout=10_000
                )
                await page.fill("#deskbot-input", "account")
                await page.click("#deskbot-send")
                choices = page.locator(".deskbot-choice")
                await expect(choices.first).to_be_visible(timeout=10_000)
                assert 2 <= await choices.count() <= 3
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / f"webchat-clarify-{size}.png"))
                # The delete-account option (if offered) is for the confirmation below.
                choice = choices.filter(has_not_text="delete").first
                title = await choice.inner_text()
                await choice.click()
                await expect(page.locator(".deskbot-in", has_text=title)).to_be_visible()
                await expect(page.locator(".deskbot-choice")).to_have_count(0, timeout=10_000)
                await expect(page.locator(".deskbot-out")).to_have_count(2, timeout=10_000)

                await page.fill("#deskbot-input", "I think I want to get rid of my account")
                await page.click("#deskbot-send")
                yes = page.locator(".deskbot-choice", has_text="Yes")
                await expect(yes).to_be_visible(timeout=10_000)
                await page.screenshot(path=str(ARTIFACTS / f"webchat-confirm-{size}.png"))
                await yes.click()
                await expect(
                    page.locator(".deskbot-out", has_text="Delete account").last
                ).to_be_visible(timeout=10_000)
                await page.context.clear_cookies()
                await page.evaluate("localStorage.clear()")
                await page.close()
            await browser.close()
    finally:
        await server.close()


async def test_the_widget_closes_and_counts_replies_that_arrive_meanwhile(
    settings: Settings,
) -> None:
    """Closed with the × (or Escape), the chat goes on: an agent's reply shows as a badge on
    the launcher, and opening the widget shows it. Full screen on a phone."""
    app = await init_app(settings)
    server = TestServer(app)
    await server.start_server()
    admin = {"Authorization": f"Bearer {app[keys.SETTINGS].admin_token}"}
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            for size, viewport in (("desktop", (1280, 800)), ("phone", (390, 844))):
                page = await browser.new_page(
                    viewport={"width": viewport[0], "height": viewport[1]}
                )
                await page.goto(str(server.make_url("/")))
                panel, launcher = page.locator("#deskbot-panel"), page.locator("#deskbot-launcher")
                await expect(page.locator("#deskbot-status")).to_have_attribute(
                    "data-connected", "true", timeout=10_000
                )
                if size == "phone":  # the whole screen, not a box over the page
                    box = await panel.bounding_box()
                    assert box is not None and box["width"] == 390 and box["height"] >= 800
                await page.fill("#deskbot-input", "I want to talk to a human")
                await page.click("#deskbot-send")
                await expect(page.locator(".deskbot-out", has_text="passing you")).to_be_visible(
                    timeout=10_000
                )
                await page.click("#deskbot-close")
                await expect(panel).to_be_hidden()
                await expect(launcher).to_be_visible()
                await expect(launcher).to_be_focused()

                queue = await app[keys.QUEUE].entries()
                conversation_id = queue[0].conversation_id
                agent = await app[keys.USERS].add(
                    f"ann-{size}@acme.test", "Ann", AgentRole.AGENT, "a-long-test-password", "t"
                )
                async with ClientSession(str(server.make_url("/"))) as http:
                    path = f"/api/conversations/{conversation_id}"
                    claimed = await http.post(
                        f"{path}/claim", json={"agent_id": agent.id}, headers=admin
                    )
                    assert claimed.status == 200, await claimed.text()
                    replied = await http.post(
                        f"{path}/reply",
                        json={"agent_id": agent.id, "text": "Ann here, how can I help?"},
                        headers=admin,
                    )
                    assert replied.status in (200, 201), await replied.text()
                await expect(page.locator("#deskbot-unread")).to_have_text("1", timeout=10_000)
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / f"webchat-closed-badge-{size}.png"))
                await launcher.click()
                await expect(page.locator(".deskbot-out", has_text="Ann here")).to_be_visible()
                await expect(page.locator("#deskbot-unread")).to_be_hidden()
                await expect(page.locator("#deskbot-input")).to_be_focused()
                await page.keyboard.press("Escape")
                await expect(panel).to_be_hidden()
                await app[keys.ENGINE].resolve(conversation_id, "test")
                await page.context.clear_cookies()
                await page.evaluate("localStorage.clear()")
                await page.close()
            await browser.close()
    finally:
        await server.close()
