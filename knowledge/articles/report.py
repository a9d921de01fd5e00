"""Report figures for article answers: how often the bot answered from the help centre and
what customers said to "did that answer your question?"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import Message, SenderKind

DEFINITIONS = {
    "article_answers": "Questions the bot answered with a help-centre passage.",
    "article_confirmed": "Article answers the customer confirmed ('yes'); they count toward "
    "containment like any answer that kept the chat with the bot.",
    "article_rejected": "Article answers the customer said did not help ('no'); the chat is "
    "offered a person and the question appears under content gaps.",
}


async def article_figures(
    sessions: async_sessionmaker[AsyncSession], since: datetime
) -> dict[str, int | float | None]:
    async with sessions() as session:
        metas = (
            await session.scalars(
                select(Message.meta).where(
                    Message.created_at >= since,
                    Message.sender_kind == SenderKind.CUSTOMER.value,
                )
            )
        ).all()
    answers = confirmed = rejected = 0
    for meta in metas:
        decision = (meta or {}).get("decision")
        signals = decision.get("signals") if isinstance(decision, dict) else None
        if not isinstance(signals, dict):
            continue
        answers += "article" in signals
        feedback = signals.get("article_feedback")
        confirmed += feedback == "yes"
        rejected += feedback == "no"
    judged = confirmed + rejected
    return {
        "article_answers": answers,
        "article_confirmed": confirmed,
        "article_rejected": rejected,
        "article_confirmed_rate": round(confirmed / judged, 4) if judged else None,
    }
