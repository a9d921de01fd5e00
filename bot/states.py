"""The conversation state machine: the only way a conversation's state changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Conversation, ConversationState

S = ConversationState

TRANSITIONS: dict[ConversationState, frozenset[ConversationState]] = {
    S.BOT: frozenset({S.QUEUED, S.AGENT, S.RESOLVED}),
    S.QUEUED: frozenset({S.AGENT, S.BOT, S.RESOLVED}),
    S.AGENT: frozenset({S.BOT, S.RESOLVED}),
    S.RESOLVED: frozenset({S.BOT}),
}


class StateConflict(Exception):
    """The conversation was not in the state the change expected (someone else got there)."""

    status = 409


def check_transition(source: ConversationState, target: ConversationState) -> None:
    """Staying in a state is allowed: it is a guarded update of the conversation's fields."""
    if target != source and target not in TRANSITIONS[source]:
        raise StateConflict(f"a conversation cannot go from {source} to {target}")


async def transition(
    session: AsyncSession,
    conversation_id: int,
    expected: ConversationState | frozenset[ConversationState],
    target: ConversationState,
    **fields: Any,
) -> None:
    """Compare-and-set inside the caller's transaction; raises StateConflict if it lost."""
    sources = expected if isinstance(expected, frozenset) else frozenset({expected})
    for source in sources:
        check_transition(source, target)
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id, Conversation.state.in_([s.value for s in sources])
        )
        .values(state=target.value, **fields)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StateConflict(
            f"conversation {conversation_id} is no longer {'/'.join(sorted(sources))}"
        )
