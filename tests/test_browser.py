"""The demo page in real Chromium: a customer types a question and reads the answer."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestServer
from playwright.async_api import async_playwright, expect

from bot.app import init_app
from bot.settings import Settings
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
            await expect(page.locator("#deskbot-status")).to_have_text("online", timeout=10_000)
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
