"""The embedded NLU engine: n-grams and sentence meaning into a linear model whose settings,
temperature and "none of these" detector are chosen on its own training data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from bot.nlu.calibration import (
    Calibration,
    Reference,
    calibrate,
    class_weights,
    softmax,
    unknown_features,
)
from bot.nlu.features import EMBEDDING_WEIGHT, SentenceFeatures
from bot.nlu.result import OUT_OF_SCOPE_INTENT, IntentScore
from bot.nlu.text import normalise

ENGINE_NAME = "local"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
RANKING_SIZE = 10
FORMAT = 5
"""Bumped when what is saved changes: older saved models are retrained, not misread."""


@dataclass(frozen=True, slots=True)
class TrainingExample:
    text: str
    intent: str


@dataclass(frozen=True, slots=True)
class Reading:
    """What the model makes of one sentence, before any answer/clarify/fallback decision."""

    ranking: tuple[IntentScore, ...]
    unknown: float | None
    """Probability that none of the intents applies (None: too few intents to learn it)."""
    unknown_threshold: float | None
    closest: float
    """Cosine of the sentence to its nearest training example (1.0: a known question)."""
    closest_offtopic: float
    """… and to the nearest of the shipped off-topic examples."""


def offtopic_examples() -> list[TrainingExample]:
    """General off-topic questions written for deskbot (bot/nlu/offtopic/*.txt): every model
    learns them as its out-of-scope class, whatever the knowledge base holds."""
    folder = resources.files("bot.nlu") / "offtopic"
    examples = []
    for name in ("en.txt", "zh.txt"):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                examples.append(TrainingExample(line.strip(), OUT_OF_SCOPE_INTENT))
    return examples


def training_fingerprint(examples: Sequence[TrainingExample]) -> str:
    """A version that changes exactly when the training data (or the model format) does."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    for example in sorted(examples, key=lambda e: (e.intent, e.text)):
        digest.update(f"{example.intent}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]


class LocalNluModel:
    """A trained model; immutable once built, so a swap is one reference assignment."""

    def __init__(
        self,
        features: SentenceFeatures,
        classifier: LinearSVC | LogisticRegression,
        calibration: Calibration,
        reference: Reference,
        offtopic: Reference,
        version: str,
    ) -> None:
        self._features = features
        self._classifier = classifier
        self._calibration = calibration
        self._reference = reference
        self._offtopic = offtopic
        self._classes: list[str] = [str(c) for c in classifier.classes_]
        self.version = version
        word, char, _ = features.block_sizes
        weights = np.asarray(classifier.coef_, dtype=np.float64).T
        self._word_weights = np.ascontiguousarray(weights[:word])
        self._char_weights = np.ascontiguousarray(weights[word : word + char])
        self._meaning_weights = np.ascontiguousarray(weights[word + char :] * EMBEDDING_WEIGHT)
        self._intercept = np.asarray(classifier.intercept_, dtype=np.float64)

    def _decision(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The classifier's decision_function, block by block (a test compares the two)."""
        word, char, vectors = self._features.blocks(texts)
        decision = word @ self._word_weights + char @ self._char_weights
        decision += vectors @ self._meaning_weights + self._intercept
        if decision.shape[1] == 1:  # two classes: one column, as sklearn gives it
            decision = np.column_stack([-decision[:, 0], decision[:, 0]])
        return decision, vectors

    @property
    def intents(self) -> list[str]:
        return list(self._classes)

    @property
    def calibration(self) -> Calibration:
        return self._calibration

    @classmethod
    def train(cls, examples: Sequence[TrainingExample], offtopic: bool = True) -> LocalNluModel:
        """`offtopic`: add deskbot's general off-topic questions as the out-of-scope class."""
        if len({e.intent for e in examples}) < 2:
            raise ValueError("training needs at least two intents with examples")
        version = training_fingerprint(examples)
        # In a fixed order: the solver's result depends on it, and the same knowledge base
        # must give the same model whichever order the database returns it in.
        everything = sorted(
            [*examples, *(offtopic_examples() if offtopic else [])],
            key=lambda e: (e.intent, e.text),
        )
        texts = [normalise(e.text) for e in everything]
        labels = np.array([e.intent for e in everything])
        features = SentenceFeatures().fit(texts)
        matrix, vectors = features.transform(texts)
        calibration = calibrate(matrix, vectors, labels, never_unknown=[OUT_OF_SCOPE_INTENT])
        weights = class_weights(labels, OUT_OF_SCOPE_INTENT) or None
        classifier = LinearSVC(C=calibration.c, class_weight=weights, random_state=0).fit(
            matrix, labels
        )
        in_scope = labels != OUT_OF_SCOPE_INTENT
        reference = Reference.of(vectors[in_scope], labels[in_scope])
        offtopic_reference = Reference.of(vectors[~in_scope], labels[~in_scope])
        return cls(features, classifier, calibration, reference, offtopic_reference, version)

    def rank(self, text: str) -> tuple[IntentScore, ...]:
        return self.read_many([text])[0].ranking

    def rank_many(self, texts: Sequence[str]) -> list[tuple[IntentScore, ...]]:
        return [reading.ranking for reading in self.read_many(texts)]

    def read_many(self, texts: Sequence[str]) -> list[Reading]:
        decision, vectors = self._decision([normalise(t) for t in texts])
        probabilities = softmax(decision.copy(), self._calibration.temperature)
        predicted = [self._classes[i] for i in probabilities.argmax(axis=1)]
        closest, closest_top = self._reference.similarities(vectors, predicted)
        closest_offtopic, _ = self._offtopic.similarities(vectors, predicted)
        detector = self._calibration.detector
        unknown = (
            detector.probability(unknown_features(decision, probabilities, closest, closest_top))
            if detector is not None
            else None
        )
        readings = []
        for row, p in enumerate(probabilities):
            order = np.argsort(p)[::-1][:RANKING_SIZE]
            ranking = tuple(IntentScore(self._classes[i], round(float(p[i]), 4)) for i in order)
            readings.append(
                Reading(
                    ranking,
                    round(float(unknown[row]), 4) if unknown is not None else None,
                    detector.threshold if detector is not None else None,
                    round(float(closest[row]), 4),
                    round(float(closest_offtopic[row]), 4),
                )
            )
        return readings

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(
            (
                self._features,
                self._classifier,
                self._calibration,
                self._reference,
                self._offtopic,
            ),
            directory / MODEL_FILE,
        )
        (directory / META_FILE).write_text(
            json.dumps(
                {
                    "engine": ENGINE_NAME,
                    "format": FORMAT,
                    "version": self.version,
                    "intents": self._classes,
                    "c": self._calibration.c,
                    "temperature": self._calibration.temperature,
                    "cv_in_scope_accuracy": self._calibration.cv_in_scope_accuracy,
                    "cv_oos_recall": self._calibration.cv_oos_recall,
                }
            )
        )

    @classmethod
    def load(cls, directory: Path) -> LocalNluModel:
        meta = json.loads((directory / META_FILE).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"model format {meta.get('format')} is not {FORMAT}")
        parts = joblib.load(directory / MODEL_FILE)
        return cls(*parts, meta["version"])
