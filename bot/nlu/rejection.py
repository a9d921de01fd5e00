"""Rejections of the last answer ("that didn't help", "没用"), recognised before intent
classification so they are never answered as an intent."""

from __future__ import annotations

import re

_REJECTION = re.compile(
    r"(did ?n[o']?t|does ?n[o']?t|not|no) (help|work|answer)|not what i (asked|meant)|"
    r"wrong answer|useless|you('re| are) not (helping|listening)|that's not it|"
    r"没用|没有用|没有帮助|没帮助|不是这个|答非所问|不是我问的|没解决|还是不行|还是不能",
    re.IGNORECASE,
)


def rejects_answer(text: str) -> bool:
    """'That didn't help' and its kin: the last answer missed."""
    return bool(_REJECTION.search(text))


BARE_REMAINDER_WORDS = 4
BARE_REMAINDER_CJK = 6


def is_bare_rejection(text: str) -> bool:
    """A rejection and little else ("that didn't help at all", "还是不行"): the customer is
    not asking something new, so the message is not classified as an intent."""
    match = _REJECTION.search(text)
    if match is None:
        return False
    rest = text[: match.start()] + " " + text[match.end() :]
    cjk = sum(1 for ch in rest if "\u3400" <= ch <= "\u9fff")
    words = [w for w in rest.split() if any(c.isalpha() for c in w) and not _is_cjk(w)]
    return cjk <= BARE_REMAINDER_CJK and len(words) <= BARE_REMAINDER_WORDS


def _is_cjk(word: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in word)
