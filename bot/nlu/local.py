"""The embedded NLU engine: TF-IDF word and character n-grams with a calibrated linear model."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from bot.nlu.result import IntentScore
from bot.nlu.text import TOKEN_PATTERN, normalise

ENGINE_NAME = "local"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
RANKING_SIZE = 10


@dataclass(frozen=True, slots=True)
class TrainingExample:
    text: str
    intent: str


def training_fingerprint(examples: Sequence[TrainingExample]) -> str:
    """A version that changes exactly when the training data does."""
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: (e.intent, e.text)):
        digest.update(f"{example.intent}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]


def _features() -> FeatureUnion:
    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), sublinear_tf=True),
            ),
            (
                "char",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            ),
        ]
    )


def _classifier(counts: Counter[str]) -> CalibratedClassifierCV | LogisticRegression:
    """A linear SVM with temperature scaling fitted on held-out folds.

    Temperature scaling keeps one model (one matrix product per parse) where per-class
    sigmoid calibration costs a Python loop over the intents on every parse.
    """
    folds = min(3, min(counts.values()))
    if folds >= 2:
        return CalibratedClassifierCV(
            LinearSVC(C=0.5), method="temperature", cv=folds, ensemble=False
        )
    return LogisticRegression(C=20.0, max_iter=2000)


class LocalNluModel:
    """A trained model; immutable once built, so a swap is one reference assignment."""

    def __init__(self, pipeline: Pipeline, version: str) -> None:
        self._pipeline = pipeline
        self._classes: list[str] = [str(c) for c in pipeline.classes_]
        self.version = version

    def _probabilities(self, texts: list[str]) -> np.ndarray:
        """The pipeline's predict_proba, without its per-call overhead for the usual model.

        On one sentence sklearn's FeatureUnion and calibration wrappers cost about three times
        the arithmetic (job dispatch, input validation); the same steps called directly give
        the same numbers (a test compares them)."""
        features = self._pipeline.named_steps["features"]
        classifier = self._pipeline.named_steps["classifier"]
        if not (
            isinstance(classifier, CalibratedClassifierCV)
            and classifier.method == "temperature"
            and len(classifier.calibrated_classifiers_) == 1
            and features.transformer_weights is None
            and len(self._classes) > 2
        ):
            return self._pipeline.predict_proba(texts)
        matrix = sparse.hstack(
            [vectorizer.transform(texts) for _, vectorizer in features.transformer_list],
            format="csr",
        )
        calibrated = classifier.calibrated_classifiers_[0]
        decision = calibrated.estimator.decision_function(matrix)
        probabilities = calibrated.calibrators[0].predict(decision)
        probabilities[(probabilities > 1.0) & (probabilities <= 1.0 + 1e-5)] = 1.0
        return probabilities

    @property
    def intents(self) -> list[str]:
        return list(self._classes)

    @classmethod
    def train(cls, examples: Sequence[TrainingExample]) -> LocalNluModel:
        counts = Counter(e.intent for e in examples)
        if len(counts) < 2:
            raise ValueError("training needs at least two intents with examples")
        pipeline = Pipeline([("features", _features()), ("classifier", _classifier(counts))])
        pipeline.fit([normalise(e.text) for e in examples], [e.intent for e in examples])
        return cls(pipeline, training_fingerprint(examples))

    def rank(self, text: str) -> tuple[IntentScore, ...]:
        return self.rank_many([text])[0]

    def rank_many(self, texts: Sequence[str]) -> list[tuple[IntentScore, ...]]:
        probabilities = self._probabilities([normalise(t) for t in texts])
        rankings = []
        for row in probabilities:
            order = np.argsort(row)[::-1][:RANKING_SIZE]
            rankings.append(
                tuple(IntentScore(self._classes[i], round(float(row[i]), 4)) for i in order)
            )
        return rankings

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self._pipeline, directory / MODEL_FILE)
        (directory / META_FILE).write_text(
            json.dumps({"engine": ENGINE_NAME, "version": self.version, "intents": self._classes})
        )

    @classmethod
    def load(cls, directory: Path) -> LocalNluModel:
        meta = json.loads((directory / META_FILE).read_text())
        return cls(joblib.load(directory / MODEL_FILE), meta["version"])
