"""What the local NLU reads in a sentence: word and character n-grams plus its meaning."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.nlu.embeddings import shared
from bot.nlu.text import TOKEN_PATTERN

EMBEDDING_WEIGHT = 1.0
"""Scale of the 256-d sentence vector beside the unit-length TF-IDF blocks (chosen on a
held-out fifth of BANKING77's training split: 0.5-2.0 all helped, 1.0 most)."""


class SentenceFeatures:
    """Word TF-IDF (1-2 grams, one token per CJK character), char_wb TF-IDF (2-5) for typos
    and Chinese, and static embeddings for paraphrases that share no words."""

    def __init__(self) -> None:
        self._word = TfidfVectorizer(
            token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), sublinear_tf=True
        )
        self._char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        self._fast: list[_FastTfidf] | None = None

    def fit(self, texts: Sequence[str]) -> SentenceFeatures:
        self._word.fit(texts)
        self._char.fit(texts)
        return self

    def __getstate__(self) -> dict[str, Any]:
        return {"_word": self._word, "_char": self._char, "_fast": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _fast_tfidf(self) -> list[_FastTfidf]:
        if getattr(self, "_fast", None) is None:
            self._fast = [_FastTfidf(self._word), _FastTfidf(self._char)]
        return self._fast

    def blocks(
        self, texts: Sequence[str]
    ) -> tuple[sparse.csr_matrix, sparse.csr_matrix, np.ndarray]:
        """The three feature blocks apart: scoring them against a model's weights one by one
        skips stacking them, which costs more than the arithmetic for one sentence."""
        word, char = self._fast_tfidf()
        return word(texts), char(texts), shared().embed(texts)

    @property
    def block_sizes(self) -> tuple[int, int, int]:
        return len(self._word.vocabulary_), len(self._char.vocabulary_), shared().dimensions

    def transform(self, texts: Sequence[str]) -> tuple[sparse.csr_matrix, np.ndarray]:
        """(the feature matrix, the unit sentence vectors it contains)."""
        word, char, vectors = self.blocks(texts)
        matrix = sparse.hstack(
            [word, char, sparse.csr_matrix(vectors * EMBEDDING_WEIGHT)], format="csr"
        )
        return matrix, vectors


class _FastTfidf:
    """A fitted TfidfVectorizer's transform (sublinear tf, idf, l2 norm) without sklearn's
    per-call input validation, which costs ten times the arithmetic on one sentence. A test
    checks it gives the vectorizer's own numbers."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self._analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self._vocabulary: dict[str, int] = vectorizer.vocabulary_
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._size = len(self._vocabulary)

    def __call__(self, texts: Sequence[str]) -> sparse.csr_matrix:
        indices: list[int] = []
        values: list[float] = []
        pointers = [0]
        for text in texts:
            counts = Counter(
                i for i in map(self._vocabulary.get, self._analyze(text)) if i is not None
            )
            columns = sorted(counts)
            weights = [(1.0 + math.log(counts[c])) * self._idf[c] for c in columns]
            norm = math.sqrt(sum(w * w for w in weights)) or 1.0
            indices.extend(columns)
            values.extend(w / norm for w in weights)
            pointers.append(len(indices))
        return sparse.csr_matrix(
            (np.asarray(values, dtype=np.float64), np.asarray(indices, dtype=np.int32), pointers),
            shape=(len(texts), self._size),
        )
