"""Answers an agent might send: the knowledge base's answers for the NLU's best intents, and
the help-centre passages that best match the customer's message (with their article)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.nlu.result import NluResult
from knowledge.articles.answer import article_link
from knowledge.articles.store import ArticleStore
from knowledge.service import KnowledgeBase

# Intents that are about the conversation, not a question the knowledge base answers.
NOT_ANSWERS = frozenset({"greet", "goodbye", "thanks", "human_handoff", "out_of_scope"})
# Below this only the best guess is shown: a list of near-zero matches is noise to an agent.
MIN_CONFIDENCE = 0.05
PASSAGES = 2


@dataclass(frozen=True, slots=True)
class Suggestion:
    intent: str
    """The intent's name, or "article: <title>" for a passage."""
    confidence: float
    answer: str
    """What "Use" puts in the reply box: the intent's answer, or the passage and its link."""
    kind: str = "faq"
    title: str | None = None
    url: str | None = None


async def suggest(
    knowledge: KnowledgeBase,
    parsed: NluResult,
    language: str,
    limit: int = 3,
    articles: ArticleStore | None = None,
    text: str | None = None,
) -> list[Suggestion]:
    suggestions: list[Suggestion] = []
    for scored in parsed.ranking:
        if len(suggestions) == limit:
            break
        if scored.name in NOT_ANSWERS or (suggestions and scored.confidence < MIN_CONFIDENCE):
            continue
        answer = await knowledge.answer(scored.name, language)
        if answer is not None:
            suggestions.append(Suggestion(scored.name, round(scored.confidence, 4), answer))
    if articles is not None and text:
        suggestions.extend(await passage_suggestions(articles, text, language))
    return suggestions


async def passage_suggestions(
    articles: ArticleStore, text: str, language: str, limit: int = PASSAGES
) -> list[Suggestion]:
    """The best passages, each from its own article, with the answer model's confidence for
    the first; an agent judges, so they are shown below the bot's threshold too."""
    lookup = (await articles.library()).lookup(text, language, limit)
    out: list[Suggestion] = []
    for rank, hit in enumerate(lookup.hits):
        link = article_link(hit, language)
        confidence = lookup.probability if rank == 0 else min(lookup.probability, hit.score)
        out.append(
            Suggestion(
                f"article: {hit.passage.title}",
                round(confidence, 4),
                f"{hit.passage.text}\n\n{hit.passage.title}: {link}",
                kind="article",
                title=hit.passage.title,
                url=link,
            )
        )
    return out
