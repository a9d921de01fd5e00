"""The web-chat customer is somebody: a signed identity from the company's site links them to
the CRM; a visitor who left is answered by email and can answer back by email; the agent's
name and typing reach the widget; CSAT is a row of buttons; the welcome is the admin's."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from bot import keys
from bot.app import init_app
from bot.settings import Settings
from channels.visitor_identity import sign_identity
from models import Customer, CustomerIdentity, OutboxItem
from models.base import utcnow
from tests.conftest import admin_headers, eventually
from tests.mail_servers import SmtpProvider, free_port
from tests.test_agent_api import make_agent
from tests.test_email import customer_mail, deliver, mail_settings, provider  # noqa: F401
from tests.test_webchat import new_visitor, send

CRM_CSV = "email,tier,tenure,MonthlyCharges\nana@shop.test,vip,2,99.5\n"


def signed(client: TestClient, **fields: Any) -> dict[str, str]:
    identity = json.dumps({"issued_at": int(time.time()), **fields})
    secret = client.app[keys.SETTINGS].webchat_identity_secret
    return {"identity": identity, "signature": sign_identity(secret, identity)}


async def session(client: TestClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/webchat/sessions", json=body)
    return response.status, await response.json()


def bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['token']}"}


async def panel_of(client: TestClient, conversation_id: int) -> dict[str, Any]:
    response = await client.get(
        f"/api/conversations/{conversation_id}/customer", headers=admin_headers(client)
    )
    assert response.status == 200
    return dict(await response.json())


async def test_a_signed_identity_links_the_visitor_to_the_crm_customer(
    client: TestClient,
) -> None:
    imported = await client.post(
        "/api/customers/import",
        json={"content": CRM_CSV, "key": "email"},
        headers=admin_headers(client),
    )
    assert imported.status == 200, await imported.text()
    status, laptop = await session(
        client, signed(client, user_id="42", email="Ana@Shop.test", name="Ana Lima")
    )
    assert status == 200 and laptop["identified"] is True
    _, sent = await send(client, bearer(laptop), "What payment methods do you accept?")
    panel = await panel_of(client, sent["conversation_id"])
    assert panel["tier"] == "vip" and panel["verified"] is True
    assert panel["display_name"] == "Ana Lima" and panel["email"] == "ana@shop.test"

    # The same user on a phone: the same chat, the same customer.
    _, phone = await session(client, signed(client, user_id="42", email="ana@shop.test"))
    assert phone["visitor_id"] == laptop["visitor_id"]
    history = await (await client.get("/webchat/messages", headers=bearer(phone))).json()
    assert history["messages"][0]["text"] == "What payment methods do you accept?"
    async with client.app[keys.SESSIONS]() as db:
        customers = (await db.scalars(select(Customer))).all()
    assert len(customers) == 1  # linked to the imported row, not a second "(unknown)"


async def test_forged_stale_and_malformed_identities_are_refused(client: TestClient) -> None:
    good = signed(client, user_id="7", email="bo@shop.test")
    claims = [
        {**good, "signature": "0" * 64},  # forged
        {**good, "identity": good["identity"].replace('"7"', '"8"')},  # someone else's id
        signed(client, user_id="7", issued_at=int(time.time()) - 3 * 24 * 3600),  # stale
        signed(client, user_id="7", issued_at=int(time.time()) + 3600),  # from the future
        signed(client, email="bo@shop.test"),  # no user id
        signed(client, user_id="7", email="not an address"),
        {"identity": "[1, 2]", "signature": sign_identity("x", "[1, 2]")},
        {**good, "signature": "é" * 64},  # not hex: refused, not a server error
        signed(client, user_id="7", issued_at=float("nan")),
        {"identity": "x" * 5000, "signature": "00"},
    ]
    for claim in claims:
        status, body = await session(client, claim)
        assert status in {401, 422}, (claim, body)
        assert body["error"]
    async with client.app[keys.SESSIONS]() as db:
        assert (await db.scalars(select(CustomerIdentity))).all() == []
    assert (await session(client, good))[0] == 200


async def test_identities_refused_when_the_server_has_no_secret(
    make_settings: Callable[..., Settings], aiohttp_client: Any
) -> None:
    settings = make_settings()
    settings = settings.model_copy(update={"webchat_identity_secret": ""})
    client = await aiohttp_client(await init_app(settings))
    identity = json.dumps({"user_id": "1", "issued_at": int(time.time())})
    status, body = await session(client, {"identity": identity, "signature": "ab"})
    assert status == 401 and "not set up" in body["error"]


async def test_agent_name_typing_and_csat_buttons_reach_the_widget(client: TestClient) -> None:
    visitor = await new_visitor(client)
    _, queued = await send(client, visitor, "I need a human")
    conversation_id = queued["conversation_id"]
    agent_id = await make_agent(client, "ann@acme.test")
    engine = client.app[keys.ENGINE]
    assert not await engine.agent_typing(conversation_id, agent_id)  # not hers yet
    await engine.claim(conversation_id, agent_id)
    token = visitor["Authorization"].split()[1]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        await ws.receive_json(timeout=5)  # history
        typing = await client.post(
            f"/api/conversations/{conversation_id}/typing",
            json={"agent_id": agent_id},
            headers=admin_headers(client),
        )
        assert typing.status == 200
        assert await ws.receive_json(timeout=5) == {"type": "typing", "name": "ann"}
        await engine.agent_reply(conversation_id, agent_id, "Hi, Ann here.")
        pushed = await ws.receive_json(timeout=5)
        assert pushed["message"]["sender_name"] == "ann"
        await engine.resolve(conversation_id, "agent")
        csat = await ws.receive_json(timeout=5)
        assert [b["payload"] for b in csat["message"]["quick_replies"]] == list("12345")
    _, rated = await send(client, visitor, "5")
    assert "Thank you" in rated["replies"][0]["text"]
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    assert next(m for m in history["messages"] if m["sender_kind"] == "agent")["sender_name"]


async def test_typing_for_a_chat_that_is_not_yours_is_refused(client: TestClient) -> None:
    visitor = await new_visitor(client)
    _, queued = await send(client, visitor, "I need a human")
    agent_id = await make_agent(client, "sam@acme.test")
    response = await client.post(
        f"/api/conversations/{queued['conversation_id']}/typing",
        json={"agent_id": agent_id},
        headers=admin_headers(client),
    )
    assert response.status == 409


async def test_the_welcome_and_forms_are_the_admins_per_language(client: TestClient) -> None:
    english = await (await client.get("/webchat/availability?lang=en")).json()
    assert "agent" in english["welcome"] and english["prechat_form"] is False
    change = {"welcome": {"zh": "欢迎光临！", "en": "Welcome to Acme!"}, "prechat_form": True}
    saved = await client.patch("/api/webchat/settings", json=change, headers=admin_headers(client))
    assert saved.status == 200, await saved.text()
    chinese = await (await client.get("/webchat/availability?lang=zh-CN")).json()
    assert chinese["welcome"] == "欢迎光临！" and chinese["prechat_form"] is True
    french = await (await client.get("/webchat/availability?lang=fr")).json()
    assert french["welcome"] == "Welcome to Acme!"  # no French text: English
    bad = await client.patch(
        "/api/webchat/settings", json={"welcome": {"<b>": "x"}}, headers=admin_headers(client)
    )
    assert bad.status in {400, 422}
    anonymous = await client.patch("/api/webchat/settings", json={"prechat_form": False})
    assert anonymous.status == 401


async def test_a_bad_contact_address_is_refused_and_nothing_is_kept(client: TestClient) -> None:
    visitor = await new_visitor(client)
    for email in ["", "nobody", "a@", "x" * 400 + "@a.test"]:
        response = await client.post("/webchat/contact", json={"email": email}, headers=visitor)
        assert response.status in {400, 422}, email
    async with client.app[keys.SESSIONS]() as db:
        assert (await db.scalars(select(Customer))).all() == []
    forged = {"Authorization": "Bearer forged"}
    response = await client.post("/webchat/contact", json={"email": "a@b.test"}, headers=forged)
    assert response.status == 401


async def test_a_visitor_who_left_is_answered_by_email_and_answers_back(
    aiohttp_client: Any,
    mail_settings: Callable[..., Settings],  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    client = await aiohttp_client(
        await init_app(
            mail_settings(email_receiver_port=free_port(), public_url="https://help.acme.test")
        )
    )
    visitor = await new_visitor(client)
    _, queued = await send(client, visitor, "I need a human about my invoice")
    saved = await client.post(
        "/webchat/contact", json={"email": "Lee@Home.test", "name": "Lee"}, headers=visitor
    )
    assert (await saved.json()) == {"email": "lee@home.test", "by_email": True}
    conversation_id = queued["conversation_id"]
    agent_id = await make_agent(client, "ann@acme.test", name="Ann")
    engine = client.app[keys.ENGINE]
    await engine.claim(conversation_id, agent_id)
    token = visitor["Authorization"].split()[1]

    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:  # on the page: no mail
        await ws.receive_json(timeout=5)
        await engine.agent_reply(conversation_id, agent_id, "Looking at it now.")
        await ws.receive_json(timeout=5)
    await engine.agent_reply(conversation_id, agent_id, "Fixed: the refund is on its way.")
    await eventually(lambda: provider.received, within=10)
    (mail,) = provider.received
    assert mail["To"] == "lee@home.test"
    body = mail.get_content()
    assert "Ann answered in your chat" in body and "refund is on its way" in body
    assert "Looking at it now" not in body
    link = next(w for w in body.split() if w.startswith("https://help.acme.test/webchat/chat#"))
    fragment = parse_qs(link.split("#", 1)[1])
    resumed, language = fragment["resume"][0], fragment["lang"][0]
    assert language == "en"  # the page opens the widget in the chat's language
    page = await client.get("/webchat/chat")
    assert page.status == 200 and "data-resume" in await page.text()
    history = await client.get("/webchat/messages", headers={"Authorization": f"Bearer {resumed}"})
    assert "refund" in (await history.json())["messages"][-1]["text"]

    answer = customer_mail(
        "Great, thank you!\n\nOn Tue, Ann wrote:\n> Fixed: the refund is on its way.",
        subject=str(mail["Subject"]),
        references=[str(mail["Message-ID"])],
        sender="lee@home.test",
    )
    await deliver(client, answer)

    async def answered_in_the_chat() -> bool:
        detail = await client.get(
            f"/api/conversations/{conversation_id}", headers=admin_headers(client)
        )
        texts = [m["text"] for m in (await detail.json())["messages"]]
        return "Great, thank you!" in texts

    await eventually(answered_in_the_chat, within=10)
    conversations = await client.get("/api/conversations", headers=admin_headers(client))
    assert len((await conversations.json())["conversations"]) == 1  # the same conversation

    # A mail naming the chat's thread from another address starts its own conversation.
    intruder = customer_mail(
        "Let me in", references=[str(mail["Message-ID"])], sender="eve@evil.test"
    )
    await deliver(client, intruder)

    async def apart() -> bool:
        listed = await client.get("/api/conversations", headers=admin_headers(client))
        return len((await listed.json())["conversations"]) == 2

    await eventually(apart, within=10)
    detail = await client.get(
        f"/api/conversations/{conversation_id}", headers=admin_headers(client)
    )
    assert "Let me in" not in [m["text"] for m in (await detail.json())["messages"]]


async def test_a_visitor_on_the_page_gets_no_email_and_a_stale_beat_counts_as_gone(
    aiohttp_client: Any,
    mail_settings: Callable[..., Settings],  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    client = await aiohttp_client(await init_app(mail_settings()))
    visitor = await new_visitor(client)
    _, queued = await send(client, visitor, "I need a human")
    await client.post("/webchat/contact", json={"email": "kim@home.test"}, headers=visitor)
    agent_id = await make_agent(client, "ann@acme.test")
    engine = client.app[keys.ENGINE]
    await engine.claim(queued["conversation_id"], agent_id)
    token = visitor["Authorization"].split()[1]
    async with client.ws_connect(f"/webchat/ws?token={token}") as ws:
        await ws.receive_json(timeout=5)
        await engine.agent_reply(queued["conversation_id"], agent_id, "One")

        async def stamped() -> bool:
            async with client.app[keys.SESSIONS]() as db:
                return await db.scalar(select(CustomerIdentity.seen_at)) is not None

        await eventually(stamped)
        async with client.app[keys.SESSIONS]() as db:  # the laptop went to sleep long ago
            await db.execute(update(CustomerIdentity).values(seen_at=utcnow() - timedelta(hours=1)))
            await db.commit()
        await engine.agent_reply(queued["conversation_id"], agent_id, "Two")
    async with client.app[keys.SESSIONS]() as db:
        mails = (await db.scalars(select(OutboxItem).where(OutboxItem.channel == "email"))).all()
    assert len(mails) == 1
    await eventually(lambda: provider.received, within=10)
    assert "Two" in provider.received[0].get_content()


async def test_the_transcript_arrives_by_email(
    aiohttp_client: Any,
    mail_settings: Callable[..., Settings],  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    client = await aiohttp_client(await init_app(mail_settings()))
    visitor = await new_visitor(client)
    nothing = await client.post("/webchat/transcript", json={}, headers=visitor)
    assert nothing.status == 422  # no address yet
    await send(client, visitor, "What payment methods do you accept?")
    response = await client.post(
        "/webchat/transcript", json={"email": "max@home.test"}, headers=visitor
    )
    assert response.status == 200, await response.text()
    assert (await response.json()) == {"sent_to": "max@home.test", "messages": 2}
    await eventually(lambda: provider.received, within=10)
    mail: EmailMessage = provider.received[0]
    body = mail.get_content()
    assert mail["To"] == "max@home.test" and "transcript" in str(mail["Subject"])
    assert "You: What payment methods do you accept?" in body and "PayPal" in body
    assert mail["Auto-Submitted"] == "auto-generated"


async def test_no_transcript_without_email_set_up(client: TestClient) -> None:
    visitor = await new_visitor(client)
    response = await client.post(
        "/webchat/transcript", json={"email": "max@home.test"}, headers=visitor
    )
    assert response.status == 503


async def test_a_first_mail_from_a_crm_address_is_that_customer(
    aiohttp_client: Any,
    mail_settings: Callable[..., Settings],  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    client = await aiohttp_client(await init_app(mail_settings(email_receiver_port=free_port())))
    await client.post(
        "/api/customers/import",
        json={"content": CRM_CSV, "key": "email"},
        headers=admin_headers(client),
    )
    await deliver(client, customer_mail("How do I reset my password?", sender="ana@shop.test"))
    await eventually(lambda: provider.received, within=10)
    listed = await client.get("/api/conversations", headers=admin_headers(client))
    (conversation,) = (await listed.json())["conversations"]
    assert (await panel_of(client, conversation["id"]))["tier"] == "vip"


def readme_signing_code() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("**Known customers.**", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


async def test_the_readmes_python_lines_sign_what_the_server_accepts(client: TestClient) -> None:
    user = SimpleNamespace(id=7, email="ana@shop.test", name='Ana "Lee" <Lima>')
    scope: dict[str, Any] = {
        "user": user,
        "SECRET": client.app[keys.SETTINGS].webchat_identity_secret,
    }
    exec(readme_signing_code(), scope)
    attributes = dict(re.findall(r'(data-identity(?:-signature)?)="([^"]*)"', scope["tag"]))
    status, body = await session(
        client,
        {
            "identity": html.unescape(attributes["data-identity"]),
            "signature": attributes["data-identity-signature"],
        },
    )
    assert status == 200 and body["identified"], body
    async with client.app[keys.SESSIONS]() as db:
        customer = await db.scalar(select(Customer))
    assert customer is not None and customer.display_name == 'Ana "Lee" <Lima>'


def test_a_signed_in_visitors_thread_cannot_be_worked_out_from_their_user_id() -> None:
    from channels.visitor_identity import VerifiedIdentity

    ana = VerifiedIdentity("42", None, None)
    assert ana.visitor_id("secret-a") == ana.visitor_id("secret-a")
    assert ana.visitor_id("secret-a") != ana.visitor_id("secret-b")
    assert ana.visitor_id("secret-a").startswith("u")


async def test_a_mail_naming_a_chat_without_answering_our_mail_is_kept_apart(
    aiohttp_client: Any,
    mail_settings: Callable[..., Settings],  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    """Even from the visitor's own address: only an answer to one of our mails continues the
    chat (a From is easy to forge; our Message-IDs are not guessed)."""
    from channels.webchat_away import email_thread

    client = await aiohttp_client(await init_app(mail_settings(email_receiver_port=free_port())))
    visitor = await new_visitor(client)
    _, first = await send(client, visitor, "I need a human")
    await client.post("/webchat/contact", json={"email": "lee@home.test"}, headers=visitor)
    history = await (await client.get("/webchat/messages", headers=visitor)).json()
    thread = email_thread(next(iter(await _threads(client, first["conversation_id"]))))
    forged = customer_mail("change my address please", references=[thread], sender="lee@home.test")
    await deliver(client, forged)

    async def two_conversations() -> bool:
        listed = await client.get("/api/conversations", headers=admin_headers(client))
        return len((await listed.json())["conversations"]) == 2

    await eventually(two_conversations, within=10)
    texts = [m["text"] for m in history["messages"]]
    assert "change my address please" not in texts


async def _threads(client: TestClient, conversation_id: int) -> set[str]:
    from models import Conversation

    async with client.app[keys.SESSIONS]() as db:
        conversation = await db.get(Conversation, conversation_id)
    assert conversation is not None
    return {conversation.external_thread}


async def test_closing_one_tab_leaves_the_visitor_on_the_other(client: TestClient) -> None:
    visitor = await new_visitor(client)
    await send(client, visitor, "hello")
    token = visitor["Authorization"].split()[1]

    async def seen() -> object:
        async with client.app[keys.SESSIONS]() as db:
            return await db.scalar(select(CustomerIdentity.seen_at))

    async with client.ws_connect(f"/webchat/ws?token={token}") as first:
        await first.receive_json(timeout=5)
        async with client.ws_connect(f"/webchat/ws?token={token}") as second:
            await second.receive_json(timeout=5)
            await eventually(seen)
            before = await seen()
            await first.close()

            async def still_there() -> bool:
                return await seen() is not None

            for _ in range(10):  # the first tab's leaving does not clear the second's stamp
                assert await still_there(), before
                await asyncio.sleep(0.05)
    await eventually(lambda: _gone(client))


async def _gone(client: TestClient) -> bool:
    async with client.app[keys.SESSIONS]() as db:
        return await db.scalar(select(CustomerIdentity.seen_at)) is None


async def test_transcripts_to_one_address_are_limited(
    aiohttp_client: Any,
    mail_settings: Callable[..., Settings],  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    client = await aiohttp_client(await init_app(mail_settings()))
    statuses = []
    for _ in range(4):  # four visitors, one victim's address
        visitor = await new_visitor(client)
        await send(client, visitor, "What payment methods do you accept?")
        response = await client.post(
            "/webchat/transcript", json={"email": "victim@home.test"}, headers=visitor
        )
        statuses.append(response.status)
    assert statuses == [200, 200, 200, 429]


async def test_signed_in_is_shown_only_on_the_signed_in_chat(
    aiohttp_client: Any,
    mail_settings: Callable[..., Settings],  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    """A mail from her address is hers, but is not marked as her signed-in chat is."""
    client = await aiohttp_client(await init_app(mail_settings(email_receiver_port=free_port())))
    _, body = await session(client, signed(client, user_id="42", email="ana@shop.test"))
    _, chat = await send(client, bearer(body), "hello")
    await deliver(client, customer_mail("hello by mail", sender="ana@shop.test"))

    async def by_mail() -> int | None:
        listed = await client.get("/api/conversations", headers=admin_headers(client))
        ids = [c["id"] for c in (await listed.json())["conversations"]]
        others = [i for i in ids if i != chat["conversation_id"]]
        return others[0] if others else None

    await eventually(by_mail, within=10)
    mail_conversation = await by_mail()
    assert mail_conversation is not None
    assert (await panel_of(client, chat["conversation_id"]))["verified"] is True
    mailed = await panel_of(client, mail_conversation)
    assert (
        mailed["verified"] is False
        and mailed["customer_id"]
        == (await panel_of(client, chat["conversation_id"]))["customer_id"]
    )
