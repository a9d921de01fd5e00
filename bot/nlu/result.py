"""What an NLU engine says about one message."""

from __future__ import annotations

import enum
from dataclasses import dataclass

FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
"""Off-topic for this company: answered with what the bot can help with, not a bot failure."""
DECLINED_INTENT = "declined_choice"
"""The customer said no to what the bot asked back ("none of these")."""


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
    unknown: float | None = None
    """The engine's probability that no intent applies, where it has a detector for that."""
    closest: float | None = None
    """Cosine of the message to its nearest training example, where the engine knows it."""

    @property
    def is_fallback(self) -> bool:
        return self.outcome is Outcome.FALLBACK

    @property
    def understood(self) -> bool:
        """An intent the knowledge base answers (possibly after a clarifying question)."""
        return self.outcome in (Outcome.CONFIDENT, Outcome.AMBIGUOUS, Outcome.CONFIRM)


OFF_TOPIC_SIMILARITY = 0.4
"""Off-topic needs a resemblance to some off-topic example: far from everything ("xqzt
vvlk") is not understood, and counts toward handing the chat to a person."""
OFF_TOPIC_CONFIDENCE = 0.5
"""Below this the off-topic class is only the least bad guess: not understood, not off-topic."""
VAGUE_MAX_WORDS = 2
VAGUE_MAX_CJK = 4
VAGUE_BELOW_SIMILARITY = 0.9
"""A message this short that is not (nearly) a known question is too vague to act on."""


@dataclass(frozen=True, slots=True)
class FallbackRule:
    """Rasa's FallbackClassifier and more, on top of any engine's ranking: off-topic, not
    understood (the engine's own "none of these" detector where it has one, else a confidence
    threshold), too vague or two intents too close to call (clarify), or confident."""

    threshold: float
    ambiguity_threshold: float

    def apply(
        self,
        ranking: tuple[IntentScore, ...],
        engine: str,
        model_version: str,
        *,
        text: str = "",
        unknown: float | None = None,
        unknown_threshold: float | None = None,
        closest: float | None = None,
        closest_offtopic: float | None = None,
    ) -> NluResult:
        def result(intent: str, outcome: Outcome) -> NluResult:
            top = ranking[0].confidence if ranking else 0.0
            return NluResult(intent, top, ranking, outcome, engine, model_version, unknown, closest)

        if not ranking:
            return result(FALLBACK_INTENT, Outcome.FALLBACK)
        top = ranking[0]
        if top.name == OUT_OF_SCOPE_INTENT:
            near = closest_offtopic is None or closest_offtopic >= OFF_TOPIC_SIMILARITY
            if top.confidence >= OFF_TOPIC_CONFIDENCE and near:
                return result(OUT_OF_SCOPE_INTENT, Outcome.OUT_OF_SCOPE)
            return result(FALLBACK_INTENT, Outcome.FALLBACK)
        if unknown is not None and unknown_threshold is not None:
            if unknown >= unknown_threshold:
                return result(FALLBACK_INTENT, Outcome.FALLBACK)
        elif top.confidence < self.threshold:
            return result(FALLBACK_INTENT, Outcome.FALLBACK)
        if _vague(text, closest):
            return result(top.name, Outcome.AMBIGUOUS)
        second = ranking[1].confidence if len(ranking) > 1 else 0.0
        if top.confidence - second < self.ambiguity_threshold:
            return result(top.name, Outcome.AMBIGUOUS)
        return result(top.name, Outcome.CONFIDENT)


def _vague(text: str, closest: float | None) -> bool:
    if not text or closest is None or closest >= VAGUE_BELOW_SIMILARITY:
        return False
    cjk = sum(1 for ch in text if "\u3400" <= ch <= "\u9fff")
    if cjk:
        return cjk <= VAGUE_MAX_CJK and len(text.split()) <= 1
    return len([w for w in text.split() if any(c.isalnum() for c in w)]) <= VAGUE_MAX_WORDS
