"""The escalation policy: from a conversation's signals to what the bot does next.

Hard rules first, each one a thing a support lead would hand to a person at once: the
customer asked for a person (also inside another question), threatened legal action or to
cancel / leave for a competitor, rejected the bot's answers twice, or the bot failed to
understand N messages in a row. Then a weighted score over soft signals (how negative the
message is, anger that persists, sarcasm, "third time I ask", churn risk, tier, topic).
Every decision carries the signals it used and a one-line reason an agent can read.

Off-topic questions (Outcome.OUT_OF_SCOPE) are not the bot's failure and leave the fallback
streak as it was; a rejected answer is never answered again (OFFER_HUMAN or ESCALATE).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from bot.nlu.result import DECLINED_INTENT, OUT_OF_SCOPE_INTENT, NluResult, Outcome
from escalation.message_cues import MessageCues
from escalation.sentiment import Label, Sentiment, Trend

HANDOFF_INTENT = "human_handoff"
SENSITIVE_TOPICS = frozenset({"billing", "cancellation", "legal", "security"})
HIGH_VALUE_TIERS = frozenset({"vip", "enterprise"})


class Action(enum.StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    FALLBACK = "fallback"
    OUT_OF_SCOPE = "out_of_scope"
    """Off-topic: say what the bot can help with."""
    CONFIRM = "confirm"
    """An irreversible intent: ask before giving its answer."""
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
    cues: MessageCues = field(default_factory=MessageCues)
    earlier_scores: tuple[float, ...] = ()
    """Sentiment of the customer's earlier messages in this conversation, oldest first."""


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
    weight_repeat_contact: float = 0.3
    """An unhappy "third time I ask", "still", "nobody answers"."""
    weight_intensity: float = 0.2
    """Shouting: "!!!", words in capitals, on an unhappy message."""
    angry_score: float = -0.6
    """A message at or below this sentiment is angry; two angry messages go to a person."""
    escalate_on_threats: bool = True
    """Threats to cancel, to leave for a competitor or of legal action go to a person."""
    unsure_below: float = 0.6
    """An answer given with less confidence is a guess: it counts toward the streak of
    misunderstood messages (a vague conversation the bot keeps guessing at)."""


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
    nlu, cues = signals.nlu, signals.cues
    off_topic = nlu.outcome is Outcome.OUT_OF_SCOPE or nlu.intent == OUT_OF_SCOPE_INTENT
    misunderstood = nlu.outcome is Outcome.FALLBACK
    # Confident or asking back, a top intent below `unsure_below` is a guess, not understanding.
    guessed = (
        nlu.outcome in (Outcome.CONFIDENT, Outcome.AMBIGUOUS)
        and nlu.confidence < settings.unsure_below
    )
    # Misses (fallback, a guess, asking back after a miss) add to the streak; an off-topic
    # question or a first clarifying question leaves it as it is: no failure by itself, and
    # no reason to forget the misses before it (a vague customer the bot keeps failing).
    # "None of these" to the options offered is asking back gone wrong: the same.
    asked_back = nlu.outcome is Outcome.AMBIGUOUS or nlu.intent == DECLINED_INTENT
    vague = asked_back and signals.fallback_streak > 0
    real_miss = misunderstood or guessed or vague
    if real_miss:
        streak = signals.fallback_streak + 1
    elif off_topic or asked_back:
        streak = signals.fallback_streak
    else:
        streak = 0
    score, reasons = _soft_score(signals, settings)
    recorded = _recorded(signals, score)
    team = team_for(signals.topic)

    def escalate(why: str, base: int, to: str | None = None) -> Decision:
        reason = _sentence([why, *reasons])
        return Decision(
            Action.ESCALATE, streak, reason, _priority(base, score), to or team, score, recorded
        )

    if (nlu.intent == HANDOFF_INTENT and nlu.outcome is Outcome.CONFIDENT) or cues.asks_for_person:
        return escalate("customer asked for a person", 50)
    if settings.escalate_on_threats and cues.legal_threat:
        return escalate("customer threatened legal action", 60, "trust")
    if settings.escalate_on_threats and cues.cancel_threat:
        return escalate("customer threatened to cancel or leave", 55, "billing")
    if cues.account_compromised:
        return escalate("someone else may be in the customer's account", 60, "trust")
    if signals.rejected_answer and signals.rejections_before >= 1:
        return escalate("customer rejected the bot's answers twice", 40)
    # An off-topic reading once the misses (article answers included) reached the limit is
    # more of the same: the customer keeps not getting an answer.
    if (real_miss or off_topic) and streak >= settings.fallback_streak_to_escalate:
        return escalate(f"bot did not understand {streak} messages in a row", 30)
    sentiment = signals.sentiment
    angry_before = sum(1 for s in signals.earlier_scores if s <= settings.angry_score)
    angry = sentiment is not None and sentiment.score <= settings.angry_score
    # "That didn't help" is negative too, but has its own rule: offer a person, then hand over.
    if angry and angry_before and not signals.rejected_answer:
        return escalate("customer stayed angry", 45)
    if angry and cues.repeat_contact:
        return escalate("an angry customer asking again", 45)
    unhappy = sentiment is not None and sentiment.label is Label.NEGATIVE
    at_risk = signals.churn_risk is not None and signals.churn_risk >= settings.churn_high
    if score >= settings.escalate_at or (at_risk and unhappy):
        return Decision(
            Action.ESCALATE, streak, _sentence(reasons), _priority(40, score), team, score, recorded
        )
    if signals.rejected_answer or score >= settings.offer_at:
        why = reasons or ["said the answer did not help"]
        return Decision(Action.OFFER_HUMAN, streak, _sentence(why), 0, team, score, recorded)
    if misunderstood and angry:  # furious and not understood: "say it another way" is not enough
        why = reasons or ["a negative message"]
        return Decision(Action.OFFER_HUMAN, streak, _sentence(why), 0, team, score, recorded)
    if misunderstood:
        return Decision(Action.FALLBACK, streak, None, 0, None, score, recorded)
    if nlu.outcome is Outcome.OUT_OF_SCOPE:
        return Decision(Action.OUT_OF_SCOPE, streak, None, 0, None, score, recorded)
    if nlu.outcome is Outcome.CONFIRM:
        return Decision(Action.CONFIRM, streak, None, 0, None, score, recorded)
    if nlu.outcome is Outcome.AMBIGUOUS:
        return Decision(Action.CLARIFY, streak, None, 0, None, score, recorded)
    return Decision(Action.ANSWER, streak, None, 0, None, score, recorded)


