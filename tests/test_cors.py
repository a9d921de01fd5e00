"""The widget on another site: CORS on the web-chat API only, in real Chromium end to end."""

from __future__ import annotations

import re
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import async_playwright, expect

from bot.app import init_app
from bot.settings import Settings, SettingsError
from tests.browser import CHROMIUM_FLAGS, chromium_path
from tests.conftest import admin_headers

SHOP = "https://shop.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


async def test_the_web_chat_api_answers_preflights_from_any_origin_by_default(
    client: TestClient,
) -> None:
    preflight = await client.options("/webchat/sessions", headers={"Origin": SHOP, **PREFLIGHT})
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    created = await client.post("/webchat/sessions", json={}, headers={"Origin": SHOP})
    assert created.status == 200 and created.headers["Access-Control-Allow-Origin"] == SHOP
    token = (await created.json())["token"]
    auth = {
        "Origin": SHOP,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    preflight = await client.options("/webchat/messages", headers=auth)
    assert preflight.status == 200
    history = await client.get(
        "/webchat/messages", headers={"Origin": SHOP, "Authorization": f"Bearer {token}"}
    )
    assert history.status == 200 and history.headers["Access-Control-Allow-Origin"] == SHOP


async def test_cookie_authenticated_apis_get_no_cors(client: TestClient) -> None:
    for path in ("/api/intents", "/api/agents", "/login", "/logout", "/console"):
        preflight = await client.options(path, headers={"Origin": SHOP, **PREFLIGHT})
        assert "Access-Control-Allow-Origin" not in preflight.headers, path
    response = await client.get("/api/intents", headers={"Origin": SHOP, **admin_headers(client)})
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_configured_origins_only(
    aiohttp_client, make_settings: Callable[..., Settings]
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(webchat_allowed_origins=[SHOP])
    client: TestClient = await aiohttp_client(await init_app(settings))
    allowed = await client.options("/webchat/sessions", headers={"Origin": SHOP, **PREFLIGHT})
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    other = {"Origin": "https://evil.example", **PREFLIGHT}
    refused = await client.options("/webchat/sessions", headers=other)
    assert refused.status == 403 and "Access-Control-Allow-Origin" not in refused.headers
    token = (await (await client.post("/webchat/sessions", json={})).json())["token"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await client.ws_connect(
            f"/webchat/ws?token={token}", headers={"Origin": "https://evil.example"}
        )
    assert handshake.value.status == 403
    async with client.ws_connect(f"/webchat/ws?token={token}", headers={"Origin": SHOP}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "history"


def test_an_origin_must_be_scheme_and_host(make_settings: Callable[..., Settings]) -> None:
    for bad in ("shop.example", "https://shop.example/page", "ftp://x"):
        with pytest.raises(SettingsError, match="is not an origin"):
            make_settings(webchat_allowed_origins=[bad])


async def test_widget_embedded_on_another_origin_chats_in_chromium(settings: Settings) -> None:
    """The README's one tag on a page of a second loopback origin (127.0.0.2)."""
    deskbot = TestServer(await init_app(settings), host="127.0.0.1")
    await deskbot.start_server()
    widget = deskbot.make_url("/webchat/widget.js")
    shop = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text=f"<!doctype html><title>Shop</title><h1>Shop</h1>"
            f'<script src="{widget}" data-open="true" defer></script>',
            content_type="text/html",
        )

    shop.router.add_get("/", page)
    site = TestServer(shop, host="127.0.0.2")
    await site.start_server()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
            page_ = await browser.new_page()
            errors: list[str] = []
            page_.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page_.goto(str(site.make_url("/")))
            await expect(page_.locator("#deskbot-status")).to_have_attribute(
                "data-connected", "true", timeout=10_000
            )
            # who can answer, read cross-origin: "Team away …" or "Team back Mon 09:00 UTC"
            await expect(page_.locator("#deskbot-status")).to_have_text(re.compile(r"^Team "))
            await page_.fill("#deskbot-input", "What payment methods do you accept?")
            await page_.click("#deskbot-send")
            answer = page_.locator(".deskbot-out", has_text="PayPal")
            await expect(answer).to_be_visible(timeout=10_000)
            await page_.reload()  # the stored token is checked cross-origin, then resumed
            await expect(page_.locator(".deskbot-out", has_text="PayPal")).to_be_visible(
                timeout=10_000
            )
            assert not [e for e in errors if "CORS" in e], errors
            await browser.close()
    finally:
        await site.close()
        await deskbot.close()
