"""The bot's article turn: when no FAQ intent is confident, answer with the best passage (if
it clears the calibrated threshold) and ask whether it helped; read the yes/no that follows.

The engine calls `ArticleResponder.turn` once per bot turn, after the policy decided; a
`None` leaves the turn to the engine as before. Intents keep priority: only a FALLBACK
decision is answered from articles, and a customer who must go to a person still does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from escalation.policy import Action, Decision
from knowledge.articles.index import Hit
from knowledge.articles.store import ArticleStore
from models import Direction, Message

BUTTON_CHANNELS = frozenset({"webchat"})
"""Channels that show quick replies as buttons; the others get the choices in the text."""
MAX_ANSWER_CHARS = 600
QUESTION_META = "article_question"
"""On a bot message that asked "did that answer your question?": the article's id."""

TEMPLATES: dict[str, dict[str, str]] = {
    "source": {"en": "From “{title}”", "zh": "来自《{title}》"},
    "did_it_help": {"en": "Did that answer your question?", "zh": "这解答了您的问题吗？"},
    "did_it_help_text": {
        "en": "Did that answer your question? (reply yes or no)",
        "zh": "这解答了您的问题吗？（请回复“是”或“否”）",
    },
    "glad": {
        "en": "Great, glad that helped! Anything else I can do for you?",
        "zh": "太好了，很高兴能帮到您！还有其他可以帮您的吗？",
    },
    "sorry": {
        "en": "Sorry that didn't answer it. Would you like a person from our team to help? "
        "Just say 'agent', or ask your question another way.",
        "zh": "抱歉没能解答您的问题。需要为您转接人工客服吗？输入“人工”即可，或换个方式提问。",
    },
    "yes": {"en": "Yes", "zh": "是"},
    "no": {"en": "No", "zh": "否"},
    "person": {"en": "Talk to a person", "zh": "转人工"},
}

_YES = re.compile(
    r"(yes|yeah|yep|yup|y|it did|that helped|that did|perfect|great|thanks?|thank you|"
    r"是|是的|对|对的|有用|有帮助|解决了|好的|谢谢)",
    re.IGNORECASE,
)
_NO = re.compile(
    r"(no|nope|nah|n|not really|it did ?n[o']?t|no it did ?n[o']?t|"
    r"不|不是|否|没有|没用|没有用|没解决|不行)",
    re.IGNORECASE,
)
_PUNCTUATION = re.compile(r"[\s.!?,;:。！？，、~]+")

_LAST_BOT_META = (
    select(Message.meta)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        Message.direction == Direction.OUT.value,
        Message.id < bindparam("message_id"),
    )
    .order_by(Message.id.desc())
    .limit(1)
)


def say(key: str, language: str, **values: str) -> str:
    variants = TEMPLATES[key]
    return variants.get(language, variants["en"]).format(**values)


def feedback_of(text: str) -> str | None:
    """'yes', 'no', or None for anything else."""
    cleaned = _PUNCTUATION.sub(" ", text).strip()
    if _YES.fullmatch(cleaned):
        return "yes"
    if _NO.fullmatch(cleaned):
        return "no"
    return None


def trim(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """At most `limit` characters, cut at a sentence (or word) end with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    ends = [cut.rfind(mark) for mark in (". ", "。", "! ", "? ", "！", "？", "\n")]
    end = max(ends)
    if end >= limit // 2:
        return cut[: end + 1].rstrip() + " …"
    space = cut.rfind(" ")
    return (cut[:space] if space >= limit // 2 else cut).rstrip() + " …"


def article_link(hit: Hit, language: str) -> str:
    return hit.passage.url or f"/help/{language}/{hit.passage.slug}"


@dataclass(frozen=True, slots=True)
class ArticleReply:
    text: str
    meta: dict[str, Any]
    """For the outbound message: quick replies and the article it quotes."""
    decision: Decision
    """The policy's decision as this turn changed it (recorded on the customer's message)."""


class ArticleResponder:
    def __init__(self, store: ArticleStore, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._store = store
        self._sessions = sessions

    async def turn(
        self,
        conversation_id: int,
        message_id: int,
        text: str,
        language: str,
        channel: str,
        decision: Decision,
    ) -> ArticleReply | None:
        feedback = feedback_of(text)
        # A bare yes or no answers the article's question, whatever the streak so far would
        # have decided: yes ends it, no offers a person (and counts as a rejected answer).
        if feedback is not None:
            asked = await self._asked_about(conversation_id, message_id)
            if asked is not None:
                return self._feedback_reply(feedback, asked, language, channel, decision)
        if decision.action is Action.ESCALATE:
            return None
        # Off-topic by the intents' reading, yet answered by the help centre: it is the
        # company's topic after all ("I think you billed me two times for November").
        if decision.action not in (Action.FALLBACK, Action.OUT_OF_SCOPE):
            return None
        lookup = (await self._store.library()).lookup(text, language)
        hit = lookup.answer
        if hit is None:
            return None
        return self._answer(hit, lookup.probability, language, channel, decision)

    async def _asked_about(self, conversation_id: int, message_id: int) -> int | None:
        async with self._sessions() as session:
            meta = await session.scalar(
                _LAST_BOT_META, {"conversation_id": conversation_id, "message_id": message_id}
            )
        value = (meta or {}).get(QUESTION_META)
        return int(value) if isinstance(value, int) else None

    def _answer(
        self, hit: Hit, probability: float, language: str, channel: str, decision: Decision
    ) -> ArticleReply:
        buttons = channel in BUTTON_CHANNELS
        source = say("source", language, title=hit.passage.title)
        link = article_link(hit, language)
        question = say("did_it_help" if buttons else "did_it_help_text", language)
        text = f"{trim(hit.passage.text)}\n\n{source}: {link}\n\n{question}"
        meta = {
            "quick_replies": [
                {"title": say("yes", language), "payload": "yes"},
                {"title": say("no", language), "payload": "no"},
            ],
            "article_id": hit.passage.article_id,
            "passage_id": hit.passage.passage_id,
            QUESTION_META: hit.passage.article_id,
        }
        record = {
            "article_id": hit.passage.article_id,
            "passage_id": hit.passage.passage_id,
            "probability": round(probability, 4),
        }
        changed = replace(
            decision,
            action=Action.ANSWER,
            # A passage found by search is a guess until the customer says yes: it counts
            # as a miss (a fallback already did), so a vague customer who keeps getting
            # articles still reaches a person.
            fallback_streak=decision.fallback_streak
            + (0 if decision.action is Action.FALLBACK else 1),
            reason=None,
            signals={**decision.signals, "article": record},
        )
        return ArticleReply(text, meta, changed)

    def _feedback_reply(
        self, feedback: str, article_id: int, language: str, channel: str, decision: Decision
    ) -> ArticleReply:
        signals = {**decision.signals, "article_feedback": feedback, "article_id": article_id}
        if feedback == "yes":
            changed = replace(
                decision, action=Action.ANSWER, fallback_streak=0, reason=None, signals=signals
            )
            return ArticleReply(say("glad", language), {}, changed)
        changed = replace(
            decision,
            action=Action.OFFER_HUMAN,
            reason="the customer said the article did not answer their question",
            signals={**signals, "rejected_answer": True},
        )
        meta: dict[str, Any] = {"article_feedback_for": article_id}
        if channel in BUTTON_CHANNELS:
            meta["quick_replies"] = [{"title": say("person", language), "payload": "agent"}]
        return ArticleReply(say("sorry", language), meta, changed)