def _soft_score(signals: Signals, settings: PolicySettings) -> tuple[float, list[str]]:
    """Weighted evidence that a person should step in, and why, strongest first."""
    parts: list[tuple[float, str]] = []
    sentiment, trend, cues = signals.sentiment, signals.trend, signals.cues
    # "That didn't help" is about the answer, not the mood: its weight replaces the mood's.
    unhappy = (
        sentiment is not None
        and sentiment.label is Label.NEGATIVE
        and sentiment.score < 0
        and not signals.rejected_answer
    )
    if sentiment is not None and unhappy:
        what = "a sarcastic complaint" if cues.sarcasm else "a negative message"
        parts.append((settings.weight_negative * -sentiment.score, what))
    if trend is not None and trend.negative_streak >= 2 and not signals.rejected_answer:
        weight = settings.weight_negative_streak * (trend.negative_streak - 1)
        parts.append((weight, f"{_count(trend.negative_streak)} negative messages in a row"))
    if unhappy and cues.repeat_contact:
        parts.append((settings.weight_repeat_contact, "not the first time they ask"))
    if unhappy and cues.intense:
        parts.append((settings.weight_intensity, "shouting"))
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
    cues = signals.cues
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
        "cues": [name for name in MessageCues.__slots__ if getattr(cues, name)],
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
