"""Gathering what the policy weighs for one customer message, from the database and models."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.nlu.rejection import rejects_answer
from bot.nlu.result import NluResult, Outcome
from escalation.churn import ChurnScorer
from escalation.live_risk import COUNTS, LiveSignals, combine, counts_parameters
from escalation.message_cues import read_cues
from escalation.policy import Signals
from escalation.sentiment import Sentiment, trend
from escalation.sla import Clock, system_clock
from knowledge.service import KnowledgeBase
from models import Conversation, Customer, Direction, Message

HISTORY = 6
_EARLIER = (  # built once: constructing a statement costs more CPU than running it
    select(Message.text, Message.sentiment, Message.intent)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        Message.direction == Direction.IN.value,
        Message.id < bindparam("message_id"),
    )
    .order_by(Message.id.desc())
    .limit(HISTORY)
)
_CUSTOMER_AND_COUNTS = (
    select(Customer.tier, Customer.attributes, COUNTS)
    .select_from(Customer)
    .join(COUNTS, true())
    .where(Customer.id == bindparam("customer_id"))
)


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    tier: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class History:
    """What the database knows that the policy weighs: read in the transaction that stores
    the customer's message, so the bot's turn costs no extra round trips for it."""

    earlier: tuple[tuple[str, float | None, str | None], ...]  # (text, sentiment, intent)
    customer: CustomerFacts
    live: LiveSignals


class SignalGatherer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        knowledge: KnowledgeBase,
        churn: ChurnScorer,
        clock: Clock = system_clock,
    ) -> None:
        self._sessions = sessions
        self._knowledge = knowledge
        self._churn = churn
        self._clock = clock

    async def history_in(
        self, session: AsyncSession, conversation: Conversation, message: Message
    ) -> History:
        """Within the caller's transaction; `message` must have its id (flushed)."""
        earlier = (
            await session.execute(
                _EARLIER, {"conversation_id": conversation.id, "message_id": message.id}
            )
        ).all()
        facts = (
            await session.execute(
                _CUSTOMER_AND_COUNTS,
                counts_parameters(conversation.customer_id, conversation.id, self._clock()),
            )
        ).one()
        return History(
            tuple((t, s, i) for t, s, i in earlier),
            CustomerFacts(facts.tier, facts.attributes or {}),
            LiveSignals(facts.contacts or 0, facts.escalations or 0, facts.unresolved or 0, 0.0),
        )

    async def history(self, conversation: Conversation, message: Message) -> History:
        async with self._sessions() as session:
            return await self.history_in(session, conversation, message)

    async def gather(
        self,
        conversation: Conversation,
        message: Message,
        nlu: NluResult,
        sentiment: Sentiment,
        history: History,
    ) -> Signals:
        earlier = history.earlier
        scores = [s for _, s, _ in reversed(earlier) if s is not None] + [sentiment.score]
        mood = trend(scores)
        live = replace(history.live, mood=mood.average)
        churn = combine(self._churn.score(history.customer.attributes), live)
        current = [nlu.intent] if nlu.outcome is Outcome.CONFIDENT else []
        topic = await self._topic(current + [i for _, _, i in earlier if i])
        return Signals(
            nlu=nlu,
            fallback_streak=conversation.fallback_streak,
            sentiment=sentiment,
            trend=mood,
            churn_risk=churn.risk,
            tier=history.customer.tier,
            topic=topic,
            # Only an answer can be rejected: "it doesn't work" opening a chat is a problem.
            rejected_answer=bool(earlier) and rejects_answer(message.text),
            rejections_before=sum(rejects_answer(text) for text, _, _ in earlier[:-1]),
            cues=read_cues(message.text),
            earlier_scores=tuple(scores[:-1]),
        )

    async def _topic(self, intents_newest_first: list[str]) -> str | None:
        """What the conversation is about: the newest intent with a specific category."""
        categories = await self._knowledge.categories(set(intents_newest_first))
        for intent in intents_newest_first:
            category = categories.get(intent)
            if category and category != "general":
                return category
        return None
