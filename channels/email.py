"""Email: in by IMAP (IDLE where offered, else polling) or a built-in SMTP receiver for
forwarded mail; out by SMTP with STARTTLS and auth, in the customer's thread."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any

import aioimaplib
import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.engine import ConversationEngine
from bot.rate_limits import RateLimiter
from bot.replies import say
from bot.settings import Settings
from channels.base import (
    ID_CHARS,
    DeliveryError,
    DeliveryTarget,
    InboundMessage,
    InvalidMessage,
    OutboundText,
    clean_field,
    fit_text,
)
from channels.email_message import (
    CHANNEL,
    CustomerEmail,
    MalformedEmail,
    read_email,
    reply_message_id,
    thread_of_reply,
)
from channels.faults import is_temporary
from channels.visitor_tokens import Visitor, VisitorTokens
from channels.webchat_away import VIA_EMAIL, WEBCHAT, visitor_addresses, webchat_thread
from models import Conversation, CustomerIdentity, Message

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 30
LOGOUT_TIMEOUT_S = 5
AUTOMATIC_SENDERS = frozenset({"bot", "system"})
QUARANTINE_FLAG = "$DeskbotFailed"
"""Set, with \\Seen and \\Flagged, on a mail deskbot could not take, so a person finds it."""


class TemporaryFailure(Exception):
    """Taking a mail failed for a reason that is not the mail's (the database is down):
    the sender should try again later, and IMAP leaves it unseen."""


def _namespaced(prefix: str, external_id: str) -> str:
    """Cut, two long ids could be taken for one: hashed instead when too long."""
    if len(prefix) + len(external_id) <= ID_CHARS:
        return prefix + external_id
    return prefix + "sha256-" + hashlib.sha256(external_id.encode()).hexdigest()


async def send_mail(settings: Settings, mail: EmailMessage) -> None:
    try:
        await aiosmtplib.send(
            mail,
            hostname=settings.email_smtp_host,
            port=settings.email_smtp_port,
            username=settings.email_smtp_username or None,
            password=settings.email_smtp_password or None,
            start_tls=settings.email_smtp_starttls,
            tls_context=tls_context(settings.email_ca_file),
            timeout=SMTP_TIMEOUT_S,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"smtp: {exc}", outage=_server_unreachable(exc)) from None


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class EmailOutput:
    """Replies keep the thread: Re: subject, In-Reply-To and References of the last mail."""

    name = CHANNEL

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._sessions = sessions
        self._domain = settings.email_address.rpartition("@")[2]
        self._tokens = VisitorTokens(settings.secret_key, settings.visitor_token_max_age_s)

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        await send_mail(self._settings, await self.compose(target, message))

    async def compose(self, target: DeliveryTarget, message: OutboundText) -> EmailMessage:
        last = await self._last_customer_mail(message.conversation_id)
        chat = webchat_thread(target.external_thread)
        language = await self._language(message.conversation_id) if chat else "en"
        company = self._settings.email_display_name
        # Cleaned again here: rows stored before intake cleaned them may hold a CR/LF,
        # which the mail library refuses in a header (and the customer got no answer).
        subject = clean_field(last.get("subject"), 998) or (
            say("chat_by_email_subject", language, company=company) if chat else "Your question"
        )
        mail = EmailMessage()
        mail["From"] = formataddr((self._settings.email_display_name, self._settings.email_address))
        mail["To"] = target.external_user
        mail["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = reply_message_id(target.external_thread, self._domain)
        replied_to = clean_field(last.get("message_id"), 998)
        if replied_to:
            references = clean_field(last.get("references"), 8000).split()
            mail["In-Reply-To"] = replied_to
            mail["References"] = " ".join(dict.fromkeys([*references, replied_to]))
        if message.sender_kind in AUTOMATIC_SENDERS:
            mail["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer
        mail.set_content(self._chat_mail(message, chat, language) if chat else message.text)
        return mail

    def _chat_mail(self, message: OutboundText, thread: str, language: str) -> str:
        """An answer in a web chat its visitor left: who wrote, and the way back (a link that
        opens the same chat, or an answer to this mail)."""
        token = self._tokens.issue(Visitor(thread, thread))
        link = f"{self._settings.base_url}/webchat/chat#resume={token}&lang={language}"
        who = message.sender_name or say("chat_by_email_team", language)
        return say("chat_by_email", language, who=who, text=message.text, link=link)

    async def _language(self, conversation_id: int) -> str:
        async with self._sessions() as session:
            language = await session.scalar(
                select(Conversation.language).where(Conversation.id == conversation_id)
            )
        return language or "en"

    async def _last_customer_mail(self, conversation_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            meta = await session.scalar(
                select(Message.meta)
                .where(Message.conversation_id == conversation_id, Message.direction == "in")
                .order_by(Message.id.desc())
                .limit(1)
            )
        return dict(meta or {})


class EmailReceiver:
    """One path for every way mail arrives: parse, drop machines, hand people to the engine."""

    def __init__(
        self,
        engine: ConversationEngine,
        support_address: str,
        limiter: RateLimiter,
        messages_per_ip_min: int,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self._engine = engine
        self.support_address = support_address.lower()
        self._limiter = limiter
        self._per_ip = messages_per_ip_min
        self._sessions = sessions

    async def take(self, raw: bytes) -> str:
        """What became of one mail: accepted, duplicate, automated, own, empty, malformed, or
        failed (this mail cannot be taken: logged, never retried). Raises TemporaryFailure
        when the fault is not the mail's, so it is tried again later."""
        try:
            return await self._take(raw)
        except Exception as exc:
            if is_temporary(exc):
                log.warning("email not taken; will retry", extra={"error": repr(exc)})
                raise TemporaryFailure(str(exc)) from exc
            log.exception("email could not be taken; set aside", extra={"bytes": len(raw)})
            return "failed"

    async def _take(self, raw: bytes) -> str:
        try:
            mail = read_email(raw)
        except MalformedEmail as exc:
            log.warning("malformed email dropped", extra={"error": str(exc)})
            return "malformed"
        if mail.automated:
            log.info("automated email not answered", extra={"why": mail.automated})
            return "automated"
        if mail.sender == self.support_address:
            return "own"  # our own reply came back (a forward or a Bcc): never answer it
        if await self._stored_before_namespacing(mail):
            return "duplicate"
        inbound = await self._into_its_chat(mail.inbound(), mail.sender)
        try:
            # Mail cannot be told "too long": keep the start, and tell the agents.
            text, full_length = fit_text(inbound.text, self._engine.max_message_chars)
            if full_length is not None:
                meta = {**inbound.meta, "truncated_from": str(full_length)}
                inbound = dataclasses.replace(inbound, text=text, meta=meta)
            result = await self._engine.receive(inbound)
        except InvalidMessage as exc:
            log.info("email without new text dropped", extra={"error": str(exc)})
            return "empty"
        return "duplicate" if result.duplicate else "accepted"

    async def _into_its_chat(self, inbound: InboundMessage, sender: str) -> InboundMessage:
        """An answer to our email about a web chat continues that chat, when it comes from
        the address the visitor gave; from anyone else it starts a conversation of its own."""
        thread = webchat_thread(inbound.external_thread)
        if thread is None:
            return inbound
        # Only an answer to one of our own mails names the chat: a bare id someone typed in
        # References does not.
        ours = any(
            thread_of_reply(r) == inbound.external_thread
            for r in inbound.meta.get("references", "").split()
        )
        async with self._sessions() as session:
            addresses = await visitor_addresses(session, thread) if ours else set()
        if sender not in addresses:
            log.warning("answer to a web-chat email from another address; kept apart")
            own_thread = inbound.meta.get("message_id") or inbound.external_id
            return dataclasses.replace(inbound, external_thread=own_thread)
        return dataclasses.replace(
            inbound,
            channel=WEBCHAT,
            external_user=thread,
            external_thread=thread,
            external_id=_namespaced(f"{thread}:mail:", inbound.external_id),
            meta={**inbound.meta, "via": VIA_EMAIL},
        )

    async def _stored_before_namespacing(self, mail: CustomerEmail) -> bool:
        """Mail stored before dedupe ids carried the sender has the bare Message-ID; a
        re-read of it (IMAP after a crash) is still a duplicate, but only of its own
        sender's mail."""
        async with self._sessions() as session:
            found = await session.scalar(
                select(Message.id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(
                    CustomerIdentity,
                    (CustomerIdentity.customer_id == Conversation.customer_id)
                    & (CustomerIdentity.channel == CHANNEL),
                )
                .where(
                    Message.channel == CHANNEL,
                    Message.external_id == mail.message_id,
                    CustomerIdentity.external_user == mail.sender,
                )
                .limit(1)
            )
        return found is not None

    # aiosmtpd handler hooks -------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """A flood from one address is deferred: a temporary failure makes the sending server
        queue the mail and try again later, so nothing is lost."""
        address_of_peer = session.peer[0] if isinstance(session.peer, tuple) else session.peer
        try:
            wait = await self._limiter.hit(f"smtp:ip:{address_of_peer}", self._per_ip, 60)
        except Exception:  # aiosmtpd would echo the exception's text to the peer
            log.exception("smtp rate limit unavailable")
            return "451 4.3.0 temporarily unable to take mail; try again later"
        if wait > 0:
            return f"451 4.7.1 too many messages from your address; try again in {int(wait) + 1} s"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() != self.support_address:
            return "550 5.7.1 this server only takes mail for the support address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Never an exception: aiosmtpd would send its text (SQL and all) to the peer."""
        raw = envelope.original_content or b""
        try:
            outcome = await self.take(raw)
        except Exception:  # TemporaryFailure, or anything take() did not foresee
            return "451 4.3.0 temporarily unable to take this message; try again later"
        if outcome == "malformed":
            return "554 5.6.0 malformed message"
        if outcome == "failed":
            return "554 5.6.0 this message could not be processed"
        return "250 OK"


@contextlib.asynccontextmanager
async def smtp_receiver(receiver: EmailReceiver, settings: Settings) -> AsyncIterator[None]:
    """aiosmtpd on this event loop, so mail goes straight into the engine."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            receiver,
            data_size_limit=settings.email_max_bytes,
            enable_SMTPUTF8=True,
            hostname=settings.email_address.rpartition("@")[2] or None,
        ),
        host=settings.email_receiver_host,
        port=settings.email_receiver_port,
    )
    log.info("smtp receiver listening", extra={"port": settings.email_receiver_port})
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


class ImapPoller:
    """Fetches unseen mail, marks it seen only once the engine has it (a crash re-reads it,
    and Message-IDs dedupe), then waits with IDLE if the server has it, else sleeps."""

    def __init__(self, receiver: EmailReceiver, settings: Settings) -> None:
        self._receiver = receiver
        self._settings = settings

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network, auth, server restarts: retry later
                log.warning("imap session ended; reconnecting", extra={"error": str(exc)})
            await asyncio.sleep(min(self._settings.email_imap_poll_s, 30))

    async def _session(self) -> None:
        settings = self._settings
        client: aioimaplib.IMAP4
        if settings.email_imap_ssl:
            client = aioimaplib.IMAP4_SSL(
                settings.email_imap_host,
                settings.email_imap_port,
                ssl_context=tls_context(settings.email_ca_file),
            )
        else:
            client = aioimaplib.IMAP4(settings.email_imap_host, settings.email_imap_port)
        await client.wait_hello_from_server()
        _ok(await client.login(settings.email_imap_username, settings.email_imap_password))
        try:
            _ok(await client.select(settings.email_imap_folder))
            while True:
                await self.fetch_unseen(client)
                if client.has_capability("IDLE"):
                    idle = await client.idle_start(timeout=settings.email_imap_poll_s)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await client.wait_server_push()
                    client.idle_done()
                    await asyncio.wait_for(idle, timeout=10)
                else:
                    await asyncio.sleep(settings.email_imap_poll_s)
        finally:
            with contextlib.suppress(Exception):  # the server may be gone: do not hang on it
                await asyncio.wait_for(client.logout(), LOGOUT_TIMEOUT_S)

    async def fetch_unseen(self, client: aioimaplib.IMAP4) -> int:
        found = _ok(await client.uid_search("UNSEEN"))
        uids = found.lines[0].decode().split() if found.lines else []
        for uid in uids:
            fetched = _ok(await client.uid("fetch", uid, "(BODY.PEEK[])"))
            raw = next((line for line in fetched.lines if isinstance(line, bytearray)), None)
            if raw is None:
                continue
            flags = "(\\Seen)"
            if len(raw) > self._settings.email_max_bytes:
                log.warning("oversized email skipped", extra={"uid": uid, "bytes": len(raw)})
                flags = f"(\\Seen \\Flagged {QUARANTINE_FLAG})"
            elif await self._receiver.take(bytes(raw)) == "failed":
                # Set aside, not retried: one bad mail must not hold up every mail after it.
                log.error("email set aside in the mailbox", extra={"uid": uid})
                flags = f"(\\Seen \\Flagged {QUARANTINE_FLAG})"
            stored = await client.uid("store", uid, "+FLAGS", flags)
            if stored.result != "OK" and flags != "(\\Seen)":  # a server without keywords
                stored = await client.uid("store", uid, "+FLAGS", "(\\Seen \\Flagged)")
            _ok(stored)
        return len(uids)


def _ok(response: aioimaplib.Response) -> aioimaplib.Response:
    if response.result != "OK":
        raise RuntimeError(f"imap: {response.result} {response.lines}")
    return response


@contextlib.asynccontextmanager
async def imap_polling(poller: ImapPoller) -> AsyncIterator[None]:
    task = asyncio.create_task(poller.run(), name="imap")
    try:
        yield
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=LOGOUT_TIMEOUT_S + 5)
        if not done:
            task.print_stack()
            log.error("imap poller did not stop in time; abandoning it")


def _server_unreachable(exc: Exception) -> bool:
    """The mail server is down or away (every reply waits on it), not this one mail refused."""
    unreachable = (
        aiosmtplib.SMTPConnectError,
        aiosmtplib.SMTPServerDisconnected,
        aiosmtplib.SMTPTimeoutError,
        OSError,
    )
    return isinstance(exc, unreachable)
