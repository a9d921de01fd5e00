"""The passage index of one language: BM25 (bm25s) over stemmed or jieba-cut tokens, fused
with wordllama sentence vectors (the NLU's semantic features) of the title and the passage.

score = w_lexical · bm25 / best bm25 for the query + w_title · cos(query, title)
        + w_passage · cos(query, title + heading + passage)

The weights were chosen on half of the StackFAQ queries (bench/articles.py --tune) and are
reported on the other half.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import bm25s
import numpy as np

from bot.nlu.embeddings import SentenceEmbedder
from knowledge.articles.tokens import tokens

logging.getLogger("bm25s").setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class IndexedPassage:
    passage_id: int
    article_id: int
    slug: str
    title: str
    url: str | None
    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class Weights:
    lexical: float = 0.3
    title: float = 0.4
    passage: float = 0.3


@dataclass(frozen=True, slots=True)
class Hit:
    passage: IndexedPassage
    score: float
    lexical: float
    """BM25 of this passage over the best BM25 for the query (1.0 for the best)."""
    title_cosine: float
    passage_cosine: float
    coverage: float
    """Share of the query's IDF weight whose tokens occur in the passage or its title."""


CANDIDATES_PER_HIT = 20
"""Passages sorted per wanted hit; more only when one article holds all of them."""


def _best_first(scores: np.ndarray, count: int) -> Iterator[int]:
    """Indices of the highest scores, best first, sorting only the top `count` unless the
    caller reads past them."""
    if count >= len(scores):
        yield from (int(i) for i in np.argsort(-scores))
        return
    top = np.argpartition(-scores, count)[:count]
    top = top[np.argsort(-scores[top])]
    yield from (int(i) for i in top)
    given = set(top.tolist())
    yield from (int(i) for i in np.argsort(-scores) if int(i) not in given)


def _document(passage: IndexedPassage) -> str:
    return f"{passage.title}\n{passage.heading}\n{passage.text}"


class PassageIndex:
    """Immutable once built; `search` is safe to call from any thread."""

    def __init__(
        self,
        passages: Sequence[IndexedPassage],
        embedder: SentenceEmbedder,
        weights: Weights | None = None,
    ) -> None:
        self.passages = tuple(passages)
        self.weights = weights or Weights()
        self._embedder = embedder
        documents = [_document(p) for p in self.passages]
        token_lists = [tokens(d) for d in documents]
        self._token_sets = [frozenset(t) for t in token_lists]
        df = Counter(t for s in self._token_sets for t in s)
        n = len(self.passages)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._unseen_idf = math.log(1 + (n + 0.5) / 0.5)
        self._bm25: bm25s.BM25 | None = None
        if n and any(token_lists):
            self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
            self._bm25.index(token_lists, show_progress=False)
        dims = embedder.dimensions
        self._passage_vectors = (
            embedder.embed(documents) if n else np.zeros((0, dims), dtype=np.float32)
        )
        titles = sorted({p.title for p in self.passages})
        title_vectors = dict(zip(titles, embedder.embed(titles), strict=True)) if titles else {}
        self._title_vectors = (
            np.stack([title_vectors[p.title] for p in self.passages])
            if n
            else np.zeros((0, dims), dtype=np.float32)
        )
        # Both cosines are linear in the query vector: one product per query instead of two.
        self._semantic = np.ascontiguousarray(
            self.weights.title * self._title_vectors + self.weights.passage * self._passage_vectors
        )

    def __len__(self) -> int:
        return len(self.passages)

    def search(self, query: str, limit: int = 5, one_per_article: bool = True) -> list[Hit]:
        """The best passages for `query`, best first (at most one per article by default)."""
        if not self.passages or not query.strip():
            return []
        query_tokens = tokens(query)
        lexical = np.zeros(len(self.passages), dtype=np.float32)
        if self._bm25 is not None and query_tokens:
            lexical = self._bm25.get_scores(query_tokens).astype(np.float32)
            top = float(lexical.max())
            if top > 0:
                lexical /= top
        vector = self._embedder.embed([query])[0]
        fused = self._semantic @ vector + self.weights.lexical * lexical
        hits: list[Hit] = []
        seen: set[int] = set()
        for i in _best_first(fused, limit * CANDIDATES_PER_HIT):
            passage = self.passages[i]
            if one_per_article and passage.article_id in seen:
                continue
            seen.add(passage.article_id)
            hits.append(
                Hit(
                    passage,
                    float(fused[i]),
                    float(lexical[i]),
                    float(self._title_vectors[i] @ vector),
                    float(self._passage_vectors[i] @ vector),
                    self._coverage(query_tokens, i),
                )
            )
            if len(hits) == limit:
                break
        return hits

    def _coverage(self, query_tokens: list[str], i: int) -> float:
        if not query_tokens:
            return 0.0
        weights = {t: self._idf.get(t, self._unseen_idf) for t in set(query_tokens)}
        total = sum(weights.values())
        found = sum(v for t, v in weights.items() if t in self._token_sets[i])
        return found / total if total else 0.0
