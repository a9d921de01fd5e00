"""Whether an agent is really there: their choice (online, away, offline) and the heartbeats
every open staff page sends, kept on the agent's row so every process sees the same.

A page that stops beating (the browser closed, the laptop asleep, the process that served it
killed) goes offline within `SEEN_FOR_S`; a page left open with nobody at it turns away after
the idle time. The queue counts only agents online by all three.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_

from models import Agent

HEARTBEAT_S = 20
"""How often an open staff page says it is still there (the page's script uses this)."""
SEEN_FOR_S = 150
"""No beat for this long and the agent is offline. Browsers run a hidden tab's timers only
once a minute, so this leaves room for two of those."""
DEFAULT_IDLE_S = 600


class Presence(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


def presence_of(agent: Agent, now: datetime, idle_s: float = DEFAULT_IDLE_S) -> Presence:
    """An agent working from Slack has no page to beat: a claim or reply there counts them
    present for the idle time."""
    idle_since = now - timedelta(seconds=idle_s)
    page_open = _after(agent.last_seen_at, now - timedelta(seconds=SEEN_FOR_S))
    in_slack = _after(agent.last_slack_at, idle_since)
    if not agent.active or agent.status == Presence.OFFLINE or not (page_open or in_slack):
        return Presence.OFFLINE
    if agent.status == Presence.AWAY or not (in_slack or _after(agent.last_active_at, idle_since)):
        return Presence.AWAY
    return Presence.ONLINE


def available_now(now: datetime, idle_s: float = DEFAULT_IDLE_S) -> ColumnElement[bool]:
    """The SQL twin of `presence_of(...) is ONLINE`."""
    idle_since = now - timedelta(seconds=idle_s)
    return and_(
        Agent.active.is_(True),
        Agent.status == Presence.ONLINE.value,
        or_(
            and_(
                Agent.last_seen_at >= now - timedelta(seconds=SEEN_FOR_S),
                Agent.last_active_at >= idle_since,
            ),
            Agent.last_slack_at >= idle_since,
        ),
    )


def _after(moment: datetime | None, since: datetime) -> bool:
    return moment is not None and moment >= since
