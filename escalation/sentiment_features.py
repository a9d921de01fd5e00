"""What the sentiment models read: cleaned text, VADER's scores and support-specific cues.

VADER reads general social-media text well but scores "still not fixed!!! third time I ask"
as neutral. Customer-service complaints are mostly factual words (delayed, charged twice,
on hold, again) that carry no valence in a general lexicon; the cues below name them, and the
English models weigh them next to VADER and the token embeddings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

Cue = tuple[re.Pattern[str], float, str]


def _cues(pairs: Sequence[tuple[str, float]]) -> list[Cue]:
    return [(re.compile(p, re.IGNORECASE), w, p) for p, w in pairs]


ENGLISH_CUES = _cues(
    [
        (r"\bstill\b.{0,20}\b(not|n't|no|waiting|broken|nothing|haven't|hasn't|never)\b", -0.6),
        (
            r"\b(not|never|n't|no one|nobody)\b.{0,15}\b(fixed|working|works|resolved|received|"
            r"arrived|helped|helpful|answered|responded|refunded|called back)\b",
            -0.6,
        ),
        (
            r"\b(again|(second|third|fourth|\d+(st|nd|rd|th)) time|keeps? (happening|failing|"
            r"crashing|breaking)|every time)\b",
            -0.35,
        ),
        (
            r"\b(been )?(waiting|waited|on hold|hold for)\b.{0,25}\b(hours?|days?|weeks?|mins?|"
            r"minutes?|forever|ages)\b",
            -0.6,
        ),
        (
            r"\b(delay(ed|s)?|cancell?ed|stuck|broken|crash(ed|es|ing)?|error|fail(ed|s|ure|ing)?|"
            r"lost|missing|overcharged|charged twice|double charged|late|rude|unacceptable|"
            r"ridiculous|joke|worst|terrible|horrible|awful|useless|incompetent|scam|disgusted?|"
            r"frustrat\w*|annoy\w*|angry|furious|fed up|sick of|tired of)\b",
            -0.3,
        ),
        (r"\b(slow|sluggish|laggy|lagging|unusable|doesn't work|not working|down again)\b", -0.2),
        (r"\b(refund|compensation|complain\w*|cancel my|switching to|leaving|lawyer|sue)\b", -0.25),
        (r"\?!|!\?", -0.2),
        (
            r"\b(thanks?|thank you|appreciate|awesome|great|love|amazing|perfect|helpful|"
            r"excellent|fantastic|kudos)\b",
            0.2,
        ),
    ]
)

_MENTION_OR_LINK = re.compile(r"@\w+|https?://\S+|www\.\S+|#")
_SPACES = re.compile(r"\s+")
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
HAND_FEATURES = 9


def clean(text: str) -> str:
    """Drop @mentions, links and '#': addressing, not sentiment (tweets, Slack)."""
    return _SPACES.sub(" ", _MENTION_OR_LINK.sub(" ", text)).strip()


def apply_cues(cues: list[Cue], text: str) -> tuple[float, tuple[str, ...]]:
    total, hits = 0.0, []
    for pattern, weight, name in cues:
        if pattern.search(text):
            total += weight
            hits.append(name)
    return total, tuple(hits)


class EnglishHandFeatures:
    """VADER's four scores, the cues' sum and counts, a question, shouting: 9 numbers."""

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()

    def vader(self, text: str) -> float:
        return float(self._vader.polarity_scores(text)["compound"])

    def rows(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), HAND_FEATURES), dtype=np.float32)
        for i, text in enumerate(texts):
            scores = self._vader.polarity_scores(text)
            negative = positive = 0
            total = 0.0
            for pattern, weight, _ in ENGLISH_CUES:
                if pattern.search(text):
                    total += weight
                    negative += weight < 0
                    positive += weight > 0
            shouting = min(text.count("!"), 3) / 3 + (0.5 if _CAPS_WORD.search(text) else 0.0)
            out[i] = (
                scores["compound"],
                scores["pos"],
                scores["neg"],
                scores["neu"],
                total,
                negative,
                positive,
                1.0 if "?" in text else 0.0,
                shouting,
            )
        return out
