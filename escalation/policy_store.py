"""Policy thresholds and weights that admins change at runtime, kept in the database."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from escalation.overrides import read_overrides, write_overrides
from escalation.policy import PolicySettings

KEY = "escalation_policy"


class PolicyUpdate(BaseModel):
    """Every field optional: an update changes what it names."""

    model_config = ConfigDict(extra="forbid")

    fallback_streak_to_escalate: int | None = Field(default=None, ge=1, le=10)
    escalate_at: float | None = Field(default=None, gt=0, le=10)
    offer_at: float | None = Field(default=None, gt=0, le=10)
    weight_negative: float | None = Field(default=None, ge=0, le=5)
    weight_negative_streak: float | None = Field(default=None, ge=0, le=5)
    weight_churn: float | None = Field(default=None, ge=0, le=5)
    churn_floor: float | None = Field(default=None, ge=0, lt=1)
    churn_high: float | None = Field(default=None, gt=0, le=1)
    weight_tier: float | None = Field(default=None, ge=0, le=5)
    weight_topic: float | None = Field(default=None, ge=0, le=5)
    weight_rejected: float | None = Field(default=None, ge=0, le=5)
    weight_repeat_contact: float | None = Field(default=None, ge=0, le=5)
    weight_intensity: float | None = Field(default=None, ge=0, le=5)
    angry_score: float | None = Field(default=None, ge=-1, le=0)
    escalate_on_threats: bool | None = None
    unsure_below: float | None = Field(default=None, ge=0, le=1)


class PolicyView(BaseModel):
    fallback_streak_to_escalate: int
    escalate_at: float
    offer_at: float
    weight_negative: float
    weight_negative_streak: float
    weight_churn: float
    churn_floor: float
    churn_high: float
    weight_tier: float
    weight_topic: float
    weight_rejected: float
    weight_repeat_contact: float
    weight_intensity: float
    angry_score: float
    escalate_on_threats: bool
    unsure_below: float


class PolicyStore:
    """The live policy: defaults from the config file, overrides from admins in the database."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], defaults: PolicySettings
    ) -> None:
        self._sessions = sessions
        self._defaults = defaults
        self.current = defaults

    async def load(self) -> PolicySettings:
        known = {f.name for f in dataclasses.fields(PolicySettings)}
        stored = await read_overrides(self._sessions, KEY)
        overrides = {k: v for k, v in stored.items() if k in known}
        self.current = dataclasses.replace(self._defaults, **overrides)
        return self.current

    async def update(self, change: PolicyUpdate, actor: str) -> PolicySettings:
        merged = await write_overrides(
            self._sessions, KEY, change.model_dump(exclude_none=True), actor, self._check
        )
        self.current = dataclasses.replace(self._defaults, **merged)
        return self.current

    def _check(self, merged: dict[str, object]) -> None:
        candidate = dataclasses.replace(self._defaults, **merged)
        if candidate.offer_at > candidate.escalate_at:
            raise ValueError("offer_at must not be above escalate_at")

    @staticmethod
    def view(settings: PolicySettings) -> PolicyView:
        return PolicyView(**dataclasses.asdict(settings))
