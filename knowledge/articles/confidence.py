"""Whether the best passage answers the question: a logistic model over scale-free features
of the search, so one threshold holds for a help centre of 15 articles or of 5,000.

The coefficients and the threshold were fitted by `python -m bench.articles --tune` on
training-side data only: half of the StackFAQ queries (answerable) and BANKING77 training
questions (off-topic for those articles). They are reported on the other half and on the
out-of-scope rows of BANKING77-OOS's test split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from knowledge.articles.index import Hit

FEATURES = ("score", "title_cosine", "passage_cosine", "coverage", "margin")
COEFFICIENTS = (3.9363, 7.7765, 4.3116, -0.1967, 8.7646)
INTERCEPT = -8.6711
THRESHOLD = 0.1731
"""Answer when the probability that the best passage is right is at least this."""


def features(hits: Sequence[Hit]) -> tuple[float, ...]:
    if not hits:
        return (0.0,) * len(FEATURES)
    top = hits[0]
    margin = top.score - hits[1].score if len(hits) > 1 else top.score
    return (top.score, top.title_cosine, top.passage_cosine, top.coverage, margin)


def probability(hits: Sequence[Hit]) -> float:
    """0…1: how likely the best passage is from the article that answers the question."""
    if not hits:
        return 0.0
    z = INTERCEPT + sum(c * f for c, f in zip(COEFFICIENTS, features(hits), strict=True))
    return 1.0 / (1.0 + math.exp(-z))
