"""Article answers on StackFAQ, with off-topic questions as unanswerable, beside a plain
TF-IDF-cosine peer in the same run; and query latency on a synthetic 10,000-passage index.

Tuning and reporting never share a query: a StackFAQ query belongs to the tuning half or the
reported half by a hash of its text. `--tune` chooses the fusion weights and fits the
answer/abstain model on the tuning half plus BANKING77 *training* questions (off-topic for
these articles), and prints the constants that knowledge/articles/confidence.py and
knowledge/articles/index.py ship. The default run reports on the other half, with the `oos`
rows of BANKING77-OOS's test split as the unanswerable questions.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
import zlib
from itertools import product
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.nlu.embeddings import shared
from knowledge.articles import confidence
from knowledge.articles.evaluate import evaluate, library_articles
from knowledge.articles.index import Weights
from knowledge.articles.library import build_library
from knowledge.articles.sources import ArticleDraft, read_csv

ROOT = Path(__file__).resolve().parents[1]
DATA = next(
    (p / "shared" / "data" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
    ROOT.parent / "shared" / "data",
)  # ../shared beside the checkout, or beside a worktree folder
STACKFAQ = DATA / "stackfaq"


def halves() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rows = list(csv.DictReader((STACKFAQ / "queries.csv").open(encoding="utf-8")))
    tune, report = [], []
    for row in rows:
        pair = (row["text"], row["article_id"].lower())
        (tune if zlib.crc32(row["text"].encode()) % 2 == 0 else report).append(pair)
    return tune, report


def articles() -> list[ArticleDraft]:
    return read_csv((STACKFAQ / "articles.csv").read_text(encoding="utf-8"), "articles.csv")


def off_topic_training(n: int = 600) -> list[str]:
    rows = list(csv.DictReader((DATA / "banking77" / "train.csv").open(encoding="utf-8")))
    return [r["text"] for r in random.Random(7).sample(rows, n)]


def off_topic_test() -> list[str]:
    rows = csv.DictReader((DATA / "banking77_oos" / "test.csv").open(encoding="utf-8"))
    return [r["text"] for r in rows if r["intent"] == "oos"]


def tfidf_peer(
    drafts: list[ArticleDraft],
    queries: list[tuple[str, str]],
    unanswerable: list[str],
    threshold: float | None,
) -> dict[str, float]:
    """Plain TF-IDF cosine over title + body, one vector per article; abstains below a
    cosine threshold chosen on the tuning half the same way as deskbot's."""
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    matrix = vectorizer.fit_transform([f"{d.title}\n{d.body}" for d in drafts])
    slugs = [d.slug for d in drafts]
    started = time.perf_counter()
    scores = (vectorizer.transform([q for q, _ in queries]) @ matrix.T).toarray()
    off = (vectorizer.transform(unanswerable) @ matrix.T).toarray() if unanswerable else None
    per_query_ms = (time.perf_counter() - started) * 1000 / (len(queries) + len(unanswerable))
    top1 = mrr = 0.0
    best = scores.max(axis=1)
    for row, (_, slug) in zip(scores, queries, strict=True):
        ranked = [slugs[i] for i in np.argsort(-row)]
        top1 += ranked[0] == slug
        mrr += 1 / (ranked.index(slug) + 1)
    n = len(queries)
    result = {"p_at_1": round(top1 / n, 4), "mrr": round(mrr / n, 4)}
    if threshold is not None and off is not None:
        right = np.array(
            [slugs[int(np.argmax(r))] == s for r, (_, s) in zip(scores, queries, strict=True)]
        )
        answered = best >= threshold
        result["answered_share"] = round(float(answered.mean()), 4)
        result["answered_precision"] = (
            round(float(right[answered].mean()), 4) if answered.any() else 0.0
        )
        result["abstain_rate"] = round(float((off.max(axis=1) < threshold).mean()), 4)
    result["query_ms_mean"] = round(per_query_ms, 3)
    return result


def balanced_threshold(positive: np.ndarray, negative: np.ndarray) -> float:
    """The cut that maximises (share of right answers given + share of off-topic declined)."""
    best, best_value = 0.5, -1.0
    for cut in np.unique(np.concatenate([positive, negative])):
        value = (positive >= cut).mean() + (negative < cut).mean()
        if value > best_value:
            best, best_value = float(cut), value
    return best


