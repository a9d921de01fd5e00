"""Local NLU on BANKING77 next to a plain scikit-learn peer, trained and scored in one run."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline

from bot.nlu.evaluate import evaluate_local, read_labelled_csv
from bot.nlu.result import FallbackRule
from bot.nlu.threads import single_threaded_blas
from bot.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"


def peer(train_path: Path, test_path: Path) -> dict[str, float]:
    """The textbook baseline: word TF-IDF and logistic regression, no fallback."""
    train, test = read_labelled_csv(train_path), read_labelled_csv(test_path)
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("lr", LogisticRegression(max_iter=2000))])
    started = time.perf_counter()
    pipeline.fit([e.text for e in train], [e.intent for e in train])
    seconds = time.perf_counter() - started
    predicted = pipeline.predict([e.text for e in test])
    expected = [e.intent for e in test]
    return {
        "accuracy": round(float(accuracy_score(expected, predicted)), 4),
        "macro_f1": round(float(f1_score(expected, predicted, average="macro")), 4),
        "train_seconds": round(seconds, 3),
    }


def rasa_row(train, test, rule: FallbackRule, epochs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Rasa's DIET in the same run; the trained model is kept in the cache and reused."""
    import asyncio
    import socket

    from bot.nlu.evaluate import evaluate_rasa
    from bot.nlu.rasa_env import RasaEnvironment, default_home

    work = default_home().parent / "bench" / f"banking77-e{epochs}"
    work.mkdir(parents=True, exist_ok=True)
    model = work / "models" / f"eval-e{epochs}.tar.gz"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = asyncio.run(
        evaluate_rasa(
            train,
            test,
            rule,
            RasaEnvironment(default_home()),
            work,
            port,
            epochs,
            model=model if model.is_file() else None,
        )
    ).to_json()
    print(f"(rasa model: {model}; reused when present, with its recorded training time)")
    return result  # type: ignore[return-value]


def main() -> None:
    single_threaded_blas()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--rasa-epochs",
        type=int,
        default=0,
        help="Also run Rasa DIET with this many epochs (100 is Rasa's default).",
    )
    args = parser.parse_args()
    train_path, test_path = args.data / "train.csv", args.data / "test.csv"
    defaults = Settings.model_fields
    with_fallback = FallbackRule(
        defaults["nlu_fallback_threshold"].default, defaults["nlu_ambiguity_threshold"].default
    )
    no_fallback = FallbackRule(0.0, 0.0)
    train, test = read_labelled_csv(train_path), read_labelled_csv(test_path)
    local = evaluate_local(train, test, with_fallback).to_json()
    rows = {
        "deskbot local (top intent)": {**local, "accuracy": local["top_intent_accuracy"]},
        "deskbot local (answers, default rule)": local,
        "peer: tf-idf + logistic regression": peer(train_path, test_path),
    }
    if args.rasa_epochs:
        rows[f"rasa DIET, {args.rasa_epochs} epochs (no fallback)"] = rasa_row(
            train, test, no_fallback, args.rasa_epochs
        )
    print(f"BANKING77: {len(train)} train / {len(test)} test rows, 77 intents")
    print(
        f"{'engine':<36} {'accuracy':>9} {'macro-F1':>9} {'train s':>8} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for name, row in rows.items():
        print(
            f"{name:<36} {row['accuracy']:>9.4f} {row['macro_f1']:>9.4f} "
            f"{row['train_seconds']:>8.2f} {row.get('parse_ms_p50', float('nan')):>7.2f} "
            f"{row.get('parse_ms_p99', float('nan')):>7.2f}"
        )


if __name__ == "__main__":
    main()
