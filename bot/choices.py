"""Questions the bot asks back — "Did you mean …?", "Just to be sure …?" — and reading the
customer's answer to them: a number, an option's words, yes or no, in English or Chinese."""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

MAX_OPTIONS = 3
CLARIFY = "clarify"
CONFIRM = "confirm"

_YES = frozenset(
    "yes y yeah yep yup sure ok okay correct right exactly please 是 是的 对 对的 好 好的 "
    "确认 没错 嗯 要 需要".split()
)
_NO = frozenset(
    "no n nope nah neither none wrong 否 不 不是 不对 不用 不要 算了 都不是 都不对".split()
)
_NO_PHRASES = ("not really", "none of them", "none of these", "neither of them", "no thanks")
_CHINESE_ORDINALS = {"一": 1, "二": 2, "三": 3, "两": 2}
_ORDINAL = re.compile(
    r"^(?:第\s*)?([1-9一二两三])\s*(?:个|项|条)?$|^(?:option|number|#)\s*([1-9])$"
)
_BARE_NUMBER = re.compile(r"^(?:#\s*)?\d{1,3}$")
_ENGLISH_ORDINALS = {"first": 1, "second": 2, "third": 3, "the first": 1, "the second": 2}


class Answer(enum.Enum):
    CHOSE = "chose"
    DECLINED = "declined"
    OUT_OF_RANGE = "out_of_range"
    """A number that names no option ("5" to three): the question is asked again."""


@dataclass(frozen=True, slots=True)
class ChoiceReply:
    answer: Answer
    intent: str | None = None


def clarify_pending(intents: list[str]) -> dict[str, Any]:
    return {"kind": CLARIFY, "options": intents[:MAX_OPTIONS]}


def confirm_pending(intent: str) -> dict[str, Any]:
    return {"kind": CONFIRM, "intent": intent}


def read_reply(
    text: str, pending: dict[str, Any], titles: list[str] | None = None
) -> ChoiceReply | None:
    """The customer's answer to the pending question, or None when they moved on (a new
    question is parsed as usual). `titles`: how the clarify options were shown."""
    said = _plain(text)
    if pending.get("kind") == CONFIRM:
        if said in _YES:
            return ChoiceReply(Answer.CHOSE, str(pending["intent"]))
        if said in _NO or said in _NO_PHRASES:
            return ChoiceReply(Answer.DECLINED)
        return None
    if pending.get("kind") == CLARIFY:
        options = [str(o) for o in pending.get("options") or []]
        number = _number(said) if options else None
        if number is not None and 1 <= number <= len(options):
            return ChoiceReply(Answer.CHOSE, options[number - 1])
        if options and (number is not None or _BARE_NUMBER.match(said)):
            return ChoiceReply(Answer.OUT_OF_RANGE)
        for index, title in enumerate(titles or []):
            if index < len(options) and said == _plain(title):
                return ChoiceReply(Answer.CHOSE, options[index])
        if said in _NO or said in _NO_PHRASES:
            return ChoiceReply(Answer.DECLINED)
    return None


def is_plain_answer(text: str) -> bool:
    """ "yes", "no", "2", "都不是": an answer to a question the bot asked, which says nothing of
    the customer's mood or language (a sentiment model reads a bare "no" as furious)."""
    said = _plain(text)
    return (
        said in _YES
        or said in _NO
        or said in _NO_PHRASES
        or said == "agent"  # the "talk to a person" button's payload
        or _number(said) is not None
    )


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return re.sub(r"[\s.!?,。！？，、]+$", "", folded).strip()


def _number(said: str) -> int | None:
    if said in _ENGLISH_ORDINALS:
        return _ENGLISH_ORDINALS[said]
    match = _ORDINAL.match(said)
    if not match:
        return None
    digit = match.group(1) or match.group(2)
    return _CHINESE_ORDINALS.get(digit) or int(digit)
