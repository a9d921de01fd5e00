"""Sentiment (VADER vs deskbot's shipped model) on airline support tweets, per label, and
its cost per message; churn ROC-AUC on Telco. bench/quality.py has the whole table.

Nothing in the shipped model was chosen on the tweets (see escalation/sentiment_build.py).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from escalation.churn import evaluate_churn, read_customers
from escalation.evaluate import evaluate_sentiment, read_sentiment_csv
from escalation.sentiment import SentimentAnalyzer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def sentiment_table(path: Path) -> None:
    texts, labels = read_sentiment_csv(path)
    analyzer = SentimentAnalyzer()
    print(f"Sentiment on {path.name}: {len(texts)} tweets to airline support accounts")
    ours = evaluate_sentiment(texts, labels, analyzer.score)
    vader = evaluate_sentiment(texts, labels, analyzer.vader_only)
    print(f"macro-F1: VADER {vader.macro_f1:.4f}, deskbot {ours.macro_f1:.4f}")
    print("per-label F1:")
    for label in ours.per_label:
        print(
            f"  {label:<9} VADER {vader.per_label[label]:.4f}  deskbot {ours.per_label[label]:.4f}"
        )
    started = time.perf_counter()
    for text in texts[:2000]:
        analyzer.score(text)
    print(f"deskbot analyzer: {(time.perf_counter() - started) / 2000 * 1000:.3f} ms per message")


def churn_table(path: Path) -> None:
    rows = read_customers(path)
    started = time.perf_counter()
    result = evaluate_churn(rows, "Churn", "customerID")
    seconds = time.perf_counter() - started
    print(f"\nChurn on {path.name}: {result.customers} customers, churn rate {result.churn_rate}")
    print(
        f"  stratified 5-fold held-out ROC-AUC {result.roc_auc:.4f}; at threshold "
        f"{result.threshold:.2f}: precision {result.precision:.4f}, recall {result.recall:.4f} "
        f"({seconds:.1f}s for 5 folds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    sentiment_table(args.data / "airline_sentiment" / "tweets.csv")
    churn_table(args.data / "telco_churn" / "customers.csv")


if __name__ == "__main__":
    main()
