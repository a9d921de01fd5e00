"""What admins set for the web-chat widget: its welcome message per language and whether
visitors leave their name and email before chatting. Live in every process (reloaded with
the escalation policy)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from escalation.overrides import read_overrides, write_overrides

KEY = "webchat"
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]
Welcome = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]

DEFAULT_WELCOME = {
    "en": 'Hi! I\'m the support assistant. Ask me a question, or write "agent" to reach a person.',
    "zh": "您好！我是智能客服助手。请直接提问；如需人工服务，请输入“人工”。",
}


class WebchatView(BaseModel):
    welcome: dict[str, str] = Field(
        description="The first message a new visitor sees, per language code; empty: none."
    )
    prechat_form: bool = Field(
        description="Visitors give their name and email before their first message."
    )
    ask_email_when_away: bool = Field(
        description="When nobody of the team is there, the widget offers to reply by email."
    )


class WebchatUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    welcome: dict[Language, Welcome] | None = Field(default=None, max_length=20)
    prechat_form: bool | None = None
    ask_email_when_away: bool | None = None


DEFAULTS = WebchatView(welcome=DEFAULT_WELCOME, prechat_form=False, ask_email_when_away=True)


class WebchatSettings:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.current = DEFAULTS

    async def load(self) -> WebchatView:
        stored = await read_overrides(self._sessions, KEY)
        self.current = _merged(stored)
        return self.current

    async def update(self, change: WebchatUpdate, actor: str) -> WebchatView:
        values = change.model_dump(exclude_none=True)
        if "welcome" in values:  # a language left empty has no welcome
            values["welcome"] = {**self.current.welcome, **values["welcome"]}
        merged = await write_overrides(self._sessions, KEY, values, actor, _merged)
        self.current = _merged(merged)
        return self.current

    def welcome(self, language: str) -> str | None:
        """The admin's text for the language; English where it has none; an emptied text
        means no welcome in that language."""
        texts = self.current.welcome
        for key in (language, language.split("-")[0]):
            if key in texts:
                return texts[key] or None
        return texts.get("en") or None


def _merged(stored: dict[str, Any]) -> WebchatView:
    known = {k: v for k, v in stored.items() if k in WebchatView.model_fields}
    return DEFAULTS.model_copy(update=known)
