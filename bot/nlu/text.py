"""Text normalisation and language detection shared by training and parsing."""

from __future__ import annotations

import re
import unicodedata

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACES = re.compile(r"\s+")

# One token per CJK character, words otherwise: Chinese needs no segmenter this way.
TOKEN_PATTERN = r"(?u)[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|\b\w+\b"


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lower case, collapsed whitespace."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def detect_language(text: str) -> str:
    """'zh' when a fifth or more of the letters are Chinese characters, else 'en'."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "en"
    cjk = sum(1 for ch in letters if _CJK.match(ch))
    return "zh" if cjk * 5 >= len(letters) else "en"
