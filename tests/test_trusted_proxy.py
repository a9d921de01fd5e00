"""Behind a real local reverse proxy: limits count each real client, not the proxy, and an
X-Forwarded-For from a peer that is no trusted proxy is ignored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import keys
from bot.app import init_app
from bot.settings import Settings, SettingsError
from bot.web.client_address import forwarded_client, parse_networks
from models import AgentRole
from tests.reverse_proxy import reverse_proxy
from tests.test_accounts import PASSWORD, post_login

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@asynccontextmanager
async def from_address(server: TestServer, address: str) -> AsyncIterator[TestClient]:
    """A client whose connections come from `address` (any of 127.0.0.0/8 on loopback)."""
    client = TestClient(server, connector=aiohttp.TCPConnector(local_addr=(address, 0)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def deployed(
    settings: Settings, proto: str = "http"
) -> AsyncIterator[tuple[TestServer, TestServer]]:
    """deskbot on 127.0.0.1, and the proxy in front of it, both real sockets."""
    deskbot = TestServer(await init_app(settings), host="127.0.0.1")
    await deskbot.start_server()
    proxy = TestServer(reverse_proxy(deskbot.make_url("/"), proto), host="127.0.0.1")
    await proxy.start_server()
    try:
        yield deskbot, proxy
    finally:
        await proxy.close()
        await deskbot.close()


async def test_one_client_behind_the_proxy_hitting_a_limit_does_not_block_another(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(trusted_proxies=["127.0.0.1"], rate_sessions_per_ip_min=3)
    async with (
        deployed(settings) as (deskbot, proxy),
        from_address(proxy, "127.0.0.2") as mallory,
        from_address(proxy, "127.0.0.3") as ann_browser,
    ):
        await deskbot.app[keys.USERS].add("ann@acme.test", "Ann", AgentRole.AGENT, PASSWORD, "t")
        for n in range(settings.login_max_failures):
            assert (await post_login(mallory, f"guess{n}@acme.test", "x" * 12)).status == 401
        assert (await post_login(mallory, "other@acme.test", "x" * 12)).status == 429
        signed_in = await post_login(ann_browser, "ann@acme.test", PASSWORD)
        assert signed_in.status == 303, await signed_in.text()

        for _ in range(3):
            assert (await mallory.post("/webchat/sessions", json={})).status == 200
        assert (await mallory.post("/webchat/sessions", json={})).status == 429
        assert (await ann_browser.post("/webchat/sessions", json={})).status == 200


async def test_an_untrusted_peers_forwarded_for_is_ignored(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(trusted_proxies=["127.0.0.1"], rate_sessions_per_ip_min=3)
    async with (
        deployed(settings) as (deskbot, proxy),
        from_address(deskbot, "127.0.0.5") as direct,
        from_address(proxy, "127.0.0.2") as behind,
    ):
        for n in range(3):  # a fresh forged address each time does not reset its own limit
            forged = {"X-Forwarded-For": f"203.0.113.{n}", "X-Forwarded-Proto": "https"}
            assert (await direct.post("/webchat/sessions", json={}, headers=forged)).status == 200
        refused = await direct.post(
            "/webchat/sessions", json={}, headers={"X-Forwarded-For": "198.51.100.7"}
        )
        assert refused.status == 429
        # nor can it pose as a client behind the proxy: that client's count is untouched
        for _ in range(3):
            assert (await behind.post("/webchat/sessions", json={})).status == 200
        # and a client behind the proxy forging the header gets its own address counted
        spoof = {"X-Forwarded-For": "198.51.100.9"}
        assert (await behind.post("/webchat/sessions", json={}, headers=spoof)).status == 429


async def test_without_trusted_proxies_the_header_means_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(rate_sessions_per_ip_min=1)
    async with deployed(settings) as (deskbot, _), from_address(deskbot, "127.0.0.7") as c:
        assert (await c.post("/webchat/sessions", json={})).status == 200
        forged = {"X-Forwarded-For": "203.0.113.50"}
        assert (await c.post("/webchat/sessions", json={}, headers=forged)).status == 429


async def test_the_proxys_forwarded_proto_is_believed_and_nobody_elses(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(trusted_proxies=["127.0.0.0/30"])
    async with (
        deployed(settings, proto="https") as (deskbot, proxy),
        from_address(proxy, "127.0.0.9") as behind,
        from_address(deskbot, "127.0.0.10") as direct,
    ):
        form = await behind.get("/login")
        assert "Secure" in form.headers["Set-Cookie"]
        forged = await direct.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" not in forged.headers["Set-Cookie"]


def test_the_forwarded_chain_is_read_from_the_right() -> None:
    nets = parse_networks(["10.0.0.0/8", "127.0.0.1"])
    assert forwarded_client("127.0.0.1", ["198.51.100.1, 10.1.1.1"], nets) == "198.51.100.1"
    assert forwarded_client("127.0.0.1", ["6.6.6.6, 198.51.100.1"], nets) == "198.51.100.1"
    assert forwarded_client("127.0.0.1", ["6.6.6.6", "198.51.100.1"], nets) == "198.51.100.1"
    assert forwarded_client("127.0.0.1", ["junk, 198.51.100.1, 10.0.0.2"], nets) == "198.51.100.1"
    assert forwarded_client("127.0.0.1", ["198.51.100.1, junk"], nets) is None
    assert forwarded_client("127.0.0.1", [], nets) is None
    assert forwarded_client("192.0.2.1", ["198.51.100.1"], nets) is None
    assert forwarded_client("::ffff:127.0.0.1", ["2001:db8::1"], nets) == "2001:db8::1"


def test_a_bad_trusted_proxy_entry_is_a_clear_error(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(SettingsError, match="not an IP address or CIDR range"):
        make_settings(trusted_proxies=["proxy.internal"])


async def test_the_chat_socket_works_through_a_trusted_proxy(
    make_settings: Callable[..., Settings],
) -> None:
    """The request is cloned with the client's address; the WebSocket upgrade still works."""
    settings = make_settings(trusted_proxies=["127.0.0.1"])
    async with deployed(settings) as (deskbot, _), from_address(deskbot, "127.0.0.1") as c:
        forwarded = {"X-Forwarded-For": "198.51.100.20", "X-Forwarded-Proto": "https"}
        token = (await (await c.post("/webchat/sessions", json={})).json())["token"]
        async with c.ws_connect(f"/webchat/ws?token={token}", headers=forwarded) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "history"
            await ws.send_json({"type": "message", "text": "how much does it cost"})
            kinds = {(await ws.receive_json(timeout=5))["type"] for _ in range(2)}
            assert kinds == {"ack", "message"}
