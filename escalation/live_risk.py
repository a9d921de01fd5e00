"""Churn risk from what deskbot itself has seen of a customer, on top of the CRM model.

The CRM model knows the contract; deskbot knows the last month: how often the customer had to
write, how often the bot failed them, what is still open and how their mood is going.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select

from escalation.churn import ChurnScore, Factor
from models import Conversation, ConversationState

WINDOW = timedelta(days=30)
BASELINE = 0.1
"""Risk assumed for a customer with no CRM model score."""


_OTHER = Conversation.id != bindparam("current")
_RECENT = Conversation.created_at >= bindparam("since")
_OPEN = or_(
    Conversation.state == ConversationState.QUEUED.value,
    Conversation.state == ConversationState.AGENT.value,
)
COUNTS = (
    select(
        func.count().filter(_RECENT).label("contacts"),
        func.count()
        .filter(_RECENT, _OTHER, Conversation.escalated_at.is_not(None))
        .label("escalations"),
        func.count().filter(_OTHER, _OPEN).label("unresolved"),
    )
    .where(Conversation.customer_id == bindparam("customer_id"))
    .subquery("live")
)
"""One row of counts for the customer; its parameters come from counts_parameters()."""


@dataclass(frozen=True, slots=True)
class LiveSignals:
    contacts_30d: int
    escalations_30d: int
    unresolved: int
    mood: float


def counts_parameters(
    customer_id: int, current_conversation: int, now: datetime
) -> dict[str, object]:
    return {"customer_id": customer_id, "current": current_conversation, "since": now - WINDOW}


def combine(model: ChurnScore | None, live: LiveSignals) -> ChurnScore:
    """Each live signal removes a share of the remaining 'will stay' probability."""
    bumps: list[tuple[float, Factor]] = []
    if live.escalations_30d:
        weight = min(0.1 * live.escalations_30d, 0.3)
        bumps.append((weight, Factor("escalations in 30 days", str(live.escalations_30d), weight)))
    if live.contacts_30d > 3:
        bumps.append((0.1, Factor("contacts in 30 days", str(live.contacts_30d), 0.1)))
    if live.unresolved:
        bumps.append((0.1, Factor("unresolved conversations", str(live.unresolved), 0.1)))
    if live.mood <= -0.3:
        bumps.append((0.1, Factor("mood this conversation", f"{live.mood:.2f}", 0.1)))
    stay = 1 - (model.risk if model else BASELINE)
    for weight, _ in bumps:
        stay *= 1 - weight
    factors = [f for _, f in bumps] + list(model.factors if model else ())
    factors.sort(key=lambda f: -f.weight)
    return ChurnScore(round(1 - stay, 4), tuple(factors[:3]))
