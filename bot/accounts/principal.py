"""Who is asking, and what their role lets them see."""

from __future__ import annotations

from dataclasses import dataclass

from models import AgentRole, Conversation


@dataclass(frozen=True, slots=True)
class Principal:
    agent_id: int | None
    email: str
    name: str
    role: AgentRole
    teams: tuple[str, ...] = ()
    csrf_token: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is AgentRole.ADMIN

    def can_see(self, conversation: Conversation) -> bool:
        """Admins see everything; an agent sees their own chats and their teams' queue."""
        if self.is_admin:
            return True
        if conversation.assigned_agent_id is not None:
            return conversation.assigned_agent_id == self.agent_id
        return conversation.team is not None and conversation.team in self.teams


API_TOKEN_PRINCIPAL = Principal(
    agent_id=None, email="admin-api", name="API token", role=AgentRole.ADMIN
)
