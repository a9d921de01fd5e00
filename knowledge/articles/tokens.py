"""Search tokens: stemmed English words without stop words; Chinese words cut by jieba."""

from __future__ import annotations

import logging
import re
import threading

import jieba
import Stemmer
from bm25s.stopwords import STOPWORDS_CHINESE, STOPWORDS_EN_PLUS

from bot.nlu.text import normalise

_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_STOP = frozenset(STOPWORDS_EN_PLUS) | frozenset(STOPWORDS_CHINESE)
_jieba_ready = threading.Lock()
_stemmer = threading.local()

jieba.setLogLevel(logging.WARNING)


def _stem(words: list[str]) -> list[str]:
    # PyStemmer objects are not thread-safe; one per thread (index builds run in a thread).
    stemmer = getattr(_stemmer, "english", None)
    if stemmer is None:
        stemmer = _stemmer.english = Stemmer.Stemmer("english")
    return stemmer.stemWords(words)


def _chinese(run: str) -> list[str]:
    with _jieba_ready:  # jieba builds its dictionary on first use, not thread-safely
        jieba.initialize()
    return [w for w in jieba.lcut_for_search(run) if w.strip()]


def tokens(text: str) -> list[str]:
    """Index and query tokens of any text, mixed English and Chinese included."""
    words: list[str] = []
    for run in _WORD.findall(normalise(text)):
        if _CJK.match(run):
            words.extend(w for w in _chinese(run) if w not in _STOP)
        elif run not in _STOP:
            words.append(run)
    latin = [w for w in words if not _CJK.match(w)]
    if not latin:
        return words
    stems = iter(_stem(latin))
    return [w if _CJK.match(w) else next(stems) for w in words]
