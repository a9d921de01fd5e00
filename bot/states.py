"""The conversation state machine: the only way a conversation's state changes."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Update, bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Conversation, ConversationState

S = ConversationState

TRANSITIONS: dict[ConversationState, frozenset[ConversationState]] = {
    S.BOT: frozenset({S.QUEUED, S.AGENT, S.RESOLVED}),
    S.QUEUED: frozenset({S.AGENT, S.BOT, S.RESOLVED}),
    S.AGENT: frozenset({S.BOT, S.RESOLVED, S.QUEUED}),  # queued: transferred to a team
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
    *,
    bot_turns: int | None = None,
    **fields: Any,
) -> None:
    """Compare-and-set inside the caller's transaction; raises StateConflict if it lost.
    `bot_turns`: the bot's turn count the caller read; the change also requires it unchanged
    and counts one more turn."""
    sources = expected if isinstance(expected, frozenset) else frozenset({expected})
    for source in sources:
        check_transition(source, target)
    statement = _compare_and_set(sources, target, tuple(sorted(fields)), bot_turns is not None)
    values = {f"new_{name}": value for name, value in fields.items()}
    if bot_turns is not None:
        values["seen_bot_turns"] = bot_turns
    result = await session.execute(statement, {"conversation_id": conversation_id, **values})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StateConflict(
            f"conversation {conversation_id} is no longer {'/'.join(sorted(sources))}"
        )


@functools.lru_cache(maxsize=128)
def _compare_and_set(
    sources: frozenset[ConversationState],
    target: ConversationState,
    fields: tuple[str, ...],
    a_bot_turn: bool,
) -> Update:
    """Built once per kind of change: building a statement costs more than running it."""
    in_source = or_(*(Conversation.state == source.value for source in sorted(sources)))
    statement = (
        update(Conversation)
        .where(Conversation.id == bindparam("conversation_id"), in_source)
        .values(state=target.value, **{name: bindparam(f"new_{name}") for name in fields})
        .execution_options(synchronize_session=False)
    )
    if a_bot_turn:
        statement = statement.where(Conversation.bot_turns == bindparam("seen_bot_turns")).values(
            bot_turns=Conversation.bot_turns + 1
        )
    return statement
