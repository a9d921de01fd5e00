"""The first escalation rule set: the customer asked for a person, or the bot failed twice."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.nlu.result import NluResult, Outcome

HANDOFF_INTENT = "human_handoff"
OUT_OF_SCOPE_INTENT = "out_of_scope"


class Action(enum.StrEnum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    FALLBACK = "fallback"
    ESCALATE = "escalate"


@dataclass(frozen=True, slots=True)
class Signals:
    nlu: NluResult
    fallback_streak: int
    """Misunderstood messages in a row before this one."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    fallback_streak: int
    reason: str | None = None
    priority: int = 0
    team: str | None = None


@dataclass(frozen=True, slots=True)
class RuleSettings:
    fallback_streak_to_escalate: int = 2


def _misunderstood(nlu: NluResult) -> bool:
    return nlu.outcome is Outcome.FALLBACK or nlu.intent == OUT_OF_SCOPE_INTENT


def decide(signals: Signals, settings: RuleSettings) -> Decision:
    nlu = signals.nlu
    if nlu.intent == HANDOFF_INTENT and nlu.outcome is Outcome.CONFIDENT:
        return Decision(
            Action.ESCALATE, 0, reason="customer asked for a person", priority=50, team="support"
        )
    if _misunderstood(nlu):
        streak = signals.fallback_streak + 1
        if streak >= settings.fallback_streak_to_escalate:
            return Decision(
                Action.ESCALATE,
                streak,
                reason=f"bot did not understand {streak} messages in a row",
                priority=30,
                team="support",
            )
        return Decision(Action.FALLBACK if nlu.is_fallback else Action.ANSWER, streak)
    if nlu.outcome is Outcome.AMBIGUOUS:
        return Decision(Action.CLARIFY, signals.fallback_streak)
    return Decision(Action.ANSWER, 0)
