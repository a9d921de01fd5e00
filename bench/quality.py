"""The quality table: every figure beside its peer, measured in the same run.

    .venv/bin/python -m bench.quality [--data ../shared/data] [--only NAME ...] [--json]

Each row is a function returning Row(s); ROWS lists them in print order, so more rows (the
NLU's BANKING77, banking77_oos and parse latency) are one function and one list entry away.

Splits are fixed: train/test = sha256(text, or customerID for churn) % 5 != 0 / == 0
(escalation.evaluate.split_by_hash). "Out of the box" rows score the whole file with the
models that ship with deskbot; nothing in them was chosen on these files.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    figure: float
    peer: str
    peer_figure: float | None
    target: str = ""
    note: str = ""


RowFunction = Callable[[Path], list[Row]]


# --- sentiment -----------------------------------------------------------------------------


def _sentiment_file(data: Path, name: str) -> tuple[list[str], list[str]]:
    from escalation.evaluate import read_sentiment_csv

    paths = {
        "airline": data / "airline_sentiment" / "tweets.csv",
        "waimai": data / "waimai_sentiment" / "reviews.csv",
    }
    return read_sentiment_csv(paths[name])


def sentiment_out_of_the_box(data: Path) -> list[Row]:
    from snownlp import SnowNLP

    from escalation.evaluate import evaluate_sentiment
    from escalation.sentiment import SentimentAnalyzer

    analyzer = SentimentAnalyzer()
    rows = []
    texts, labels = _sentiment_file(data, "airline")
    ours = evaluate_sentiment(texts, labels, analyzer.score)
    vader = evaluate_sentiment(texts, labels, analyzer.vader_only)
    rows.append(
        Row("airline macro-F1, out of the box", ours.macro_f1, "VADER", vader.macro_f1, "≥ 0.65")
    )
    texts, labels = _sentiment_file(data, "waimai")
    ours = evaluate_sentiment(texts, labels, analyzer.score)
    snow = [("positive" if SnowNLP(t).sentiments >= 0.5 else "negative") for t in texts]
    peer = evaluate_sentiment(texts, labels, predicted=snow)
    rows.append(
        Row(
            "waimai macro-F1, out of the box",
            ours.macro_f1,
            "snownlp (0.5)",
            peer.macro_f1,
            "≥ 0.80",
        )
    )
    return rows


def _tfidf_peer(train: tuple[list[str], list[str]], test: list[str], chars: bool) -> list[str]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = (
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        if chars
        else TfidfVectorizer(sublinear_tf=True)
    )
    model = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train[0]), train[1])
    return list(model.predict(vectorizer.transform(test)))


def sentiment_trained(data: Path) -> list[Row]:
    from escalation.evaluate import evaluate_sentiment, split_by_hash
    from escalation.sentiment import SentimentAnalyzer
    from escalation.sentiment_model import train_sentiment

    rows = []
    for name, chars, target in (("airline", False, "≥ 0.80"), ("waimai", True, "≥ 0.88")):
        train, test = split_by_hash(*_sentiment_file(data, name))
        started = time.perf_counter()
        analyzer = SentimentAnalyzer(trained=train_sentiment(*train))
        seconds = time.perf_counter() - started
        ours = [s.label.value for s in analyzer.score_many(test[0])]
        peer = _tfidf_peer(train, test[0], chars)
        rows.append(
            Row(
                f"{name} macro-F1, trained (80/20 split)",
                evaluate_sentiment(test[0], test[1], predicted=ours).macro_f1,
                "char n-gram TF-IDF + LR" if chars else "TF-IDF + LR",
                evaluate_sentiment(test[0], test[1], predicted=peer).macro_f1,
                target,
                f"{len(train[0])} train / {len(test[0])} test; trained in {seconds:.0f}s",
            )
        )
    return rows


# --- churn ---------------------------------------------------------------------------------


def churn(data: Path) -> list[Row]:
    from escalation.churn import evaluate_churn, evaluate_churn_split, read_customers

    rows = read_customers(data / "telco_churn" / "customers.csv")

    def test_part(row: dict[str, str]) -> bool:
        digest = hashlib.sha256(row["customerID"].encode("utf-8")).digest()[:8]
        return int.from_bytes(digest, "big") % 5 == 0

    split = evaluate_churn_split(
        [r for r in rows if not test_part(r)],
        [r for r in rows if test_part(r)],
        "Churn",
        "customerID",
    )
    folds = evaluate_churn(rows, "Churn", "customerID")
    return [
        Row(
            "churn ROC-AUC (80/20 split)",
            split.roc_auc,
            "logistic regression",
            split.baseline_roc_auc,
            "≥ 0.85",
            f"chose {split.model}",
        ),
        Row(
            "churn ROC-AUC (5-fold)",
            folds.roc_auc,
            "logistic regression",
            folds.baseline_roc_auc,
            "≥ 0.85",
            f"chose {folds.model}",
        ),
    ]


# --- scenarios -----------------------------------------------------------------------------


def scenarios(data: Path) -> list[Row]:
    return [asyncio.run(_scenarios())]


async def _scenarios() -> Row:
    from bot.services import build_services, running
    from bot.settings import load_settings
    from tests.conftest import RecordingChannel
    from tests.scenarios import load_scenarios, run_scenario

    logging.disable(logging.INFO)  # the engine's state changes are not the table
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            None,
            data_dir=Path(folder),
            database_url=f"sqlite:///{Path(folder) / 'deskbot.db'}",
            log_json=False,
            demo_logins=False,
        )
        channel = RecordingChannel()
        async with running(build_services(settings, {channel.name: channel})) as services:
            outcomes = [await run_scenario(services, s) for s in load_scenarios()]
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        print(f"  scenario failed: {outcome.describe()} ({outcome.reason})")
    passed = len(outcomes) - len(failed)
    return Row(
        "scenario pass rate",
        round(passed / len(outcomes), 4),
        "",
        None,
        "",
        f"{passed}/{len(outcomes)} conversations (tests/scenarios)",
    )


def nlu(data: Path) -> list[Row]:
    """BANKING77, banking77_oos, parse latency, demo training (bench/nlu_quality.py)."""
    from bench import nlu_quality

    nlu_quality.DATA = data
    return [Row(r.figure, r.deskbot, r.peer_name, r.peer, r.target) for r in nlu_quality.nlu_rows()]


def articles(data: Path) -> list[Row]:
    """StackFAQ retrieval with off-topic questions as unanswerable (bench/articles.py)."""
    from bench import articles as bench_articles

    return [
        Row(name, figure, peer, peer_figure, target)
        for name, figure, peer, peer_figure, target in bench_articles.quality_rows(data)
    ]


ROWS: list[tuple[str, RowFunction]] = [
    ("nlu", nlu),
    ("articles", articles),
    ("sentiment", sentiment_out_of_the_box),
    ("sentiment-trained", sentiment_trained),
    ("churn", churn),
    ("scenarios", scenarios),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--only", nargs="*", choices=[name for name, _ in ROWS])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    table: list[Row] = []
    for name, function in ROWS:
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        table += function(args.data)
        print(f"[{name}: {time.perf_counter() - started:.0f}s]", flush=True)
    if args.json:
        print(json.dumps([asdict(r) for r in table]))
        return
    print(f"\n{'figure':<42} {'deskbot':>8}  {'peer':<26} {'peer fig':>8}  {'target':<7} note")
    for r in table:
        peer = f"{r.peer_figure:.4f}" if r.peer_figure is not None else ""
        print(f"{r.name:<42} {r.figure:>8.4f}  {r.peer:<26} {peer:>8}  {r.target:<7} {r.note}")


if __name__ == "__main__":
    main()
