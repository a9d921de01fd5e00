"""What an NLU engine says about one message."""

from __future__ import annotations

import enum
from dataclasses import dataclass

FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
"""Off-topic for this company: answered with what the bot can help with, not a bot failure."""


class Outcome(enum.StrEnum):
    CONFIDENT = "confident"
    AMBIGUOUS = "ambiguous"
    FALLBACK = "fallback"
    OUT_OF_SCOPE = "out_of_scope"
    """Not something this company's assistant handles (weather, jokes, other companies)."""
    CONFIRM = "confirm"
    """An irreversible intent (delete account, cancel): ask before giving its answer."""


@dataclass(frozen=True, slots=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class NluResult:
    """The top intent after fallback rules, and the engine's raw ranking (best first)."""

    intent: str
    confidence: float
    ranking: tuple[IntentScore, ...]
    outcome: Outcome
    engine: str
    model_version: str

    @property
    def is_fallback(self) -> bool:
        return self.outcome is Outcome.FALLBACK


@dataclass(frozen=True, slots=True)
class FallbackRule:
    """Rasa's FallbackClassifier: too unsure, or two intents too close to call."""

    threshold: float
    ambiguity_threshold: float

    def apply(self, ranking: tuple[IntentScore, ...], engine: str, model_version: str) -> NluResult:
        if not ranking or ranking[0].confidence < self.threshold:
            top = ranking[0].confidence if ranking else 0.0
            return NluResult(FALLBACK_INTENT, top, ranking, Outcome.FALLBACK, engine, model_version)
        top = ranking[0]
        outcome = Outcome.CONFIDENT
        if len(ranking) > 1 and top.confidence - ranking[1].confidence < self.ambiguity_threshold:
            outcome = Outcome.AMBIGUOUS
        return NluResult(top.name, top.confidence, ranking, outcome, engine, model_version)
