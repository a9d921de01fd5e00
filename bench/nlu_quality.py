"""The NLU rows of bench/quality.py: BANKING77, banking77_oos, parse latency, demo training
time, each beside a textbook peer trained and scored in the same run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from bot.nlu.evaluate import Evaluation, evaluate_local, read_labelled_csv
from bot.nlu.local import LocalNluModel, TrainingExample
from bot.nlu.result import FallbackRule
from bot.nlu.threads import single_threaded_blas
from bot.settings import Settings
from knowledge.demo import demo_intents

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PEER_THRESHOLD = 0.5
"""The peer says "none of these" below this top probability (a textbook default)."""


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    deskbot: float
    peer_name: str
    peer: float | None
    target: str = ""


def default_rule() -> FallbackRule:
    fields = Settings.model_fields
    return FallbackRule(
        fields["nlu_fallback_threshold"].default, fields["nlu_ambiguity_threshold"].default
    )


def _peer(
    train: list[TrainingExample], test: list[TrainingExample], oos_label: str | None
) -> tuple[float, float, float | None]:
    """(top-intent accuracy in scope, in-scope accuracy with the threshold, oos recall)."""
    fitted = [e for e in train if e.intent != oos_label]
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("lr", LogisticRegression(max_iter=2000))])
    pipeline.fit([e.text for e in fitted], [e.intent for e in fitted])
    probabilities = pipeline.predict_proba([e.text for e in test])
    top = pipeline.classes_[probabilities.argmax(axis=1)]
    sure = probabilities.max(axis=1) >= PEER_THRESHOLD
    in_scope = np.array([e.intent != oos_label for e in test])
    correct = np.array([t == e.intent for t, e in zip(top, test, strict=True)])
    recall = float((~sure)[~in_scope].mean()) if (~in_scope).any() else None
    return float(correct[in_scope].mean()), float((correct & sure)[in_scope].mean()), recall


def _evaluate(name: str, oos_label: str | None) -> tuple[Evaluation, tuple]:
    train = read_labelled_csv(DATA / name / "train.csv")
    test = read_labelled_csv(DATA / name / "test.csv")
    return evaluate_local(train, test, default_rule(), oos_label), _peer(train, test, oos_label)


def demo_training_cpu_seconds() -> float:
    examples = [
        TrainingExample(text, intent.name)
        for intent in demo_intents()
        for texts in intent.examples.values()
        for text in texts
    ]
    started = time.process_time()
    LocalNluModel.train(examples)
    return time.process_time() - started


def nlu_rows() -> list[Row]:
    single_threaded_blas()
    peer = "TF-IDF + LR"
    banking, banking_peer = _evaluate("banking77", None)
    oos, oos_peer = _evaluate("banking77_oos", "oos")
    return [
        Row(
            "BANKING77 accuracy (top intent)",
            banking.top_intent_accuracy,
            peer,
            banking_peer[0],
            "≥ 0.93",
        ),
        Row(
            "BANKING77 accuracy (answered correctly, default settings)",
            banking.accuracy,
            f"{peer}, p ≥ {PEER_THRESHOLD}",
            banking_peer[1],
        ),
        Row(
            "banking77_oos in-scope accuracy",
            oos.in_scope_accuracy,
            f"{peer}, p ≥ {PEER_THRESHOLD}",
            oos_peer[1],
            "≥ 0.85",
        ),
        Row(
            "banking77_oos out-of-scope recall",
            oos.oos_recall or 0.0,
            f"{peer}, p ≥ {PEER_THRESHOLD}",
            oos_peer[2],
            "≥ 0.75",
        ),
        Row(
            "banking77_oos top-intent accuracy (no rejection)",
            oos.top_intent_accuracy,
            peer,
            oos_peer[0],
        ),
        Row("parse p50 ms (CPU, BANKING77 model)", banking.parse_ms_p50, "", None, "≤ 2"),
        Row("parse p99 ms (CPU, BANKING77 model)", banking.parse_ms_p99, "", None),
        Row("BANKING77 training s", banking.train_seconds, "", None),
        Row("demo KB training s (CPU)", round(demo_training_cpu_seconds(), 2), "", None, "≤ 5"),
    ]


def main() -> None:
    for row in nlu_rows():
        peer = f"{row.peer:.4f}" if row.peer is not None else ""
        print(f"{row.figure:<58} {row.deskbot:>8.4f}  {row.peer_name:<22} {peer:>7}  {row.target}")


if __name__ == "__main__":
    main()
