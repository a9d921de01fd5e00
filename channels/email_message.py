"""Reading one customer email: who, which thread, the new text only, and whether a person wrote it.

Threads follow RFC 5322: the first Message-ID in References (else In-Reply-To, else the
message's own id) names the conversation. Quoted history and signatures are cut (multi-
language, mail-parser-reply), HTML-only mail is turned into text, and auto-replies and bounces
(RFC 3834 Auto-Submitted, Precedence, delivery reports, mailer-daemon senders) are recognised so
deskbot never answers a machine and never starts a mail loop.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr

import html2text
from mailparser_reply import EmailReplyParser

from channels.base import ID_CHARS, InboundMessage, clean_field

CHANNEL = "email"
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "zh", "ja"]
_QUOTE_INTRO = re.compile(r"^(on .+ wrote:|在.+写道[:：]|-{2,} ?original message ?-{2,})\s*$", re.I)
_AUTOMATED_SENDERS = re.compile(r"^(mailer-daemon|postmaster|no-?reply|bounces?)[@+]", re.I)
_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")
_REPLY_MARK = "deskbot-thread-"
_ANGLE_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>\s*$")  # the last one: the real address


class MalformedEmail(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CustomerEmail:
    sender: str
    display_name: str
    message_id: str
    references: tuple[str, ...]
    subject: str
    text: str
    automated: str | None

    @property
    def dedupe_id(self) -> str:
        """Message-IDs are chosen by the sender and often predictable: one sender must not
        be able to claim another's, so a mail is a duplicate only of the same sender's mail."""
        namespaced = f"{self.sender}/{self.message_id}"
        if len(namespaced) <= ID_CHARS:
            return namespaced
        return f"{self.sender[:100]}/sha256-{hashlib.sha256(namespaced.encode()).hexdigest()}"

    @property
    def thread(self) -> str:
        if not self.references:
            return self.message_id
        return thread_of_reply(self.references[0]) or self.references[0]

    def inbound(self) -> InboundMessage:
        return InboundMessage(
            channel=CHANNEL,
            external_user=self.sender,
            external_thread=self.thread,
            external_id=self.dedupe_id,
            text=self.text,
            display_name=self.display_name or None,
            meta={
                "subject": self.subject,
                "message_id": self.message_id,
                "references": " ".join(self.references),
            },
        )


def read_email(raw: bytes) -> CustomerEmail:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    name, sender = _from(message)
    if "@" not in sender or " " in sender:
        raise MalformedEmail("no sender address (From)")
    message_id = _first_id(header(message, "Message-ID")) or _content_id(raw)
    references = _ids(header(message, "References"))
    in_reply_to = _first_id(header(message, "In-Reply-To"))
    if in_reply_to and in_reply_to not in references:
        references = [*references, in_reply_to]
    return CustomerEmail(
        sender=sender.lower(),
        display_name=name,
        message_id=message_id,
        references=tuple(r for r in references if r != message_id),
        subject=clean_field(header(message, "Subject"), 998),
        text=new_text(_body(message)),
        automated=automated_reason(message, sender),
    )


def header(message: EmailMessage, name: str) -> str:
    """One header's decoded text, or "" when it is absent. The email library refuses some
    decoded values outright (a CR/LF encoded into an address's display name raises
    ValueError); those are decoded again without its structured parsing, and never raise."""
    try:
        return str(message.get(name, ""))
    except (ValueError, TypeError, IndexError, LookupError, AttributeError):
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), "")
        return _decoded(str(raw))


def _from(message: EmailMessage) -> tuple[str, str]:
    """(display name, address). When the mail library refuses the decoded header (a CR/LF
    encoded into the name), the address is the one in angle brackets: nothing encoded into
    the name may change who the mail is from."""
    try:
        name, address = parseaddr(str(message.get("From", "")))
    except (ValueError, TypeError, IndexError, LookupError, AttributeError):
        raw = next((str(v) for k, v in message.raw_items() if k.lower() == "from"), "")
        unfolded = " ".join(raw.split())
        found = _ANGLE_ADDRESS.search(unfolded)
        if found is None:
            return "", ""
        name, address = _decoded(unfolded[: found.start()]).strip().strip('"'), found[1]
    return clean_field(name, 200), clean_field(address, 320)


def _decoded(encoded: str) -> str:
    try:
        return str(make_header(decode_header(encoded)))
    except (ValueError, TypeError, LookupError, UnicodeError):
        return encoded


def automated_reason(message: EmailMessage, sender: str) -> str | None:
    """Why this mail was written by a machine, or None when a person wrote it."""
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return "auto-responder header"
    if str(message.get("Precedence", "")).lower() in {"bulk", "junk", "list", "auto_reply"}:
        return f"Precedence: {message.get('Precedence')}"
    if message.get_content_type() == "multipart/report" or message.get("X-Failed-Recipients"):
        return "delivery report (bounce)"
    if _AUTOMATED_SENDERS.match(sender) or not sender:
        return f"automated sender {sender}"
    if message.get("List-Id") or message.get("List-Unsubscribe"):
        return "mailing list"
    return None


def new_text(body: str) -> str:
    """Only what the customer wrote now: no quoted history, no signature."""
    parsed = EmailReplyParser(languages=REPLY_LANGUAGES).read(body)
    text = parsed.replies[0].body if parsed.replies else body
    kept: list[str] = []
    for line in text.splitlines():
        if _QUOTE_INTRO.match(line.strip()):
            break
        if line.startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # a charset Python does not know: read it as UTF-8
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if part.get_content_type() == "text/html":
        converter = html2text.HTML2Text()
        converter.ignore_images = True
        converter.body_width = 0
        return converter.handle(content)
    return str(content)


def reply_message_id(thread: str, domain: str) -> str:
    """Our replies' Message-ID carries their thread, so a customer's answer that names only
    the reply (In-Reply-To without References, as some mail clients send) finds its
    conversation. A sender can only steer their own mail into their own conversations."""
    code = base64.b32encode(thread.encode()).decode().rstrip("=").lower()
    return f"<{secrets.token_hex(8)}.{_REPLY_MARK}{code}@{domain}>"


def thread_of_reply(message_id: str) -> str | None:
    """The thread a reply_message_id() names, or None for anyone else's Message-ID."""
    local = message_id.strip("<>").rpartition("@")[0]
    _, mark, code = local.partition(f".{_REPLY_MARK}")
    if not mark or not code:
        return None
    try:
        thread = base64.b32decode(code.upper() + "=" * (-len(code) % 8)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return thread if _ID.fullmatch(thread) else None


def _ids(header: str) -> list[str]:
    return list(dict.fromkeys(_ID.findall(header)))


def _first_id(header: str) -> str | None:
    found = _ID.findall(header)
    return found[0] if found else None


def _content_id(raw: bytes) -> str:
    """Mail without a Message-ID still dedupes: the same bytes get the same id."""
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:32]}@deskbot.invalid>"
