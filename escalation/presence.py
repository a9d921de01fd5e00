"""Whether an agent is really there: their choice (online, away, offline) and the heartbeats
every open staff page sends, kept on the agent's row so every process sees the same.

A page that stops beating (the browser closed, the laptop asleep, the process that served it
killed) goes offline within `SEEN_FOR_S`; a page left open with nobody at it turns away after
the idle time. The queue counts only agents online by all three.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_

from models import Agent

HEARTBEAT_S = 20
"""How often an open staff page says it is still there (the page's script uses this)."""
SEEN_FOR_S = 3 * HEARTBEAT_S + 5
"""Three missed heartbeats and the agent is offline."""
DEFAULT_IDLE_S = 600


class Presence(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


def presence_of(agent: Agent, now: datetime, idle_s: float = DEFAULT_IDLE_S) -> Presence:
    seen, active = agent.last_seen_at, agent.last_active_at
    if (
        not agent.active
        or agent.status == Presence.OFFLINE
        or seen is None
        or seen < now - timedelta(seconds=SEEN_FOR_S)
    ):
        return Presence.OFFLINE
    if agent.status == Presence.AWAY or active is None or active < now - timedelta(seconds=idle_s):
        return Presence.AWAY
    return Presence.ONLINE


def available_now(now: datetime, idle_s: float = DEFAULT_IDLE_S) -> ColumnElement[bool]:
    """The SQL twin of `presence_of(...) is ONLINE`."""
    return and_(
        Agent.active.is_(True),
        Agent.status == Presence.ONLINE.value,
        Agent.last_seen_at >= now - timedelta(seconds=SEEN_FOR_S),
        Agent.last_active_at >= now - timedelta(seconds=idle_s),
    )
