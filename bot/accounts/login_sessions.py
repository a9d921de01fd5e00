"""Browser sessions kept in the database, so any process can check them and disable ends them.

The cookie holds a random token; the table holds only its SHA-256, so a leaked database
does not sign anyone in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts.principal import Principal
from models import Agent, AgentRole, LoginSession
from models.base import utcnow


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginSessions:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_age_s: int) -> None:
        self._sessions = sessions
        self.max_age_s = max_age_s

    async def start(self, agent_id: int) -> str:
        token = secrets.token_urlsafe(32)
        async with self._sessions() as session:
            session.add(
                LoginSession(
                    token_hash=_digest(token),
                    agent_id=agent_id,
                    csrf_token=secrets.token_urlsafe(32),
                    expires_at=utcnow() + timedelta(seconds=self.max_age_s),
                )
            )
            await session.commit()
        return token

    async def principal(self, token: str) -> Principal | None:
        async with self._sessions() as session:
            row = await session.get(LoginSession, _digest(token))
            if row is None:
                return None
            if row.expires_at <= utcnow():
                await session.delete(row)
                await session.commit()
                return None
            agent = await session.get(Agent, row.agent_id)
        if agent is None or not agent.active:
            return None
        return Principal(
            agent_id=agent.id,
            email=agent.email,
            name=agent.name,
            role=AgentRole(agent.role),
            teams=tuple(agent.teams),
            csrf_token=row.csrf_token,
        )

    async def end(self, token: str) -> None:
        async with self._sessions() as session:
            await session.execute(
                delete(LoginSession).where(LoginSession.token_hash == _digest(token))
            )
            await session.commit()

    async def purge_expired(self) -> None:
        async with self._sessions() as session:
            await session.execute(delete(LoginSession).where(LoginSession.expires_at <= utcnow()))
            await session.commit()
