"""Finding content gaps in the conversations: customer questions that fell back, whose answer
was rejected, or that went to a person (with the agent reply that followed), grouped into
suggested intents; one call turns a group into an FAQ intent or adds it to one."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.nlu.embeddings import SentenceEmbedder, shared
from bot.nlu.rejection import rejects_answer
from bot.nlu.service import NluService
from escalation.policy import HANDOFF_INTENT
from knowledge.errors import KnowledgeError
from knowledge.gaps.cluster import MAX_QUESTIONS, central, cluster, embed, name_for
from knowledge.schema import IntentData, IntentPatch, IntentView
from knowledge.service import KnowledgeBase
from models import Conversation, Direction, Message, SenderKind
from models.base import utcnow

RESOLVED_META = "gap_resolved"
"""On a customer message whose gap became (part of) an intent: the intent's name."""
MAX_EXAMPLES = 50
SHOWN_EXAMPLES = 10


class GapNotFound(KnowledgeError):
    status = 404


@dataclass(frozen=True, slots=True)
class GapQuestion:
    message_id: int
    conversation_id: int
    text: str
    language: str
    created_at: datetime
    why: str
    """"fallback", "rejected" or "escalated"."""
    agent_reply: str | None = None


@dataclass(frozen=True)
class GapCluster:
    key: int
    """The smallest message id in it: stable while its questions are."""
    name: str
    language: str
    size: int
    last_seen: str
    examples: list[str]
    suggested_answer: str | None
    suggested_intent: str | None
    """An existing intent the NLU leans to for these questions, to add them to instead."""
    reasons: dict[str, int]
    message_ids: list[int] = field(repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "name": self.name,
            "language": self.language,
            "size": self.size,
            "last_seen": self.last_seen,
            "examples": self.examples,
            "suggested_answer": self.suggested_answer,
            "suggested_intent": self.suggested_intent,
            "reasons": self.reasons,
            "message_ids": self.message_ids,
        }


def _decision(meta: dict[str, object]) -> dict[str, object]:
    value = meta.get("decision")
    return value if isinstance(value, dict) else {}


def gap_questions(
    messages: Sequence[Message], conversation_languages: dict[int, str]
) -> list[GapQuestion]:
    """From one or more conversations' messages in id order, the questions that were gaps."""
    found: dict[int, GapQuestion] = {}
    by_conversation: dict[int, list[Message]] = {}
    for m in messages:
        by_conversation.setdefault(m.conversation_id, []).append(m)
    for conversation_id, thread in by_conversation.items():
        language = conversation_languages.get(conversation_id, "en")
        last_question: Message | None = None
        for i, m in enumerate(thread):
            if m.direction != Direction.IN.value or m.sender_kind != SenderKind.CUSTOMER.value:
                continue
            decision = _decision(m.meta or {})
            signals = decision.get("signals") if isinstance(decision.get("signals"), dict) else {}
            action = decision.get("action")
            question, why = None, None
            if signals.get("rejected_answer") or rejects_answer(m.text):  # type: ignore[union-attr]
                question, why = last_question, "rejected"
            elif action == "fallback":
                question, why = m, "fallback"
            elif action == "escalate":
                question = last_question if m.intent == HANDOFF_INTENT else m
                why = "escalated"
            if question is not None and why is not None and RESOLVED_META not in question.meta:
                reply = next(
                    (
                        later.text
                        for later in thread[i + 1 :]
                        if later.sender_kind == SenderKind.AGENT.value
                    ),
                    None,
                )
                previous = found.get(question.id)
                found[question.id] = GapQuestion(
                    question.id,
                    conversation_id,
                    question.text,
                    language,
                    question.created_at,
                    # It went to a person in the end: that is the reason that matters.
                    why if why == "escalated" or previous is None else previous.why,
                    reply or (previous.agent_reply if previous else None),
                )
            if m.intent != HANDOFF_INTENT and why != "rejected" and not _is_feedback(signals):
                last_question = m
    return sorted(found.values(), key=lambda q: q.message_id)


def _is_feedback(signals: object) -> bool:
    """A yes/no to "did that answer your question?" is not a question of its own."""
    return isinstance(signals, dict) and "article_feedback" in signals


