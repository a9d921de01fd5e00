"""Rejections of the last answer ("that didn't help", "没用"), recognised before intent
classification so they are never answered as an intent."""

from __future__ import annotations

import re

_REJECTION = re.compile(
    r"(did ?n[o']?t|does ?n[o']?t|not|no) (help|work|answer)|not what i (asked|meant)|"
    r"wrong answer|useless|you('re| are) not (helping|listening)|that's not it|"
    r"没用|没有帮助|没帮助|不是这个|答非所问|不是我问的|没解决",
    re.IGNORECASE,
)


def rejects_answer(text: str) -> bool:
    """'That didn't help' and its kin: the last answer missed."""
    return bool(_REJECTION.search(text))
