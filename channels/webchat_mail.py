"""A web-chat visitor's chat, by email: the transcript they ask for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from bot.replies import say
from bot.settings import Settings
from models import Message

SPEAKERS = {"customer": "transcript_you", "bot": "transcript_bot", "system": "transcript_bot"}


def transcript_mail(
    settings: Settings,
    to: str,
    messages: Sequence[Message],
    language: str,
    zone: tzinfo,
    agent_names: dict[int, str],
) -> EmailMessage:
    company = settings.email_display_name
    lines = [say("transcript_intro", language, company=company), ""]
    for m in messages:
        when = m.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        if m.sender_kind == "agent":
            who = agent_names.get(m.agent_id or 0) or say("chat_by_email_team", language)
        else:
            who = say(SPEAKERS.get(m.sender_kind, "transcript_bot"), language)
        lines.append(f"[{when}] {who}: {m.text}")
    mail = EmailMessage()
    mail["From"] = formataddr((company, settings.email_address))
    mail["To"] = to
    mail["Subject"] = say("transcript_subject", language, company=company)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=settings.email_address.rpartition("@")[2])
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content("\n".join(lines) + f"\n\n({zone})\n")
    return mail
