"""Sentiment (VADER vs deskbot's analyzer) on airline support tweets; churn ROC-AUC on Telco.

deskbot's positive threshold was chosen on the even rows of the tweets, so the odd rows are
the honest held-out figure; both halves and the whole file are printed.
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
    splits = {
        "tuning half (even rows)": (texts[0::2], labels[0::2]),
        "held-out half (odd rows)": (texts[1::2], labels[1::2]),
        "all rows": (texts, labels),
    }
    print(f"Sentiment on {path.name}: {len(texts)} tweets to airline support accounts")
    print(f"{'split':<26} {'VADER F1':>9} {'deskbot F1':>11} {'VADER acc':>10} {'deskbot acc':>12}")
    for name, (split_texts, split_labels) in splits.items():
        vader = evaluate_sentiment(split_texts, split_labels, analyzer.vader_only)
        ours = evaluate_sentiment(split_texts, split_labels, analyzer.score)
        print(
            f"{name:<26} {vader.macro_f1:>9.4f} {ours.macro_f1:>11.4f} "
            f"{vader.accuracy:>10.4f} {ours.accuracy:>12.4f}"
        )
    ours = evaluate_sentiment(texts, labels, analyzer.score)
    vader = evaluate_sentiment(texts, labels, analyzer.vader_only)
    print("per-label F1 (all rows):")
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
