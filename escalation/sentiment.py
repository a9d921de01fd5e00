"""Sentiment for customer-service text: VADER plus the cues it misses, English and Chinese.

VADER reads general social-media text well but scores "still not fixed!!! third time I ask"
as neutral. Customer-service complaints are mostly factual words (delayed, charged twice,
on hold, again) that carry no valence in a general lexicon, so they get weighted cues here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.nlu.text import detect_language

NEUTRAL_BAND = 0.05
# Mild praise in a support chat is mostly politeness: only clear praise counts as positive.
# Chosen on every other row of the airline-tweets data; the bench reports on the other half too.
POSITIVE_THRESHOLD = 0.5
VADER_THRESHOLD = 0.05  # VADER's documented neutral band


class Label(enum.StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True, slots=True)
class Sentiment:
    score: float
    """-1 (furious) … +1 (delighted)."""
    label: Label
    cues: tuple[str, ...] = ()


def _cues(pairs: Sequence[tuple[str, float]]) -> list[tuple[re.Pattern[str], float, str]]:
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

CHINESE_CUES = _cues(
    [
        (r"还(是)?(没|不|未)", -0.6),
        (r"(没|不|未)(解决|修好|回复|到账|收到|退款|处理|好用)", -0.6),
        (r"(又|再次|第[二三四五六七八九十\d]+次|总是|老是|一直)", -0.3),
        (r"(等了|等待).{0,6}(小时|天|周|分钟|半天|很久)", -0.6),
        (
            r"(垃圾|太差|很差|差劲|失望|生气|愤怒|气死|恶心|骗子|骗人|坑|烂|无语|崩溃|离谱|"
            r"投诉|退款|赔偿|卡死|闪退|故障|报错|扣费|乱扣|欺诈|糟糕|麻烦|不满|受够)",
            -0.45,
        ),
        (r"[!！]{2,}|[?？][!！]", -0.2),
        (r"(谢谢|感谢|满意|好用|很棒|太好了|赞|喜欢|方便|完美|给力|专业|耐心)", 0.55),
    ]
)

_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_EXCLAMATIONS = re.compile(r"!{2,}")


class SentimentAnalyzer:
    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()

    def score(self, text: str) -> Sentiment:
        if detect_language(text) == "zh":
            return self._chinese(text)
        return self._english(text)

    def vader_only(self, text: str) -> Sentiment:
        compound = float(self._vader.polarity_scores(text)["compound"])
        return Sentiment(compound, _label(compound, VADER_THRESHOLD))

    def _english(self, text: str) -> Sentiment:
        base = float(self._vader.polarity_scores(text)["compound"])
        adjustment, hits = _apply(ENGLISH_CUES, text)
        negative_cues = adjustment < 0
        if negative_cues and base > 0:
            base *= 0.3  # "thanks a lot for nothing": praise words around a complaint
        if negative_cues and (_CAPS_WORD.search(text) or _EXCLAMATIONS.search(text)):
            adjustment -= 0.15
        return _combine(base + adjustment, hits)

    def _chinese(self, text: str) -> Sentiment:
        adjustment, hits = _apply(CHINESE_CUES, text)
        return _combine(adjustment, hits)


def _apply(
    cues: list[tuple[re.Pattern[str], float, str]], text: str
) -> tuple[float, tuple[str, ...]]:
    total, hits = 0.0, []
    for pattern, weight, name in cues:
        if pattern.search(text):
            total += weight
            hits.append(name)
    return total, tuple(hits)


def _combine(raw: float, hits: tuple[str, ...]) -> Sentiment:
    score = max(-1.0, min(1.0, raw))
    return Sentiment(round(score, 4), _label(score), hits)


def _label(score: float, positive: float = POSITIVE_THRESHOLD) -> Label:
    if score <= -NEUTRAL_BAND:
        return Label.NEGATIVE
    if score >= positive:
        return Label.POSITIVE
    return Label.NEUTRAL


@dataclass(frozen=True, slots=True)
class Trend:
    """How the customer's mood is going in this conversation."""

    latest: float
    average: float
    negative_streak: int
    """Negative customer messages in a row, newest last."""


def trend(scores: Sequence[float], window: int = 5) -> Trend:
    if not scores:
        return Trend(0.0, 0.0, 0)
    recent = list(scores)[-window:]
    streak = 0
    for score in reversed(scores):
        if score > -NEUTRAL_BAND:
            break
        streak += 1
    return Trend(scores[-1], round(sum(recent) / len(recent), 4), streak)
