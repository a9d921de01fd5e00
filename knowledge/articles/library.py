"""All articles as the bot searches them: one passage index per language, and the answer or
abstain decision. The bot, the console and `deskbot articles evaluate` all go through here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.nlu.embeddings import SentenceEmbedder
from knowledge.articles import confidence
from knowledge.articles.index import Hit, IndexedPassage, PassageIndex, Weights

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class LibraryArticle:
    article_id: int
    slug: str
    language: str
    title: str
    url: str | None
    passages: Sequence[tuple[int, str, str]]
    """(passage id, heading, text)"""


@dataclass(frozen=True, slots=True)
class Lookup:
    hits: list[Hit]
    probability: float
    threshold: float

    @property
    def answer(self) -> Hit | None:
        """The passage to answer with, or None: no article answers this well enough."""
        if self.hits and self.probability >= self.threshold:
            return self.hits[0]
        return None


@dataclass(frozen=True)
class ArticleLibrary:
    indexes: dict[str, PassageIndex] = field(default_factory=dict)
    threshold: float = confidence.THRESHOLD

    @property
    def passage_count(self) -> int:
        return sum(len(i) for i in self.indexes.values())

    def lookup(self, text: str, language: str, limit: int = 5) -> Lookup:
        """Search the question's language; English articles when there are none in it."""
        index = self.indexes.get(language) or self.indexes.get(DEFAULT_LANGUAGE)
        if index is None:
            return Lookup([], 0.0, self.threshold)
        hits = index.search(text, limit)
        return Lookup(hits, confidence.probability(hits), self.threshold)


def build_library(
    articles: Sequence[LibraryArticle],
    embedder: SentenceEmbedder,
    weights: Weights | None = None,
    threshold: float = confidence.THRESHOLD,
) -> ArticleLibrary:
    by_language: dict[str, list[IndexedPassage]] = defaultdict(list)
    for article in articles:
        for passage_id, heading, text in article.passages:
            by_language[article.language].append(
                IndexedPassage(
                    passage_id,
                    article.article_id,
                    article.slug,
                    article.title,
                    article.url,
                    heading,
                    text,
                )
            )
    return ArticleLibrary(
        {lang: PassageIndex(ps, embedder, weights) for lang, ps in by_language.items()},
        threshold,
    )
