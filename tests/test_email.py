"""Email end to end against real servers: deskbot's SMTP receiver, an SMTP provider with
STARTTLS and AUTH for replies, and Dovecot for IMAP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aioimaplib
import aiosmtplib
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot import keys
from bot.app import init_app
from bot.settings import Settings
from channels.email_message import read_email, reply_message_id, thread_of_reply
from models import OutboxItem
from tests.conftest import admin_headers, eventually, within_one_window
from tests.mail_servers import (
    IMAP_PASSWORD,
    IMAP_USER,
    SMTP_PASSWORD,
    SMTP_USER,
    Dovecot,
    SmtpProvider,
    free_port,
)
from tests.test_agent_api import make_agent

SUPPORT = "support@acme.test"
CUSTOMER = "jane@customer.test"


def customer_mail(
    body: str,
    subject: str = "Password help",
    references: list[str] | None = None,
    sender: str = CUSTOMER,
    **headers: str,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Jane Roe <{sender}>"
    mail["To"] = SUPPORT
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid("jane", domain="customer.test")
    if references:
        mail["In-Reply-To"] = references[-1]
        mail["References"] = " ".join(references)
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail


@pytest.fixture
async def provider(certificate: tuple[Path, Path]) -> AsyncIterator[SmtpProvider]:
    server = SmtpProvider(*certificate)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def mail_settings(
    make_settings: Callable[..., Settings], provider: SmtpProvider, certificate: tuple[Path, Path]
) -> Callable[..., Settings]:
    def make(**extra: object) -> Settings:
        values: dict[str, object] = {
            "email_address": SUPPORT,
            "email_smtp_host": "localhost",
            "email_smtp_port": provider.port,
            "email_smtp_username": SMTP_USER,
            "email_smtp_password": SMTP_PASSWORD,
            "email_ca_file": certificate[0],
        }
        return make_settings(**{**values, **extra})

    return make


@pytest.fixture
async def mail(aiohttp_client, mail_settings: Callable[..., Settings]) -> TestClient:  # type: ignore[no-untyped-def]
    settings = mail_settings(email_receiver_port=free_port(), email_max_bytes=200_000)
    return await aiohttp_client(await init_app(settings))


async def deliver(client: TestClient, message: EmailMessage, recipient: str = SUPPORT) -> None:
    settings = client.app[keys.SETTINGS]
    await aiosmtplib.send(
        message,
        hostname="127.0.0.1",
        port=settings.email_receiver_port,
        recipients=[recipient],
        start_tls=False,
    )


async def test_a_question_by_mail_gets_a_threaded_answer_over_starttls(
    mail: TestClient, provider: SmtpProvider
) -> None:
    question = customer_mail("Hi, how do I reset my password?\n\nThanks,\nJane")
    await deliver(mail, question)
    await eventually(lambda: provider.received)
    (reply,) = provider.received
    assert reply["To"] == CUSTOMER and SUPPORT in reply["From"]
    assert reply["Subject"] == "Re: Password help"
    assert reply["In-Reply-To"] == question["Message-ID"]
    assert question["Message-ID"] in reply["References"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert "Forgot password" in reply.get_content()

    follow_up = customer_mail(
        "I did that but no email arrived.\n\n"
        "On Tue, 24 Nov 2026, Support <support@acme.test> wrote:\n"
        "> Go to acme.example/login and click 'Forgot password'.\n",
        subject="Re: Password help",
        references=[question["Message-ID"], reply["Message-ID"]],
    )
    await deliver(mail, follow_up)
    await eventually(lambda: len(provider.received) == 2)
    conversations = await (await mail.get("/api/conversations", headers=admin_headers(mail))).json()
    (conversation,) = conversations["conversations"]
    detail = await (
        await mail.get(f"/api/conversations/{conversation['id']}", headers=admin_headers(mail))
    ).json()
    customer_texts = [m["text"] for m in detail["messages"] if m["sender_kind"] == "customer"]
    assert customer_texts == ["Hi, how do I reset my password?", "I did that but no email arrived."]


async def test_an_answer_naming_only_our_reply_stays_in_its_conversation(
    mail: TestClient, provider: SmtpProvider
) -> None:
    """Some mail clients send In-Reply-To without References."""
    question = customer_mail("How do I reset my password?")
    await deliver(mail, question)
    await eventually(lambda: provider.received)
    (reply,) = provider.received
    assert thread_of_reply(reply["Message-ID"]) == question["Message-ID"]
    follow_up = customer_mail("It worked, thanks. And how much does it cost?", subject="Re: x")
    follow_up["In-Reply-To"] = reply["Message-ID"]
    await deliver(mail, follow_up)
    await eventually(lambda: len(provider.received) == 2)
    assert provider.received[1]["In-Reply-To"] == follow_up["Message-ID"]
    assert thread_of_reply(provider.received[1]["Message-ID"]) == question["Message-ID"]
    listed = await (await mail.get("/api/conversations", headers=admin_headers(mail))).json()
    assert len(listed["conversations"]) == 1


def test_only_our_own_reply_ids_name_a_thread() -> None:
    ours = reply_message_id("<root.1@customer.test>", "acme.test")
    assert ours.endswith("@acme.test>") and thread_of_reply(ours) == "<root.1@customer.test>"
    assert reply_message_id("<root.1@customer.test>", "acme.test") != ours  # unique per reply
    for other in [
        "<CAF=abc@mail.gmail.com>",
        "<x.deskbot-thread-@acme.test>",
        "<x.deskbot-thread-!!!notbase32@acme.test>",
        "<x.deskbot-thread-mfrggzdfmy@acme.test>",  # decodes, but not to a Message-ID
        "",
    ]:
        assert thread_of_reply(other) is None, other


async def test_auto_replies_bounces_and_our_own_mail_are_never_answered(
    mail: TestClient, provider: SmtpProvider
) -> None:
    await deliver(mail, customer_mail("I am out of office.", Auto_Submitted="auto-replied"))
    await deliver(mail, customer_mail("Away", X_Autoreply="yes"))
    await deliver(mail, customer_mail("Newsletter", Precedence="bulk"))
    await deliver(mail, customer_mail("Undeliverable", sender="MAILER-DAEMON@customer.test"))
    await deliver(mail, customer_mail("echo", sender=SUPPORT))
    bounce = EmailMessage()
    bounce["From"] = "postmaster@customer.test"
    bounce["To"] = SUPPORT
    bounce["Subject"] = "Delivery Status Notification (Failure)"
    bounce.set_content("The message could not be delivered.")
    bounce.make_mixed()
    bounce.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"')
    await deliver(mail, bounce)
    await asyncio.sleep(0.5)
    assert provider.received == []
    conversations = await (await mail.get("/api/conversations", headers=admin_headers(mail))).json()
    assert conversations["conversations"] == []


async def test_duplicates_relaying_and_oversized_mail_are_refused_or_ignored(
    mail: TestClient, provider: SmtpProvider
) -> None:
    question = customer_mail("What payment methods do you accept?")
    await deliver(mail, question)
    await deliver(mail, question)  # the same Message-ID again (a forward, a retry)
    await eventually(lambda: provider.received)
    await asyncio.sleep(0.3)
    assert len(provider.received) == 1
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await deliver(mail, customer_mail("relay me"), recipient="someone@elsewhere.test")
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await deliver(mail, customer_mail("x" * 300_000))
    assert refused.value.code == 552


async def test_a_flood_from_one_address_is_deferred_not_lost(
    aiohttp_client,  # type: ignore[no-untyped-def]
    mail_settings: Callable[..., Settings],
    provider: SmtpProvider,
) -> None:
    await within_one_window()
    settings = mail_settings(email_receiver_port=free_port(), email_receiver_messages_per_ip_min=2)
    client: TestClient = await aiohttp_client(await init_app(settings))
    await deliver(client, customer_mail("How do I reset my password?"))
    await deliver(client, customer_mail("How much does it cost?", sender="sam@customer.test"))
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as deferred:
        await deliver(client, customer_mail("And a third thing", sender="kim@customer.test"))
    assert deferred.value.code == 451  # temporary: the sending server queues it and retries
    assert "too many messages" in deferred.value.message
    await eventually(lambda: len(provider.received) == 2)
    listed = await (await client.get("/api/conversations", headers=admin_headers(client))).json()
    assert len(listed["conversations"]) == 2


async def test_html_only_mail_is_read_as_text() -> None:
    message = EmailMessage()
    message["From"] = CUSTOMER
    message["Message-ID"] = "<html-1@customer.test>"
    message.set_content(
        "<html><body><p>How do I <b>reset</b> my password?</p><script>alert(1)</script>"
        "<div class='gmail_quote'>On Mon wrote:<blockquote>old</blockquote></div></body></html>",
        subtype="html",
    )
    parsed = read_email(message.as_bytes())
    assert parsed.text.startswith("How do I **reset** my password?")
    assert "<b>" not in parsed.text and "old" not in parsed.text


async def test_chinese_quotes_and_threads_without_references() -> None:
    message = customer_mail(
        "还是不能同步。\n\n在 2026年11月23日 10:00，Acme <support@acme.test> 写道：\n"
        "> 请到设置里点同步。\n",
        subject="Re: 同步问题",
    )
    message.replace_header("From", "王小明 <wang@customer.test>")
    del message["Message-ID"]
    parsed = read_email(message.as_bytes())
    assert parsed.text == "还是不能同步。"
    assert parsed.message_id.startswith("<sha256-") and parsed.thread == parsed.message_id
    assert parsed.display_name == "王小明"


async def test_an_agent_reply_goes_out_in_the_thread_and_is_not_marked_automatic(
    mail: TestClient, provider: SmtpProvider
) -> None:
    headers = admin_headers(mail)
    question = customer_mail("I want to talk to a human", subject="Billing")
    await deliver(mail, question)
    await eventually(lambda: provider.received)  # the bot's "passing you to a person"
    (entry,) = (await (await mail.get("/api/queue", headers=headers)).json())["waiting"]
    assert entry["channel"] == "email"
    agent = await make_agent(mail, "ann@acme.test", status="online")
    path = f"/api/conversations/{entry['conversation_id']}"
    await mail.post(f"{path}/claim", json={"agent_id": agent}, headers=headers)
    await mail.post(
        f"{path}/reply", json={"agent_id": agent, "text": "Ann here, on it."}, headers=headers
    )
    await eventually(lambda: any("Ann here" in m.get_content() for m in provider.received))
    reply = provider.received[-1]
    assert reply["Auto-Submitted"] is None and reply["Subject"] == "Re: Billing"
    assert reply["In-Reply-To"] == question["Message-ID"]


async def test_provider_refusals_and_outages_are_retried_without_loss(
    mail: TestClient, provider: SmtpProvider
) -> None:
    provider.refuse_next = 1
    await provider.stop()
    await deliver(mail, customer_mail("How do I reset my password?"))
    await asyncio.sleep(0.5)
    await provider.start()
    await eventually(lambda: provider.received, within=15)
    assert len(provider.received) == 1


async def test_wrong_smtp_credentials_never_send(
    provider: SmtpProvider, mail_settings: Callable[..., Settings], aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    settings = mail_settings(email_receiver_port=free_port(), email_smtp_password="wrong")
    client = await aiohttp_client(await init_app(settings))
    await deliver(client, customer_mail("How do I reset my password?"))

    async def last_error() -> str:
        async with client.app[keys.SESSIONS]() as session:
            item = await session.scalar(select(OutboxItem))
        return (item.last_error or "") if item is not None and item.status == "pending" else ""

    for _ in range(100):
        if await last_error():
            break
        await asyncio.sleep(0.1)
    assert "535" in await last_error()  # authentication failed; kept for a retry, not dropped
    assert provider.received == []


async def test_imap_mailbox_is_read_and_answered(
    provider: SmtpProvider, mail_settings: Callable[..., Settings], aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    dovecot = Dovecot()
    dovecot.start()
    try:
        await dovecot.ready()
        imap = aioimaplib.IMAP4("127.0.0.1", dovecot.port)
        await imap.wait_hello_from_server()
        await imap.login(IMAP_USER, IMAP_PASSWORD)
        question = customer_mail("How do I reset my password?")
        appended = await imap.append(question.as_bytes(), mailbox="INBOX")
        assert appended.result == "OK"

        settings = mail_settings(
            email_imap_host="127.0.0.1",
            email_imap_port=dovecot.port,
            email_imap_ssl=False,
            email_imap_username=IMAP_USER,
            email_imap_password=IMAP_PASSWORD,
            email_imap_poll_s=1,
        )
        await aiohttp_client(await init_app(settings))
        await eventually(lambda: provider.received, within=15)
        assert provider.received[0]["In-Reply-To"] == question["Message-ID"]

        second = customer_mail("What payment methods do you accept?")
        await imap.append(second.as_bytes(), mailbox="INBOX")  # arrives while deskbot IDLEs
        await eventually(lambda: len(provider.received) == 2, within=15)
        assert "PayPal" in provider.received[1].get_content()
        await imap.select("INBOX")
        unseen = await imap.search("UNSEEN")
        assert unseen.lines[0].strip() == b""  # both marked seen after they were stored
        await imap.logout()
    finally:
        dovecot.stop()
