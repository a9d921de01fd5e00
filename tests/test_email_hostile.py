"""Hostile mail against the real SMTP receiver and Dovecot, on both databases: headers no
database or mail library accepts as they are, a mail the database refuses, and senders who
claim another's Message-ID. No one mail may stop the mail behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import aioimaplib
import aiosmtplib
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text, update

from bot import keys
from bot.app import init_app
from bot.settings import Settings
from channels.base import DeliveryTarget, OutboundText
from channels.email import QUARANTINE_FLAG, EmailOutput
from models import Conversation, Customer, Message
from tests.conftest import eventually
from tests.hostile_corpus import HOSTILE_MAILS, raw_mail
from tests.mail_servers import IMAP_PASSWORD, IMAP_USER, Dovecot, SmtpProvider
from tests.test_email import SUPPORT, customer_mail, deliver, mail, mail_settings, provider  # noqa: F401

POISON = "this poison text is refused by the database"


async def send_raw(client: TestClient, raw: bytes) -> tuple[int, str]:
    """(code, text) of the receiver's answer to DATA."""
    settings = client.app[keys.SETTINGS]
    try:
        await aiosmtplib.send(
            raw,
            sender="someone@customer.test",
            recipients=[SUPPORT],
            hostname="127.0.0.1",
            port=settings.email_receiver_port,
            start_tls=False,
        )
    except aiosmtplib.SMTPResponseException as refused:
        return refused.code, refused.message
    return 250, "OK"


async def customer_messages(client: TestClient) -> list[Message]:
    async with client.app[keys.SESSIONS]() as session:
        rows = await session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)
        )
        return list(rows)


async def refuse_poison_in_the_database(client: TestClient) -> None:
    """A trigger that refuses one message's row: the kind of failure a mail can cause that
    cleaning did not foresee."""
    async with client.app[keys.SESSIONS]() as session:
        if session.bind.dialect.name == "postgresql":
            await session.execute(
                text(
                    "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.text LIKE '%{POISON}%' THEN RAISE EXCEPTION 'refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
                )
            )
        else:
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON messages "
                    f"WHEN NEW.text LIKE '%{POISON}%' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
        await session.commit()


