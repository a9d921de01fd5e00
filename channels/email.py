"""Email: in by IMAP (IDLE where offered, else polling) or a built-in SMTP receiver for
forwarded mail; out by SMTP with STARTTLS and auth, in the customer's thread."""

from __future__ import annotations

import asyncio
import contextlib
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
from bot.settings import Settings
from channels.base import DeliveryError, DeliveryTarget, InvalidMessage, OutboundText
from channels.email_message import CHANNEL, MalformedEmail, read_email, reply_message_id
from models import Message

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 30
LOGOUT_TIMEOUT_S = 5
AUTOMATIC_SENDERS = frozenset({"bot", "system"})


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

    async def send_text(self, target: DeliveryTarget, message: OutboundText) -> None:
        mail = await self.compose(target, message)
        settings = self._settings
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
            raise DeliveryError(f"smtp: {exc}") from None

    async def compose(self, target: DeliveryTarget, message: OutboundText) -> EmailMessage:
        last = await self._last_customer_mail(message.conversation_id)
        subject = str(last.get("subject") or "Your question")
        mail = EmailMessage()
        mail["From"] = formataddr((self._settings.email_display_name, self._settings.email_address))
        mail["To"] = target.external_user
        mail["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = reply_message_id(target.external_thread, self._domain)
        replied_to = last.get("message_id")
        if replied_to:
            references = [r for r in str(last.get("references", "")).split() if r]
            mail["In-Reply-To"] = replied_to
            mail["References"] = " ".join(dict.fromkeys([*references, replied_to]))
        if message.sender_kind in AUTOMATIC_SENDERS:
            mail["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer
        mail.set_content(message.text)
        return mail

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
    ) -> None:
        self._engine = engine
        self.support_address = support_address.lower()
        self._limiter = limiter
        self._per_ip = messages_per_ip_min

    async def take(self, raw: bytes) -> str:
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
        try:
            result = await self._engine.receive(mail.inbound())
        except InvalidMessage as exc:
            log.info("email without new text dropped", extra={"error": str(exc)})
            return "empty"
        return "duplicate" if result.duplicate else "accepted"

    # aiosmtpd handler hooks -------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """A flood from one address is deferred: a temporary failure makes the sending server
        queue the mail and try again later, so nothing is lost."""
        address_of_peer = session.peer[0] if isinstance(session.peer, tuple) else session.peer
        wait = await self._limiter.hit(f"smtp:ip:{address_of_peer}", self._per_ip, 60)
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
        raw = envelope.original_content or b""
        outcome = await self.take(raw)
        if outcome == "malformed":
            return "554 5.6.0 malformed message"
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
            if len(raw) > self._settings.email_max_bytes:
                log.warning("oversized email skipped", extra={"uid": uid, "bytes": len(raw)})
            else:
                await self._receiver.take(bytes(raw))
            _ok(await client.uid("store", uid, "+FLAGS", "(\\Seen)"))
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
