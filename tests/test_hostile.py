"""The hostile corpus (tests/hostile_corpus.py) against every public endpoint of one server with
all four channels on: clear 4xx errors, no 500s, nothing stored from a refused request,
hostile text kept as inert text, forged credentials refused, replays stored once, nothing
served from outside deskbot's directories, oversized mail refused at the SMTP door."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from yarl import URL

from bot import keys
from bot.app import init_app
from channels.telegram import SECRET_HEADER
from models import AgentRole, Message
from tests.conftest import admin_headers
from tests.fake_slack import signed_headers
from tests.hostile_corpus import (
    BAD_BODIES,
    COOKIE_ENDPOINTS,
    FORGED_BEARERS,
    FORGED_FORWARDED_FOR,
    HOSTILE_TEXTS,
    REDIRECT_TARGETS,
    TRAVERSAL_PATHS,
    WEAK_PASSWORDS,
)
from tests.test_accounts import NONCE, add_user, post_login, sign_in
from tests.test_channels_together import everything, platforms  # noqa: F401  (fixtures)
from tests.test_email import SUPPORT, customer_mail, deliver
from tests.test_slack import event as slack_event
from tests.test_telegram import update as telegram_update
from tests.test_webchat import new_visitor, send

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
numbers = itertools.count(700_000)
JSON = {"Content-Type": "application/json"}


async def stored(client: TestClient) -> int:
    async with client.app[keys.SESSIONS]() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def texts_stored(client: TestClient) -> list[str]:
    async with client.app[keys.SESSIONS]() as session:
        rows = await session.scalars(select(Message.text).where(Message.direction == "in"))
        return list(rows)


def telegram_headers(client: TestClient) -> dict[str, str]:
    secret = client.app[keys.SETTINGS].telegram_webhook_secret
    return {SECRET_HEADER: secret, "Content-Type": "application/json"}


async def json_endpoints(client: TestClient) -> dict[str, tuple[str, Any]]:
    """path → (how to authenticate, headers or a signer), each with valid credentials so the
    body itself is what is tested."""
    visitor = await new_visitor(client)
    return {
        "/webchat/sessions": ("headers", JSON),
        "/webchat/messages": ("headers", {**visitor, **JSON}),
        "/api/nlu/parse": (
            "headers",
            {**admin_headers(client), "Content-Type": "application/json"},
        ),
        "/api/intents": ("headers", {**admin_headers(client), "Content-Type": "application/json"}),
        "/channels/telegram/webhook": ("headers", telegram_headers(client)),
        "/channels/slack/events": ("slack", None),
    }


async def test_malformed_bodies_get_a_clear_4xx_everywhere_and_store_nothing(
    everything: TestClient,  # noqa: F811
) -> None:
    endpoints = await json_endpoints(everything)
    before = await stored(everything)
    failures = []
    for (path, (kind, headers)), (label, body) in itertools.product(
        endpoints.items(), BAD_BODIES.items()
    ):
        if kind == "slack":
            headers = signed_headers(body.decode("latin-1"))
        response = await everything.post(path, data=body, headers=headers)
        text = await response.text()
        allowed = response.status in {400, 401, 413, 415, 422}
        if path == "/webchat/sessions" and label == "empty":
            allowed = response.status == 200  # the body is optional
        if path == "/channels/slack/events" and response.status == 404:
            allowed = "unhandled" in text  # Bolt's answer to a JSON object that is no event
        if not allowed or (response.status != 200 and len(text) > 2000):
            failures.append(f"{path} {label}: {response.status} {text[:200]}")
        elif response.content_type == "application/json" and response.status != 200:
            assert "error" in json.loads(text), f"{path} {label}: {text[:200]}"
    assert failures == [], "\n".join(failures)
    assert await stored(everything) == before
    status, body = await send(everything, await new_visitor(everything), "how much does it cost")
    assert status == 200 and "per user" in body["replies"][0]["text"]


async def test_nul_characters_in_admin_writes_get_a_clear_400(
    everything: TestClient,  # noqa: F811
) -> None:
    """PostgreSQL text cannot hold U+0000: found by schemathesis as a 500 on these writes."""
    headers = {**admin_headers(everything), **JSON}
    writes = {
        "/api/agents": {"email": "g0@acme.test\u0000", "name": "Ann", "password": "x" * 12},
        "/api/canned-responses": {"shortcut": "hi\u0000", "text": "Hello"},
        "/api/intents": {"name": "x\u0000", "examples": ["a"], "answers": {"en": "b"}},
    }
    for path, body in writes.items():
        response = await everything.post(path, json=body, headers=headers)
        assert response.status == 400, f"{path}: {response.status}"
        assert "NUL character" in (await response.json())["error"], path
    response = await everything.post(
        "/api/canned-responses", json={"shortcut": "hi", "text": "a\\u0000"}, headers=headers
    )
    assert response.status in {200, 201}, "a backslash followed by u0000 is ordinary text"


async def test_a_nul_character_in_the_sign_in_form_is_a_wrong_login(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    response = await post_login(client, "ann@acme.test\x00")
    assert response.status == 401 and "Wrong email or password" in await response.text()


async def test_hostile_text_is_stored_as_plain_text_on_every_channel(
    everything: TestClient,  # noqa: F811
) -> None:
    visitor = await new_visitor(everything)
    for label, text in HOSTILE_TEXTS.items():
        status, body = await send(everything, visitor, text)
        assert status == 200, f"web chat {label}: {body}"
        number = next(numbers)
        telegram = telegram_update(text=text, message_id=number, update_id=number)
        response = await everything.post(
            "/channels/telegram/webhook",
            data=json.dumps(telegram),
            headers=telegram_headers(everything),
        )
        assert response.status == 200, f"telegram {label}"
        slack = slack_event(text=text, ts=f"1700000000.{number}", client_msg_id=str(uuid.uuid4()))
        slack["event_id"] = f"Ev{number}"
        raw = json.dumps(slack)
        response = await everything.post(
            "/channels/slack/events", data=raw, headers=signed_headers(raw)
        )
        assert response.status == 200, f"slack {label}"
        subject = " ".join(text[:60].split())  # the mail library refuses CR/LF in headers
        await deliver(everything, customer_mail(text, subject=subject))

    expected = 4 * len(HOSTILE_TEXTS)
    received: list[str] = []
    for _ in range(100):
        received = await texts_stored(everything)
        if len(received) >= expected:
            break
        await asyncio.sleep(0.05)
    assert len(received) == expected, f"{len(received)} of {expected} messages stored"
    for label in ("sql injection", "script tag", "img onerror", "template injection"):
        assert sum(HOSTILE_TEXTS[label] in t for t in received) == 4, label
    assert not any("\x07" in t or "\x1b" in t or "\u202e" in t for t in received)
    history = await everything.get("/webchat/messages", headers=visitor)
    assert history.content_type == "application/json"  # never rendered as HTML by the API
    transcript = await history.json()
    assert any(m["text"] == HOSTILE_TEXTS["script tag"] for m in transcript["messages"])


async def test_forged_credentials_are_refused_everywhere(
    everything: TestClient,  # noqa: F811
) -> None:
    visitor = await new_visitor(everything)
    token = visitor["Authorization"].split()[1]
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    before = await stored(everything)
    for bearer in [*FORGED_BEARERS, f"Bearer {tampered}"]:
        headers = {"Authorization": bearer} if bearer else {}
        # aiohttp's parser refuses a header over 8 KB with 400 before any handler sees it
        refused = {400, 401} if len(bearer) > 8000 else {401}
        response = await everything.post("/webchat/messages", json={"text": "hi"}, headers=headers)
        assert response.status in refused, bearer[:40]
        response = await everything.get("/api/intents", headers=headers)
        assert response.status in refused, bearer[:40]
    for secret in [
        "",
        "wrong",
        "x" * 5000,
        everything.app[keys.SETTINGS].telegram_webhook_secret[:-1],
    ]:
        response = await everything.post(
            "/channels/telegram/webhook",
            json=telegram_update(update_id=next(numbers)),
            headers={SECRET_HEADER: secret},
        )
        assert response.status == 401
    raw = json.dumps(slack_event(text="forged"))
    for headers in [
        {},
        signed_headers(raw, secret="not-the-secret"),
        signed_headers(raw, timestamp=1_500_000_000),  # a replay from years ago
        {**signed_headers(raw), "X-Slack-Signature": "v0=" + "0" * 64},
    ]:
        response = await everything.post("/channels/slack/events", data=raw, headers=headers)
        assert response.status == 401
    everything.session.cookie_jar.update_cookies({"deskbot_session": "forged" * 10})
    console = await everything.get("/console", allow_redirects=False)
    assert console.status in {302, 303, 401}
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await everything.session.ws_connect(everything.make_url("/console/ws"))
    assert handshake.value.status == 401
    everything.session.cookie_jar.clear()
    assert await stored(everything) == before


async def test_replayed_deliveries_are_stored_once_on_every_channel(
    everything: TestClient,  # noqa: F811
) -> None:
    before = await stored(everything)
    visitor = await new_visitor(everything)
    number = next(numbers)
    telegram = json.dumps(telegram_update(message_id=number, update_id=number))
    slack = slack_event(text="how much does it cost", ts=f"1700000001.{number}")
    slack["event_id"] = f"Ev{number}"
    raw = json.dumps(slack)
    mail = customer_mail("how do I reset my password?")

    async def replay(attempt: int) -> None:
        await everything.post(
            "/webchat/messages",
            json={"text": "how much does it cost", "client_message_id": "same"},
            headers=visitor,
        )
        await everything.post(
            "/channels/telegram/webhook", data=telegram, headers=telegram_headers(everything)
        )
        retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
        await everything.post(
            "/channels/slack/events",
            data=raw,
            headers={**signed_headers(raw), **(retry if attempt else {})},
        )
        await deliver(everything, mail)

    await asyncio.gather(*(replay(n) for n in range(3)))
    for _ in range(100):
        customer_messages = len(await texts_stored(everything))
        if customer_messages >= 4:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # room for a late duplicate to show up
    assert len(await texts_stored(everything)) == 4
    assert await stored(everything) > before


async def test_paths_that_leave_the_served_directories_serve_nothing(
    everything: TestClient,  # noqa: F811
) -> None:
    for path in TRAVERSAL_PATHS:
        url = URL(str(everything.make_url("/"))[:-1] + path, encoded=True)
        response = await everything.session.get(url, headers=admin_headers(everything))
        body = await response.text()
        # 405: a POST-only route (the customer export) matched; nothing is served either way
        assert response.status in {400, 401, 403, 404, 405}, f"{path}: {response.status}"
        assert "root:" not in body and "class Settings" not in body, path


async def test_mail_over_the_size_limit_is_refused_at_the_smtp_door(
    everything: TestClient,  # noqa: F811
) -> None:
    settings = everything.app[keys.SETTINGS]
    before = await stored(everything)
    huge = customer_mail("see attached")
    huge.add_attachment(
        b"\0" * (settings.email_max_bytes + 1024),
        maintype="application",
        subtype="octet-stream",
        filename="../../etc/passwd",
    )
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await deliver(everything, huge)
    assert refused.value.code == 552
    assert await stored(everything) == before

    fits = customer_mail("how do I reset my password?")
    fits.add_attachment(
        b"%PDF-1.4" + b"\0" * 2_000_000,
        maintype="application",
        subtype="pdf",
        filename="../../../invoice.pdf",
    )
    many = EmailMessage()
    many["From"], many["To"], many["Subject"] = "x@customer.test", SUPPORT, "parts"
    many.set_content("how much does it cost")
    for n in range(300):
        many.add_attachment(b"x", maintype="text", subtype="plain", filename=f"{n}.txt")
    await deliver(everything, fits)
    await deliver(everything, many)
    for _ in range(100):
        texts = await texts_stored(everything)
        if len(texts) >= 2:
            break
        await asyncio.sleep(0.05)
    assert any("reset my password" in t for t in texts)
    assert any("how much does it cost" in t for t in texts)
    assert all(len(t) <= settings.max_message_chars for t in texts)


async def test_malformed_frames_on_the_chat_socket_get_error_frames_and_it_stays_open(
    everything: TestClient,  # noqa: F811
) -> None:
    visitor = await new_visitor(everything)
    token = visitor["Authorization"].split()[1]
    before = await stored(everything)
    async with everything.ws_connect(f"/webchat/ws?token={token}") as ws:
        await ws.receive_json(timeout=5)  # history
        for label, body in BAD_BODIES.items():
            if len(body) > 60_000:
                continue  # over the frame limit: the socket is closed, tested in test_webchat
            await ws.send_str(body.decode("utf-8", errors="replace"))
            frame = await ws.receive_json(timeout=5)
            assert frame["type"] == "error" and frame["error"], label
        await ws.send_json({"type": "message", "text": "how much does it cost"})
        kinds = set()
        while not {"ack", "message"} <= kinds:
            kinds.add((await ws.receive_json(timeout=5))["type"])
    assert await stored(everything) == before + 2


# --- the web edge and accounts (issue 13): run by the `client` fixture, both databases ---


async def test_sign_in_never_redirects_off_the_site(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    for target in REDIRECT_TARGETS:
        response = await post_login(client, "ann@acme.test", next_path=target)
        assert response.status == 303, repr(target)
        assert response.headers["Location"] == "/console", repr(target)
        client.session.cookie_jar.clear()
        page = await client.get("/login", params={"next": target})
        if "\x00" in target:  # every query string with a NUL is refused as a whole
            assert page.status == 400, repr(target)
            continue
        assert 'name="next" value=""' in await page.text(), repr(target)


async def test_parallel_login_guesses_meet_the_brake(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    limit = client.app[keys.SETTINGS].login_max_failures
    nonce = NONCE.search(await (await client.get("/login")).text()).group(1)  # type: ignore[union-attr]

    async def guess(n: int) -> int:
        form = {"csrf_token": nonce, "email": "ann@acme.test", "password": f"guess-{n:03}-x"}
        return (await client.post("/login", data=form, allow_redirects=False)).status

    statuses = await asyncio.gather(*(guess(n) for n in range(60)))
    assert statuses.count(401) == limit and statuses.count(429) == 60 - limit


async def test_passwords_never_reach_the_audit_trail_and_weak_ones_are_refused(
    client: TestClient,
) -> None:
    headers = {**admin_headers(client), **JSON}
    for weak in WEAK_PASSWORDS:
        body = {"email": "ann.smith@acme.test", "name": "Ann Smith", "password": weak}
        refused = await client.post("/api/agents", json=body, headers=headers)
        assert refused.status == 422, weak[:20]
    secret = "Plain-Text-Probe-4471"
    body = {"email": "ann.smith@acme.test", "name": "Ann Smith", "password": secret}
    created = await client.post("/api/agents", json=body, headers=headers)
    assert created.status == 201
    agent_id = (await created.json())["id"]
    patched = await client.patch(
        f"/api/agents/{agent_id}", json={"password": secret + "-2"}, headers=headers
    )
    assert patched.status == 200
    audit = await (await client.get("/api/audit?entity=user", headers=headers)).json()
    assert secret not in json.dumps(audit)
    assert [e["action"] for e in audit["entries"]].count("user_added") == 1


async def test_cookie_borne_writes_without_the_csrf_token_are_refused(client: TestClient) -> None:
    await add_user(client, "root@acme.test", AgentRole.ADMIN)
    await sign_in(client, "root@acme.test")
    assert (await client.post("/logout", allow_redirects=False)).status == 403
    assert (await client.get("/api/me")).status == 200  # still signed in
    assert (await client.post("/api/customers/1/export", data={})).status == 403
    assert (await client.get("/api/customers/1/export")).status == 405


async def test_other_sites_get_cors_on_the_web_chat_only(client: TestClient) -> None:
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    for path in COOKIE_ENDPOINTS:
        answer = await client.options(path, headers=preflight)
        assert "Access-Control-Allow-Origin" not in answer.headers, path
        answer = await client.get(path, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in answer.headers, path
        assert "Access-Control-Allow-Credentials" not in answer.headers, path
    chat = await client.options("/webchat/sessions", headers=preflight)
    assert chat.headers["Access-Control-Allow-Origin"] == "https://evil.example"
    assert "Access-Control-Allow-Credentials" not in chat.headers


async def test_a_forged_forwarded_for_is_ignored_without_trusted_proxies(
    aiohttp_client, make_settings
) -> None:  # type: ignore[no-untyped-def]
    limit = len(FORGED_FORWARDED_FOR) - 1
    client: TestClient = await aiohttp_client(
        await init_app(make_settings(rate_sessions_per_ip_min=limit))
    )
    statuses = [
        (await client.post("/webchat/sessions", json={}, headers={"X-Forwarded-For": f})).status
        for f in FORGED_FORWARDED_FOR
    ]
    assert statuses == [200] * limit + [429]


async def test_the_console_socket_ends_with_the_session(client: TestClient) -> None:
    await add_user(client, "ann@acme.test")
    csrf = await sign_in(client, "ann@acme.test")
    async with client.ws_connect("/console/ws") as ws:
        await client.post("/logout", headers={"X-CSRF-Token": csrf}, allow_redirects=False)
        frame = await ws.receive(timeout=5)
        while frame.type == aiohttp.WSMsgType.TEXT:
            frame = await ws.receive(timeout=5)
        assert frame.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}


async def test_answers_carry_no_version_no_sniffing_and_no_caching_of_apis(
    client: TestClient,
) -> None:
    for path in ("/healthz", "/api/openapi.json", "/login", "/webchat/widget.js", "/nowhere"):
        answer = await client.get(path)
        assert answer.headers["Server"] == "deskbot", path
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
    for path in ("/api/openapi.json", "/login", "/healthz"):
        assert (await client.get(path)).headers["Cache-Control"] == "no-store", path


async def test_the_visitor_sees_no_intent_confidence_or_sentiment(client: TestClient) -> None:
    visitor = await new_visitor(client)
    status, sent = await send(client, visitor, "What payment methods do you accept?")
    assert status == 200
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    token = visitor["Authorization"].split()[1]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        frame = await ws.receive_json(timeout=5)
    for message in [*sent["replies"], *history["messages"], *frame["messages"]]:
        assert not {"intent", "confidence", "sentiment"} & set(message), message
    staff_view = await client.get(
        f"/api/conversations/{sent['conversation_id']}", headers=admin_headers(client)
    )
    assert any(m.get("intent") for m in (await staff_view.json())["messages"])
