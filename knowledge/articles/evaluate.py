"""`deskbot articles evaluate`: retrieval and answer/abstain quality on labelled queries,
through the same library, index and threshold the bot uses."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bot.nlu.embeddings import SentenceEmbedder
from bot.nlu.text import detect_language
from knowledge.articles.index import Weights
from knowledge.articles.library import ArticleLibrary, LibraryArticle, Lookup, build_library
from knowledge.articles.passages import split
from knowledge.articles.sources import ArticleDraft, slugify
from knowledge.errors import ImportFormatError


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    p_at_1: float
    """The top passage is from the right article, over all answerable queries."""
    mrr: float
    answered_share: float
    """Answerable queries the bot chose to answer."""
    answered_precision: float
    """Of those, the share answered from the right article."""
    abstain_rate: float
    """Unanswerable queries the bot declined (None-like 0.0 when none were given)."""
    index_ms_p50: float
    index_ms_p99: float
    query_ms_p50: float
    query_ms_p99: float
    articles: int
    passages: int
    queries: int
    unanswerable: int

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


def library_articles(drafts: Sequence[ArticleDraft]) -> list[LibraryArticle]:
    """Drafts as the library holds them, numbered in order (no database needed)."""
    articles: list[LibraryArticle] = []
    next_passage = 1
    for number, d in enumerate(drafts, start=1):
        passages = []
        for p in split(d.body):
            passages.append((next_passage, p.heading, p.text))
            next_passage += 1
        articles.append(LibraryArticle(number, d.slug, d.language, d.title, d.url, passages))
    return articles


def read_queries(path: Path) -> list[tuple[str, str]]:
    rows = _rows(path, {"text", "article_id"})
    return [(r["text"], slugify(r["article_id"])) for r in rows if r["text"].strip()]


def read_unanswerable(path: Path) -> list[str]:
    return [r["text"] for r in _rows(path, {"text"}) if r["text"].strip()]


def _rows(path: Path, needed: set[str]) -> list[dict[str, str]]:
    try:
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    except OSError as exc:
        raise ImportFormatError(f"{path}: {exc.strerror}") from None
    missing = needed - set(reader.fieldnames or [])
    if missing:
        raise ImportFormatError(
            f"{path}: needs columns {sorted(needed)}; missing {sorted(missing)}"
        )
    return list(reader)


def _percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else 0.0


def timed_lookup(library: ArticleLibrary, text: str) -> tuple[Lookup, float]:
    start = time.perf_counter()
    lookup = library.lookup(text, detect_language(text))
    return lookup, (time.perf_counter() - start) * 1000


def evaluate(
    drafts: Sequence[ArticleDraft],
    queries: Sequence[tuple[str, str]],
    unanswerable: Sequence[str],
    embedder: SentenceEmbedder,
    weights: Weights | None = None,
    threshold: float | None = None,
    index_repeats: int = 3,
) -> EvaluationReport:
    articles = library_articles(drafts)
    known = {a.slug for a in articles}
    unknown = sorted({slug for _, slug in queries} - known)
    if unknown:
        raise ImportFormatError(f"queries name articles that are not there: {unknown[:5]}")
    index_ms: list[float] = []
    library = ArticleLibrary()
    for _ in range(max(1, index_repeats)):
        start = time.perf_counter()
        library = (
            build_library(articles, embedder, weights)
            if threshold is None
            else build_library(articles, embedder, weights, threshold)
        )
        index_ms.append((time.perf_counter() - start) * 1000)
    slug_of = {a.article_id: a.slug for a in articles}
    query_ms: list[float] = []
    top1 = reciprocal = answered = answered_right = 0.0
    for text, slug in queries:
        lookup, ms = timed_lookup(library, text)
        query_ms.append(ms)
        ranked = [slug_of[h.passage.article_id] for h in lookup.hits]
        if ranked[:1] == [slug]:
            top1 += 1
        if slug in ranked:
            reciprocal += 1 / (ranked.index(slug) + 1)
        if lookup.answer is not None:
            answered += 1
            answered_right += slug_of[lookup.answer.passage.article_id] == slug
    declined = 0
    for text in unanswerable:
        lookup, ms = timed_lookup(library, text)
        query_ms.append(ms)
        declined += lookup.answer is None
    n = max(1, len(queries))
    return EvaluationReport(
        p_at_1=round(top1 / n, 4),
        mrr=round(reciprocal / n, 4),
        answered_share=round(answered / n, 4),
        answered_precision=round(answered_right / answered, 4) if answered else 0.0,
        abstain_rate=round(declined / len(unanswerable), 4) if unanswerable else 0.0,
        index_ms_p50=_percentile(index_ms, 50),
        index_ms_p99=_percentile(index_ms, 99),
        query_ms_p50=_percentile(query_ms, 50),
        query_ms_p99=_percentile(query_ms, 99),
        articles=len(articles),
        passages=library.passage_count,
        queries=len(queries),
        unanswerable=len(unanswerable),
    )
