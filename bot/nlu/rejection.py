"""Rejections of the last answer ("that didn't help", "still doesn't work", "没用", "还是不行"),
recognised before intent classification so they are never answered as an intent.

A rejection is about the previous answer: "my sync doesn't work" opening a chat describes a
problem; "it still doesn't work" after an answer rejects it. The patterns lean on what marks
the second kind (that/it/this, still, already, again); the caller knows whether an answer
came before.
"""

from __future__ import annotations

import re

_THAT = (
    r"(that|this|it|that one|your (answer|suggestion|link|article|steps?|fix)|the (answer|"
    r"suggestion|link|article|steps?|fix))"
)
_NOT = r"(did ?n[o']?t|does ?n[o']?t|do ?n[o']?t|is ?n[o']?t|was ?n[o']?t|wo ?n[o']?t|not|no)"
_REJECTION = re.compile(
    rf"\b{_THAT}\s+{_NOT}\s+(help|work|answer|solve|fix|change)|"
    rf"\bstill\s+(does ?n[o']?t|do ?n[o']?t|is ?n[o']?t|wo ?n[o']?t|ca ?n[o']?t|not|no|broken|"
    r"the same|happening|failing|getting|having|stuck|nothing|crashing|not working)|"
    r"\b(did|does|do)\s*n[o']?t\s+(help|answer my question)|"
    r"\bnot (what i (asked|meant|need(ed)?|was asking)|helpful|it|right|my question)\b|"
    r"\b(wrong|useless|unhelpful) (answer|reply|link|article)|\bthat'?s not (it|right|what)|"
    r"\byou('re| are) not (helping|listening|understanding)|\b(already|i) tried (that|this|it)|"
    r"\bsame (problem|issue|error) (again|still|as before)|\bno,? that('s| is)? (wrong|not)|"
    r"\b(answer|reply) (is|was) (wrong|useless)|\bnothing changed\b|\bdid nothing\b|"
    r"没用|没有用|没什么用|没啥用|没有帮助|没帮助|没帮上|不是这个|答非所问|不是我问的|没解决|没有解决|"
    r"还是不行|还是不可以|还是没|还是一样|还是不能|仍然不行|依然不行|不行啊|试过了|已经试过|"
    r"你没(听|看)懂|说了等于没说|不对啊|不是我要的",
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
