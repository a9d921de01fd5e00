"""Score the sentiment analyzer on a labelled CSV (text,label: negative/neutral/positive)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from escalation.sentiment import Label, Sentiment

LABELS = [label.value for label in Label]


class SentimentDataError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SentimentEvaluation:
    examples: int
    accuracy: float
    macro_f1: float
    per_label: dict[str, float]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def read_sentiment_csv(path: Path) -> tuple[list[str], list[str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise SentimentDataError(f"{path}: needs the columns text,label")
            rows = [(r["text"], r["label"].strip().lower()) for r in reader if r["text"].strip()]
    except UnicodeDecodeError:
        raise SentimentDataError(f"{path}: not UTF-8") from None
    unknown = {label for _, label in rows} - set(LABELS)
    if unknown:
        raise SentimentDataError(f"{path}: labels must be {LABELS}; found {sorted(unknown)}")
    if not rows:
        raise SentimentDataError(f"{path}: no rows")
    return [t for t, _ in rows], [label for _, label in rows]


def evaluate_sentiment(
    texts: list[str], expected: list[str], scorer: Callable[[str], Sentiment]
) -> SentimentEvaluation:
    predicted = [scorer(t).label.value for t in texts]
    per_label = f1_score(expected, predicted, labels=LABELS, average=None, zero_division=0)
    return SentimentEvaluation(
        examples=len(texts),
        accuracy=round(float(accuracy_score(expected, predicted)), 4),
        macro_f1=round(float(f1_score(expected, predicted, labels=LABELS, average="macro")), 4),
        per_label={label: round(float(v), 4) for label, v in zip(LABELS, per_label, strict=True)},
    )
