"""Answers an agent might send: the knowledge base's answers for the NLU's best intents."""

from __future__ import annotations

from dataclasses import dataclass

from bot.nlu.result import NluResult
from knowledge.service import KnowledgeBase

# Intents that are about the conversation, not a question the knowledge base answers.
NOT_ANSWERS = frozenset({"greet", "goodbye", "thanks", "human_handoff", "out_of_scope"})
# Below this only the best guess is shown: a list of near-zero matches is noise to an agent.
MIN_CONFIDENCE = 0.05


@dataclass(frozen=True, slots=True)
class Suggestion:
    intent: str
    confidence: float
    answer: str


async def suggest(
    knowledge: KnowledgeBase, parsed: NluResult, language: str, limit: int = 3
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
    return suggestions
