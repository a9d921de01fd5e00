"""Score a sentiment model on a labelled CSV (text,label: negative/neutral/positive).

macro-F1 is averaged over the labels that occur in the data: a binary data set is not
charged for "neutral", though a message predicted neutral there still counts as a miss.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from escalation.sentiment import Label, Sentiment

LABELS = [label.value for label in Label]
TEST_SHARE = 5
"""split_by_hash: one row in five (by a hash of its text) is the test part."""


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
            rows = [
                (r["text"], (r["label"] or "").strip().lower())
                for r in reader
                if (r["text"] or "").strip()
            ]
    except UnicodeDecodeError:
        raise SentimentDataError(f"{path}: not UTF-8") from None
    unknown = {label for _, label in rows} - set(LABELS)
    if unknown:
        raise SentimentDataError(f"{path}: labels must be {LABELS}; found {sorted(unknown)}")
    if not rows:
        raise SentimentDataError(f"{path}: no rows")
    return [t for t, _ in rows], [label for _, label in rows]


def split_by_hash(
    texts: Sequence[str], labels: Sequence[str]
) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """The fixed 80/20 split the bench reports: test when sha256(text) % 5 == 0."""
    train: tuple[list[str], list[str]] = ([], [])
    test: tuple[list[str], list[str]] = ([], [])
    for text, label in zip(texts, labels, strict=True):
        digest = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
        part = test if digest % TEST_SHARE == 0 else train
        part[0].append(text)
        part[1].append(label)
    return train, test


def evaluate_sentiment(
    texts: Sequence[str],
    expected: Sequence[str],
    scorer: Callable[[str], Sentiment] | None = None,
    *,
    predicted: Sequence[str] | None = None,
) -> SentimentEvaluation:
    """Score `scorer` on the texts, or already `predicted` labels."""
    if predicted is None:
        if scorer is None:
            raise ValueError("give a scorer or the predicted labels")
        predicted = [scorer(t).label.value for t in texts]
    present = [label for label in LABELS if label in set(expected)]
    per_label = f1_score(expected, predicted, labels=present, average=None, zero_division=0)
    return SentimentEvaluation(
        examples=len(texts),
        accuracy=round(float(accuracy_score(expected, predicted)), 4),
        macro_f1=round(float(f1_score(expected, predicted, labels=present, average="macro")), 4),
        per_label={label: round(float(v), 4) for label, v in zip(present, per_label, strict=True)},
    )