class GapFinder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        knowledge: KnowledgeBase,
        nlu: NluService,
        embedder: SentenceEmbedder | None = None,
    ) -> None:
        self._sessions = sessions
        self._knowledge = knowledge
        self._nlu = nlu
        self._embedder = embedder

    async def questions(self, days: int = 90) -> list[GapQuestion]:
        since = utcnow() - timedelta(days=days)
        async with self._sessions() as session:
            recent = (
                (
                    await session.execute(
                        select(Message.conversation_id)
                        .where(
                            Message.created_at >= since,
                            Message.sender_kind == SenderKind.CUSTOMER.value,
                        )
                        .group_by(Message.conversation_id)
                        .order_by(Message.conversation_id.desc())
                        .limit(MAX_QUESTIONS)
                    )
                )
                .scalars()
                .all()
            )
            if not recent:
                return []
            messages = (
                await session.scalars(
                    select(Message)
                    .where(Message.conversation_id.in_(recent), Message.created_at >= since)
                    .order_by(Message.id)
                )
            ).all()
            languages = dict(
                (
                    await session.execute(
                        select(Conversation.id, Conversation.language).where(
                            Conversation.id.in_(recent)
                        )
                    )
                ).all()
            )
        return gap_questions(messages, languages)[-MAX_QUESTIONS:]

    async def clusters(self, days: int = 90, min_size: int = 2) -> list[GapCluster]:
        """Suggested intents, largest first, then most recent."""
        questions = await self.questions(days)
        embedder = self._embedder or shared()
        return await asyncio.to_thread(self._group, questions, embedder, min_size)

    def _group(
        self, questions: list[GapQuestion], embedder: SentenceEmbedder, min_size: int
    ) -> list[GapCluster]:
        out: list[GapCluster] = []
        taken: set[str] = set()
        for language in sorted({q.language for q in questions}):
            mine = [q for q in questions if q.language == language]
            vectors = embed([q.text for q in mine], embedder)
            for group in cluster(vectors):
                if len(group) < min_size:
                    continue
                members = [mine[i] for i in group]
                texts = list(dict.fromkeys(q.text for q in members))
                typical = members[central(vectors[group])]
                replies = [q.agent_reply for q in members if q.agent_reply]
                answer = None
                if replies:
                    answer = replies[central(embed(replies, embedder))]
                leaning = Counter(
                    r.intent for r in (self._nlu.parse(t) for t in texts[:20]) if not r.is_fallback
                )
                out.append(
                    GapCluster(
                        key=min(q.message_id for q in members),
                        name=name_for(texts, taken),
                        language=language,
                        size=len(members),
                        last_seen=max(q.created_at for q in members).isoformat(),
                        examples=[typical.text, *[t for t in texts if t != typical.text]][
                            :SHOWN_EXAMPLES
                        ],
                        suggested_answer=answer,
                        suggested_intent=leaning.most_common(1)[0][0] if leaning else None,
                        reasons=dict(Counter(q.why for q in members)),
                        message_ids=sorted(q.message_id for q in members),
                    )
                )
        return sorted(out, key=lambda c: (c.size, c.last_seen), reverse=True)

    async def _texts(self, message_ids: Sequence[int]) -> tuple[list[str], str]:
        if not message_ids:
            raise KnowledgeError("no questions given")
        questions = {q.message_id: q for q in await self.questions(days=3650)}
        chosen = [questions[i] for i in message_ids if i in questions]
        if not chosen:
            raise GapNotFound("those questions are no longer open gaps")
        texts = list(dict.fromkeys(q.text for q in chosen))[:MAX_EXAMPLES]
        return texts, Counter(q.language for q in chosen).most_common(1)[0][0]

    async def create_intent(
        self, message_ids: Sequence[int], name: str, answer: str, actor: str
    ) -> IntentView:
        """A new FAQ intent from the gap's questions (the model retrains live)."""
        texts, language = await self._texts(message_ids)
        data = IntentData(name=name, examples={language: texts}, answers={language: [answer]})
        view = await self._knowledge.create(data, actor)
        await self._resolve(message_ids, name)
        return view

    async def add_to_intent(
        self, message_ids: Sequence[int], intent: str, actor: str
    ) -> IntentView:
        texts, language = await self._texts(message_ids)
        current = await self._knowledge.get(intent)
        examples = dict(current.examples)
        examples[language] = list(dict.fromkeys([*examples.get(language, []), *texts]))
        view = await self._knowledge.update(intent, IntentPatch(examples=examples), actor)
        await self._resolve(message_ids, intent)
        return view

    async def _resolve(self, message_ids: Sequence[int], intent: str) -> None:
        async with self._sessions() as session:
            rows = (await session.scalars(select(Message).where(Message.id.in_(message_ids)))).all()
            for row in rows:
                row.meta = {**(row.meta or {}), RESOLVED_META: intent}
            await session.commit()

    async def weekly_share(self, weeks: int = 8) -> list[dict[str, object]]:
        """Per week (Monday first): customer questions the bot took, how many were gaps."""
        since = utcnow() - timedelta(weeks=weeks)
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Message.created_at, Message.meta).where(
                        Message.created_at >= since,
                        Message.sender_kind == SenderKind.CUSTOMER.value,
                    )
                )
            ).all()
        gaps = {q.message_id: q for q in await self.questions(days=weeks * 7)}
        gap_weeks = Counter(_week(q.created_at) for q in gaps.values())
        asked = Counter(_week(created) for created, meta in rows if _decision(meta or {}))
        return [
            {
                "week": week,
                "questions": asked[week],
                "in_gaps": gap_weeks[week],
                "share": round(gap_weeks[week] / asked[week], 4) if asked[week] else 0.0,
            }
            for week in sorted(set(asked) | set(gap_weeks))
        ]


def _week(moment: datetime) -> str:
    monday = (moment - timedelta(days=moment.weekday())).date()
    return monday.isoformat()
