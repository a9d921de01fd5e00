"""Sentiment of a customer's message, English and Chinese: the company's own trained model
when there is one for the message's language, else the model that ships with deskbot.

A message's score is P(positive) − P(negative), −1 (furious) … +1 (delighted); its label is
the most probable class. `deskbot sentiment train` writes a new model into the data
directory, and every process picks it up within a second, without a restart.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.nlu.text import detect_language
from escalation.message_cues import is_sarcastic
from escalation.sentiment_features import ENGLISH_CUES, EnglishHandFeatures, apply_cues, clean
from escalation.sentiment_model import (
    MODEL_FILE,
    LanguageModel,
    TrainedSentiment,
    load_shipped,
)

NEGATIVE_SCORE = -0.2
"""At or below this score a message counts toward a negative streak."""
VADER_THRESHOLD = 0.05  # VADER's documented neutral band
RELOAD_CHECK_S = 1.0
SARCASM_SCORE = -0.6
"""A sarcastic message ("great, it crashed again, love it") scores at most this."""


class Label(enum.StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True, slots=True)
class Sentiment:
    score: float
    """-1 (furious) … +1 (delighted)."""
    label: Label
    cues: tuple[str, ...] = ()
    model: str = "shipped"
    """"shipped" or "trained": which model scored it."""


def _from_proba(classes: tuple[str, ...], proba: np.ndarray) -> tuple[float, Label]:
    p = dict(zip(classes, proba.tolist(), strict=True))
    score = p.get("positive", 0.0) - p.get("negative", 0.0)
    return round(score, 4), Label(classes[int(np.argmax(proba))])


class SentimentAnalyzer:
    """Thread-safe; one per process. `directory` holds the company's trained model, if any."""

    def __init__(
        self, directory: Path | None = None, trained: TrainedSentiment | None = None
    ) -> None:
        """`trained`: a model in hand (evaluations), instead of one read from `directory`."""
        self.directory = directory
        self._shipped: dict[str, LanguageModel] = load_shipped()
        self._trained = trained
        self._stamp: float | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._hand = EnglishHandFeatures()
        self.reload()

    @property
    def trained_languages(self) -> tuple[str, ...]:
        return tuple(self._trained.models) if self._trained else ()

    def reload(self) -> None:
        """Pick up a model `deskbot sentiment train` wrote, also while the server runs."""
        if self.directory is None:
            return
        path = self.directory / MODEL_FILE
        try:
            stamp: float | None = path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        with self._lock:
            self._checked = time.monotonic()
            if stamp == self._stamp:
                return
            self._trained = TrainedSentiment.load(self.directory) if stamp else None
            self._stamp = stamp

    def _model_for(self, language: str) -> tuple[LanguageModel, str]:
        if time.monotonic() - self._checked >= RELOAD_CHECK_S:
            self.reload()
        trained = self._trained
        if trained is not None and language in trained.models:
            return trained.models[language], "trained"
        return self._shipped[language], "shipped"

    def score(self, text: str) -> Sentiment:
        return self.score_many([text])[0]

    def score_many(self, texts: Sequence[str]) -> list[Sentiment]:
        results: list[Sentiment | None] = [None] * len(texts)
        by_language: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            by_language.setdefault(detect_language(text), []).append(i)
        for language, indexes in by_language.items():
            model, kind = self._model_for(language)
            proba = model.proba([texts[i] for i in indexes])
            for row, i in enumerate(indexes):
                score, label = _from_proba(model.classes, proba[row])
                cues = apply_cues(ENGLISH_CUES, texts[i])[1] if language == "en" else ()
                if is_sarcastic(texts[i]):  # praise words around a complaint
                    score, label, cues = (
                        min(score, SARCASM_SCORE),
                        Label.NEGATIVE,
                        (*cues, "sarcasm"),
                    )
                results[i] = Sentiment(score, label, cues, kind)
        return [r for r in results if r is not None]

    def vader_only(self, text: str) -> Sentiment:
        """Plain VADER with its documented ±0.05 band: the peer the bench compares with."""
        compound = self._hand.vader(clean(text))
        if compound <= -VADER_THRESHOLD:
            label = Label.NEGATIVE
        elif compound >= VADER_THRESHOLD:
            label = Label.POSITIVE
        else:
            label = Label.NEUTRAL
        return Sentiment(compound, label, (), "vader")


@dataclass(frozen=True, slots=True)
class Trend:
    """How the customer's mood is going in this conversation."""

    latest: float
    average: float
    negative_streak: int
    """Negative customer messages in a row, newest last."""


def trend(scores: Sequence[float], window: int = 5) -> Trend:
    if not scores:
        return Trend(0.0, 0.0, 0)
    recent = list(scores)[-window:]
    streak = 0
    for score in reversed(scores):
        if score > NEGATIVE_SCORE:
            break
        streak += 1
    return Trend(scores[-1], round(sum(recent) / len(recent), 4), streak)
