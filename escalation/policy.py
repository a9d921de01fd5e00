"""The escalation policy: from a conversation's signals to answer / clarify / offer / escalate.

Hard rules first (the customer asked for a person; the bot failed N times in a row), then a
weighted score over soft signals (mood, churn risk, tier, topic, a rejected answer). Every
decision carries the signals it used and a one-line reason an agent can read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from bot.nlu.result import NluResult, Outcome
from escalation.sentiment import Label, Sentiment, Trend

HANDOFF_INTENT = "human_handoff"
SENSITIVE_TOPICS = frozenset({"billing", "cancellation", "legal", "security"})
HIGH_VALUE_TIERS = frozenset({"vip", "enterprise"})


class Action(enum.StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    FALLBACK = "fallback"
    OFFER_HUMAN = "offer_human"
    ESCALATE = "escalate"


@dataclass(frozen=True, slots=True)
class Signals:
    nlu: NluResult
    fallback_streak: int
    """Misunderstood messages in a row before this one."""
    sentiment: Sentiment | None = None
    trend: Trend | None = None
    churn_risk: float | None = None
    tier: str = "standard"
    topic: str | None = None
    rejected_answer: bool = False
    rejections_before: int = 0


@dataclass(frozen=True, slots=True)
class PolicySettings:
    fallback_streak_to_escalate: int = 2
    escalate_at: float = 1.0
    offer_at: float = 0.6
    weight_negative: float = 0.5
    """Times how negative the message is (0…1)."""
    weight_negative_streak: float = 0.3
    """Per negative message in a row, from the second on."""
    weight_churn: float = 0.8
    """Times churn risk above `churn_floor`, rescaled to 0…1."""
    churn_floor: float = 0.4
    churn_high: float = 0.6
    """At or above this risk, any negative message goes to a person."""
    weight_tier: float = 0.3
    weight_topic: float = 0.2
    weight_rejected: float = 0.5


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    fallback_streak: int
    reason: str | None = None
    priority: int = 0
    team: str | None = None
    score: float = 0.0
    signals: dict[str, object] = field(default_factory=dict)


def team_for(topic: str | None) -> str:
    if topic in {"billing", "cancellation"}:
        return "billing"
    if topic in {"security", "legal"}:
        return "trust"
    return "support"


def decide(signals: Signals, settings: PolicySettings) -> Decision:
    nlu = signals.nlu
    # Off-topic is not a failure of the bot: it says what it can help with instead.
    misunderstood = nlu.outcome is Outcome.FALLBACK
    streak = signals.fallback_streak + 1 if misunderstood else 0
    if nlu.outcome is Outcome.AMBIGUOUS:
        streak = signals.fallback_streak
    score, reasons = _soft_score(signals, settings)
    recorded = _recorded(signals, score)
    team = team_for(signals.topic)

    if nlu.intent == HANDOFF_INTENT and nlu.outcome is Outcome.CONFIDENT:
        reason = _sentence(["customer asked for a person", *reasons])
        return Decision(Action.ESCALATE, 0, reason, _priority(50, score), team, score, recorded)
    if misunderstood and streak >= settings.fallback_streak_to_escalate:
        reason = _sentence([f"bot did not understand {streak} messages in a row", *reasons])
        return Decision(
            Action.ESCALATE, streak, reason, _priority(30, score), team, score, recorded
        )
    if signals.rejected_answer and signals.rejections_before >= 1:
        reason = _sentence(["customer rejected the bot's answers twice", *reasons])
        return Decision(
            Action.ESCALATE, streak, reason, _priority(40, score), team, score, recorded
        )
    unhappy = signals.sentiment is not None and signals.sentiment.label is Label.NEGATIVE
    at_risk = signals.churn_risk is not None and signals.churn_risk >= settings.churn_high
    if score >= settings.escalate_at or (at_risk and unhappy):
        reason = _sentence(reasons)
        return Decision(
            Action.ESCALATE, streak, reason, _priority(40, score), team, score, recorded
        )
    if misunderstood:
        action = Action.FALLBACK if nlu.is_fallback else Action.ANSWER
        return Decision(action, streak, None, 0, None, score, recorded)
    if score >= settings.offer_at:
        return Decision(Action.OFFER_HUMAN, streak, _sentence(reasons), 0, team, score, recorded)
    if nlu.outcome is Outcome.AMBIGUOUS:
        return Decision(Action.CLARIFY, streak, None, 0, None, score, recorded)
    return Decision(Action.ANSWER, streak, None, 0, None, score, recorded)


def _soft_score(signals: Signals, settings: PolicySettings) -> tuple[float, list[str]]:
    """Weighted evidence that a person should step in, and why, strongest first."""
    parts: list[tuple[float, str]] = []
    sentiment, trend = signals.sentiment, signals.trend
    if sentiment is not None and sentiment.score < 0:
        parts.append((settings.weight_negative * -sentiment.score, "a negative message"))
    if trend is not None and trend.negative_streak >= 2:
        weight = settings.weight_negative_streak * (trend.negative_streak - 1)
        parts.append((weight, f"{_count(trend.negative_streak)} negative messages in a row"))
    if signals.churn_risk is not None and signals.churn_risk > settings.churn_floor:
        pull = (signals.churn_risk - settings.churn_floor) / (1 - settings.churn_floor)
        parts.append((settings.weight_churn * pull, f"churn risk {signals.churn_risk:.2f}"))
    if signals.tier in HIGH_VALUE_TIERS:
        parts.append((settings.weight_tier, f"{signals.tier} customer"))
    if signals.rejected_answer:
        parts.append((settings.weight_rejected, "said the answer did not help"))
    score = sum(weight for weight, _ in parts)
    reasons = [text for _, text in sorted(parts, key=lambda p: -p[0])]
    if signals.topic in SENSITIVE_TOPICS and parts:
        score += settings.weight_topic
        reasons.append(f"about {signals.topic}")
    return round(score, 3), reasons


def _recorded(signals: Signals, score: float) -> dict[str, object]:
    return {
        "intent": signals.nlu.intent,
        "confidence": signals.nlu.confidence,
        "outcome": signals.nlu.outcome.value,
        "fallback_streak": signals.fallback_streak,
        "sentiment": signals.sentiment.score if signals.sentiment else None,
        "negative_streak": signals.trend.negative_streak if signals.trend else 0,
        "churn_risk": signals.churn_risk,
        "tier": signals.tier,
        "topic": signals.topic,
        "rejected_answer": signals.rejected_answer,
        "score": score,
    }


def _priority(base: int, score: float) -> int:
    return min(100, base + round(score * 30))


_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _count(n: int) -> str:
    return _WORDS.get(n, str(n))


def _sentence(reasons: list[str]) -> str:
    """'churn risk 0.82 and two negative messages in a row about billing'."""
    topic = [r for r in reasons if r.startswith("about ")]
    rest = [r for r in reasons if not r.startswith("about ")]
    text = ", ".join(rest[:-1]) + (" and " if len(rest) > 1 else "") + (rest[-1] if rest else "")
    return (text + (" " + topic[0] if topic else "")).strip()
