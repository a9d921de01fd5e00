"""Accounts: add, list, disable, authenticate. An agent row without a password cannot sign in."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.accounts.passwords import WeakPassword, hash_password, verify_password
from models import Agent, AgentRole, AuditEntry, LoginSession
from models.base import utcnow

REDACTED = "(set)"  # what the audit trail says of a password: that it was set, never what


class AccountError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class Users:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(
        self,
        email: str,
        name: str,
        role: AgentRole,
        password: str | None,
        actor: str,
        teams: Sequence[str] = ("support",),
        **fields: Any,
    ) -> Agent:
        """A new user, audited as "user_added"; without a password they cannot sign in."""
        email, name = email.strip().lower(), name.strip()
        password_hash = (
            None if password is None else await asyncio.to_thread(_hash, password, (email, name))
        )
        async with self._sessions() as session:
            agent = Agent(
                email=email,
                name=name,
                role=role.value,
                password_hash=password_hash,
                teams=list(teams),
                **fields,
            )
            session.add(agent)
            try:
                await session.flush()
            except IntegrityError:
                raise AccountError(f"a user with email {email} exists", status=409) from None
            details = {"role": role.value, "teams": list(teams), **fields}
            if password_hash is not None:
                details["password"] = REDACTED
            session.add(_audit(actor, "user_added", agent, details))
            await session.commit()
            return agent

    async def list(self) -> list[Agent]:
        async with self._sessions() as session:
            return list((await session.scalars(select(Agent).order_by(Agent.id))).all())

    async def count_with_password(self) -> int:
        async with self._sessions() as session:
            statement = select(func.count()).where(Agent.password_hash.is_not(None))
            return int(await session.scalar(statement) or 0)

    async def disable(self, email: str, actor: str) -> Agent:
        """Disabled users cannot sign in, and their open browser sessions end at once."""
        async with self._sessions() as session:
            agent = await session.scalar(select(Agent).where(Agent.email == email.strip().lower()))
            if agent is None:
                raise AccountError(f"no user with email {email}", status=404)
            agent.active = False
            agent.status = "offline"
            await session.execute(delete(LoginSession).where(LoginSession.agent_id == agent.id))
            session.add(_audit(actor, "user_disabled", agent, {}))
            await session.commit()
            return agent

    async def update(self, agent_id: int, changes: dict[str, Any], actor: str) -> Agent:
        """Change role, teams, capacity, status, activity or password; deactivating signs out."""
        changes = dict(changes)  # the caller's dict, with the plain password, stays theirs
        password = changes.pop("password", None)
        async with self._sessions() as session:
            agent = await session.get(Agent, agent_id)
            if agent is None:
                raise AccountError(f"no user {agent_id}", status=404)
            if password is not None:
                changes["password_hash"] = await asyncio.to_thread(
                    _hash, password, (agent.email, agent.name)
                )
            admin_before = await _usable_admins(session)
            for name, value in changes.items():
                setattr(agent, name, value)
            if changes.get("active") is False:
                agent.status = "offline"
                await session.execute(delete(LoginSession).where(LoginSession.agent_id == agent_id))
            await session.flush()
            if admin_before and not await _usable_admins(session):
                raise AccountError("that would leave nobody who can sign in as admin", status=409)
            audited = {k: v for k, v in changes.items() if k != "password_hash"}
            if password is not None:
                audited["password"] = REDACTED
                # A reset password ends every session opened with the old one.
                await session.execute(delete(LoginSession).where(LoginSession.agent_id == agent_id))
            session.add(_audit(actor, "user_changed", agent, audited))
            await session.commit()
            return agent

    async def set_status(self, agent_id: int, status: str) -> None:
        async with self._sessions() as session:
            agent = await session.get(Agent, agent_id)
            if agent is None:
                raise AccountError(f"no user {agent_id}", status=404)
            agent.status = status
            await session.commit()

    async def heartbeat(self, agent_id: int, active: bool, gone: bool = False) -> Agent:
        """A staff page of the agent's is open (`active`: they used it since the last beat),
        or it is closing (`gone`: offline until a page beats again)."""
        now = utcnow()
        values: dict[str, Any] = {"last_seen_at": None if gone else now}
        if active and not gone:
            values["last_active_at"] = now
        async with self._sessions() as session:
            await session.execute(update(Agent).where(Agent.id == agent_id).values(**values))
            await session.commit()
            agent = await session.get(Agent, agent_id)
            if agent is None:
                raise AccountError(f"no user {agent_id}", status=404)
            return agent

    async def authenticate(self, email: str, password: str) -> Agent | None:
        agent = None
        if "\x00" not in email:  # no stored email has one, and PostgreSQL refuses it in a query
            async with self._sessions() as session:
                agent = await session.scalar(
                    select(Agent).where(Agent.email == email.strip().lower())
                )
        # argon2 takes tens of milliseconds of CPU: off the event loop, chats go on meanwhile
        stored = agent.password_hash if agent else None
        if not await asyncio.to_thread(verify_password, stored, password):
            return None
        return agent if agent is not None and agent.active else None


async def _usable_admins(session: AsyncSession) -> int:
    """Active admins with a password: the people who can sign in and fix things."""
    statement = select(func.count()).where(
        Agent.role == AgentRole.ADMIN.value, Agent.active, Agent.password_hash.is_not(None)
    )
    return int(await session.scalar(statement) or 0)


def _hash(password: str, context: Sequence[str]) -> str:
    try:
        return hash_password(password, context)
    except WeakPassword as exc:
        raise AccountError(str(exc)) from None


def _audit(actor: str, action: str, agent: Agent, details: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        actor=actor, action=action, entity="user", entity_id=agent.email, details=details
    )
