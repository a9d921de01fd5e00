"""Grouping questions by meaning: average-linkage clustering (scikit-learn) on cosine distance
between wordllama sentence vectors, the NLU's own semantic features. No cluster count to
choose: questions join while their mean distance stays under DISTANCE."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from bot.nlu.embeddings import SentenceEmbedder
from knowledge.articles.tokens import tokens

DISTANCE = 0.7
"""Chosen by `python -m bench.gaps --tune` on BANKING77 training questions of intents other
than the ten it reports on."""
MAX_QUESTIONS = 3000
"""Clustering is quadratic in memory; older questions beyond this are left out."""
_NAME_WORD = re.compile(r"^[a-z][a-z0-9]*$")


def cluster(vectors: np.ndarray, distance: float = DISTANCE) -> list[list[int]]:
    """Groups of row indices, largest first (ties: lowest index first)."""
    n = len(vectors)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    labels = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance, metric="cosine", linkage="average"
    ).fit_predict(vectors)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def embed(texts: Sequence[str], embedder: SentenceEmbedder) -> np.ndarray:
    vectors = embedder.embed(list(texts))
    # An empty text embeds to zeros, which cosine distance cannot place: nudge it apart.
    empty = ~vectors.any(axis=1)
    vectors[empty, 0] = 1.0
    return vectors


def central(vectors: np.ndarray) -> int:
    """The row nearest the group's mean: its most typical member."""
    centre = vectors.mean(axis=0)
    return int(np.argmax(vectors @ centre))


def name_for(texts: Sequence[str], taken: set[str]) -> str:
    """An intent name from the group's most frequent words ("gap_refund_card"), unique."""
    counts = Counter(t for text in texts for t in set(tokens(text)) if _NAME_WORD.match(t))
    words = [w for w, _ in counts.most_common(3)]
    base = "gap_" + "_".join(words) if words else "gap_question"
    base = base[:56]
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name