async def test_hostile_headers_are_stored_and_answered_in_clean_threads(
    mail: TestClient,  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    for label, raw in HOSTILE_MAILS.items():
        code, answer = await send_raw(mail, raw)
        assert code == 250, f"{label}: {code} {answer}"
    await eventually(lambda: len(provider.received) >= len(HOSTILE_MAILS), within=30)
    for reply in provider.received:
        assert reply["Bcc"] is None and "\n" not in reply["Subject"]
        assert "\x00" not in reply["Subject"] and len(str(reply["To"])) < 100
    stored = await customer_messages(mail)
    assert len(stored) == len(HOSTILE_MAILS)
    for message in stored:
        assert len(message.external_id or "") <= 255 and "\x00" not in (message.external_id or "")
        assert all("\x00" not in v and "\r" not in v for v in message.meta.values())
    long_body = next(
        m for m in stored if m.text.startswith("How do I reset") and m.meta.get("truncated_from")
    )
    assert len(long_body.text) <= mail.app[keys.SETTINGS].max_message_chars
    assert long_body.text.endswith("the limit is 4000]")
    async with mail.app[keys.SESSIONS]() as session:
        names = list(await session.scalars(select(Customer.display_name)))
    assert "Ja ne" not in names and "Jane" in names  # the NUL dropped, not the name
    assert "Ja Bcc: x@evil.test" in names  # CR/LF became one line
    assert all(len(n) <= 200 and "\u202e" not in n for n in names)


async def test_a_mail_the_database_refuses_gets_a_generic_554_and_the_next_one_flows(
    mail: TestClient,  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    await refuse_poison_in_the_database(mail)
    code, answer = await send_raw(mail, raw_mail(20, body=POISON))
    assert code == 554 and answer == "5.6.0 this message could not be processed"
    code, _ = await send_raw(mail, raw_mail(21, "Kim <kim@customer.test>"))
    assert code == 250
    await eventually(lambda: provider.received)
    assert [m.meta["message_id"] for m in await customer_messages(mail)] == [
        "<hostile.21@customer.test>"
    ]


async def test_one_bad_mail_in_the_imap_mailbox_is_set_aside_and_the_rest_are_answered(
    provider: SmtpProvider,  # noqa: F811
    mail_settings: Callable[..., Settings],  # noqa: F811
    aiohttp_client,  # type: ignore[no-untyped-def]
) -> None:
    dovecot = Dovecot()
    dovecot.start()
    try:
        await dovecot.ready()
        imap = aioimaplib.IMAP4("127.0.0.1", dovecot.port)
        await imap.wait_hello_from_server()
        await imap.login(IMAP_USER, IMAP_PASSWORD)
        for raw in (
            raw_mail(30, "Pat <pat@customer.test>", body=POISON),
            HOSTILE_MAILS["nul in the From name"],
            raw_mail(31, "Kim <kim@customer.test>", "How much?", "How much does it cost?"),
        ):
            assert (await imap.append(raw, mailbox="INBOX")).result == "OK"
        settings = mail_settings(
            email_imap_host="127.0.0.1",
            email_imap_port=dovecot.port,
            email_imap_ssl=False,
            email_imap_username=IMAP_USER,
            email_imap_password=IMAP_PASSWORD,
            email_imap_poll_s=1,
        )
        client = await aiohttp_client(await init_app(settings))
        await refuse_poison_in_the_database(client)
        await eventually(lambda: len(provider.received) == 2, within=20)
        assert {str(m["To"]) for m in provider.received} == {
            "nul.name@customer.test",
            "kim@customer.test",
        }
        await imap.select("INBOX")
        assert (await imap.search("UNSEEN")).lines[0].strip() == b""
        flagged = await imap.search(f"KEYWORD {QUARANTINE_FLAG}")
        assert flagged.lines[0].split() == [b"1"]  # the poisoned mail, for a person to see
        await asyncio.sleep(2.5)  # two more polls: nothing is taken twice
        assert len(await customer_messages(client)) == 2 and len(provider.received) == 2
        await imap.logout()
    finally:
        dovecot.stop()


async def test_a_sender_cannot_squat_another_senders_message_id(
    mail: TestClient,  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    real = customer_mail("How do I reset my password?")
    squat = customer_mail("How much does it cost?", sender="mallory@evil.test")
    squat.replace_header("Message-ID", real["Message-ID"])  # predicted before Jane sent it
    await deliver(mail, squat)
    await deliver(mail, real)
    await deliver(mail, real)  # Jane's own retry is still a duplicate
    await eventually(lambda: len(provider.received) == 2)
    await asyncio.sleep(0.3)
    assert sorted(str(m["To"]) for m in provider.received) == [
        "jane@customer.test",
        "mallory@evil.test",
    ]
    assert len(await customer_messages(mail)) == 2


async def test_mail_stored_under_a_bare_message_id_still_dedupes_for_its_own_sender(
    mail: TestClient,  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    """Rows from before dedupe ids carried the sender hold the bare Message-ID."""
    earlier = customer_mail("How do I reset my password?")
    squatted = customer_mail("How much does it cost?", sender="mallory@evil.test")
    await deliver(mail, earlier)
    await deliver(mail, squatted)
    await eventually(lambda: len(provider.received) == 2)
    async with mail.app[keys.SESSIONS]() as session:
        for message in await customer_messages(mail):
            await session.execute(
                update(Message)
                .where(Message.id == message.id)
                .values(external_id=message.meta["message_id"])
            )
        await session.commit()
    await deliver(mail, earlier)  # re-read after an upgrade: still a duplicate
    victim = customer_mail("What payment methods do you accept?", sender="sam@customer.test")
    victim.replace_header("Message-ID", squatted["Message-ID"])
    await deliver(mail, victim)  # an old squat does not swallow it
    await eventually(lambda: len(provider.received) == 3)
    await asyncio.sleep(0.3)
    assert len(provider.received) == 3 and len(await customer_messages(mail)) == 3


async def test_a_reply_to_a_subject_stored_with_a_line_break_is_still_composed(
    mail: TestClient,  # noqa: F811
    provider: SmtpProvider,  # noqa: F811
) -> None:
    """Rows stored before intake cleaned headers may hold CR/LF; the reply must still go."""
    await deliver(mail, customer_mail("How do I reset my password?"))
    await eventually(lambda: provider.received)
    (stored,) = await customer_messages(mail)
    async with mail.app[keys.SESSIONS]() as session:
        await session.execute(
            update(Message)
            .where(Message.id == stored.id)
            .values(meta={**stored.meta, "subject": "help\r\nBcc: x@evil.test"})
        )
        await session.commit()
        conversation = await session.get_one(Conversation, stored.conversation_id)
    output = EmailOutput(mail.app[keys.SETTINGS], mail.app[keys.SESSIONS])
    target = DeliveryTarget("email", "jane@customer.test", conversation.external_thread)
    composed = await output.compose(
        target, OutboundText(1, conversation.id, "agent", "Done.", datetime.now(UTC))
    )
    assert composed["Subject"] == "Re: help Bcc: x@evil.test" and composed["Bcc"] is None
