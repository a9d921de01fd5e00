"""Training data from the company's own outcomes: agents' sentiment corrections and CSAT.

A correction labels its message. A CSAT rating of 1–2 labels the conversation's customer
messages negative and 4–5 positive, except messages the model scored clearly the other way
(a "thanks!" in a badly rated chat, a complaint in a well rated one stays out) and messages
an agent corrected (the correction wins).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import Conversation, Direction, Message, SenderKind

CSAT_NEGATIVE = frozenset({1, 2})
CSAT_POSITIVE = frozenset({4, 5})
_RATING = re.compile(r"\s*[1-5]\s*(/\s*5|stars?|星|分)?\s*[.!。！]?\s*", re.IGNORECASE)
"""The customer's answer to the CSAT question: a rating, not a message to learn from."""
CONTRADICTS = 0.3
"""A message scored beyond this in the other direction is left out of a CSAT label."""


@dataclass(frozen=True, slots=True)
class LabelledMessage:
    text: str
    label: str
    source: str
    """"correction" or "csat"."""


def csat_label(rating: int | None, score: float | None) -> str | None:
    if rating in CSAT_NEGATIVE and (score is None or score < CONTRADICTS):
        return "negative"
    if rating in CSAT_POSITIVE and (score is None or score > -CONTRADICTS):
        return "positive"
    return None


async def labelled_messages(sessions: async_sessionmaker[AsyncSession]) -> list[LabelledMessage]:
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Message.text, Message.sentiment, Message.sentiment_label, Conversation.csat)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Message.direction == Direction.IN.value,
                    Message.sender_kind == SenderKind.CUSTOMER.value,
                )
                .order_by(Message.id)
            )
        ).all()
    labelled = []
    for text, score, corrected, rating in rows:
        if _RATING.fullmatch(text):
            continue
        if corrected:
            labelled.append(LabelledMessage(text, corrected, "correction"))
        elif (label := csat_label(rating, score)) is not None:
            labelled.append(LabelledMessage(text, label, "csat"))
    return labelled