def tune() -> None:
    drafts = articles()
    tune_queries, _ = halves()
    embedder = shared()
    lib_articles = library_articles(drafts)
    grid = [
        Weights(lex, title, round(1 - lex - title, 2))
        for lex, title in product((0.0, 0.1, 0.2, 0.3, 0.4), (0.0, 0.2, 0.3, 0.4, 0.5, 0.6))
        if lex + title <= 1.0
    ]
    scored = []
    for weights in grid:
        report = evaluate(drafts, tune_queries, [], embedder, weights, index_repeats=1)
        scored.append((report.p_at_1, report.mrr, weights))
        print(f"{weights}: p_at_1 {report.p_at_1} mrr {report.mrr}")
    p1, mrr, weights = max(scored, key=lambda s: (s[0], s[1]))
    print(f"chosen {weights} (tuning half: p_at_1 {p1}, mrr {mrr})")
    library = build_library(lib_articles, embedder, weights)
    slug_of = {a.article_id: a.slug for a in lib_articles}
    x: list[tuple[float, ...]] = []
    y: list[int] = []
    for text, slug in tune_queries:
        hits = library.lookup(text, "en").hits
        x.append(confidence.features(hits))
        y.append(int(bool(hits) and slug_of[hits[0].passage.article_id] == slug))
    for text in off_topic_training():
        x.append(confidence.features(library.lookup(text, "en").hits))
        y.append(0)
    model = LogisticRegression(C=10.0, max_iter=5000).fit(np.array(x), np.array(y))
    probabilities = model.predict_proba(np.array(x))[:, 1]
    n = len(tune_queries)
    cut = balanced_threshold(probabilities[:n], probabilities[n:])
    print(f"COEFFICIENTS = {tuple(round(float(c), 4) for c in model.coef_[0])}")
    print(f"INTERCEPT = {round(float(model.intercept_[0]), 4)}")
    print(f"THRESHOLD = {round(cut, 4)}")
    peer_cos = []
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    matrix = vectorizer.fit_transform([f"{d.title}\n{d.body}" for d in drafts])
    for texts in ([q for q, _ in tune_queries], off_topic_training()):
        peer_cos.append((vectorizer.transform(texts) @ matrix.T).toarray().max(axis=1))
    print(f"TF-IDF peer threshold = {round(balanced_threshold(*peer_cos), 4)}")


PEER_THRESHOLD = 0.1714
"""The TF-IDF peer's cosine cut, chosen by --tune the way deskbot's threshold is."""


def synthetic_drafts(n_passages: int, seed: int = 3) -> list[ArticleDraft]:
    """Articles of ten passages each whose words are drawn from StackFAQ's own vocabulary."""
    words = " ".join(f"{d.title} {d.body}" for d in articles()).split()
    rng = random.Random(seed)
    drafts = []
    for a in range(n_passages // 10):
        body = "\n\n".join(" ".join(rng.choices(words, k=60)) for _ in range(10))
        drafts.append(ArticleDraft(f"s{a}", " ".join(rng.choices(words, k=6)), body, None, "en"))
    return drafts


def quality_rows(
    data: Path | None = None, passages: int = 10_000
) -> list[tuple[str, float, str, float | None, str]]:
    """The rows bench/quality.py prints: (figure, deskbot, peer, peer figure, target)."""
    del data  # the StackFAQ and BANKING77-OOS paths are this module's own
    drafts = articles()
    _, report_queries = halves()
    unanswerable = off_topic_test()
    embedder = shared()
    ours = evaluate(drafts, report_queries, unanswerable, embedder).to_json()
    peer = tfidf_peer(drafts, report_queries, unanswerable, PEER_THRESHOLD)
    sample = [q for q, _ in report_queries[:200]]
    big = evaluate(synthetic_drafts(passages), [], sample, embedder, index_repeats=1).to_json()
    targets = {
        "p_at_1": "≥ 0.85",
        "mrr": "≥ 0.90",
        "answered_share": "≥ 0.80",
        "abstain_rate": "≥ 0.85",
    }
    rows = [
        (f"StackFAQ {key}", float(ours[key]), "TF-IDF cosine", peer.get(key), targets.get(key, ""))
        for key in ("p_at_1", "mrr", "answered_share", "answered_precision", "abstain_rate")
    ]
    rows.append(
        (
            f"article query p50 ms, {big['passages']} passages",
            float(big["query_ms_p50"]),
            "",
            None,
            "≤ 5",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tune", action="store_true", help="choose weights and threshold")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--passages", type=int, default=10_000, help="synthetic latency index")
    args = parser.parse_args()
    if args.tune:
        tune()
        return
    drafts = articles()
    _, report_queries = halves()
    unanswerable = off_topic_test()
    embedder = shared()
    ours = evaluate(drafts, report_queries, unanswerable, embedder).to_json()
    peer = tfidf_peer(drafts, report_queries, unanswerable, PEER_THRESHOLD)
    synthetic = synthetic_drafts(args.passages)
    sample = [q for q, _ in report_queries[:200]]
    big = evaluate(synthetic, [], sample, embedder, index_repeats=1).to_json()
    result = {"deskbot": ours, "tfidf_cosine": peer, f"synthetic_{args.passages}": big}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"StackFAQ reported half: {len(report_queries)} queries, "
        f"{len(unanswerable)} off-topic (BANKING77-OOS test oos)"
    )
    print(f"{'metric':<20}{'deskbot':>12}{'TF-IDF cosine':>16}")
    for key in ("p_at_1", "mrr", "answered_share", "answered_precision", "abstain_rate"):
        print(f"{key:<20}{ours[key]:>12}{peer.get(key, '-'):>16}")
    print(f"{'query_ms_p50':<20}{ours['query_ms_p50']:>12}{peer['query_ms_mean']:>16} (mean)")
    print(f"{'query_ms_p99':<20}{ours['query_ms_p99']:>12}")
    print(f"{'index_ms_p50':<20}{ours['index_ms_p50']:>12}   ({ours['passages']} passages)")
    print(
        f"synthetic index of {big['passages']} passages: build {big['index_ms_p50']} ms, "
        f"query p50 {big['query_ms_p50']} ms, p99 {big['query_ms_p99']} ms"
    )


if __name__ == "__main__":
    main()
