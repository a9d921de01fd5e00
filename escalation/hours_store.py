"""Business hours and SLA targets: defaults from the configuration, admin overrides at runtime.

The queue's clocks use whatever is live; every process reloads it with the policy.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from escalation.overrides import read_overrides, write_overrides
from escalation.queue import Queue
from escalation.sla import BusinessHours, BusinessHoursError, SlaTargets

KEY = "service_hours"
WEEK_S = 7 * 24 * 3600


class HoursView(BaseModel):
    business_hours: str
    business_timezone: str
    sla_first_response_s: int
    sla_resolution_s: int


class HoursUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    business_hours: str | None = Field(default=None, max_length=200)
    business_timezone: str | None = Field(default=None, max_length=64)
    sla_first_response_s: int | None = Field(default=None, ge=1, le=WEEK_S)
    sla_resolution_s: int | None = Field(default=None, ge=1, le=4 * WEEK_S)


class HoursStore:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], defaults: HoursView, queue: Queue
    ) -> None:
        self._sessions = sessions
        self._defaults = defaults
        self._queue = queue
        self.current = defaults

    async def load(self) -> HoursView:
        stored = await read_overrides(self._sessions, KEY)
        known = {k: v for k, v in stored.items() if k in HoursView.model_fields}
        self._apply(self._defaults.model_copy(update=known))
        return self.current

    async def update(self, change: HoursUpdate, actor: str) -> HoursView:
        merged = await write_overrides(
            self._sessions, KEY, change.model_dump(exclude_none=True), actor, self._check
        )
        self._apply(self._defaults.model_copy(update=merged))
        return self.current

    def _check(self, merged: dict[str, Any]) -> None:
        view = self._defaults.model_copy(update=merged)
        try:
            BusinessHours.parse(view.business_hours, view.business_timezone)
        except BusinessHoursError as exc:
            raise ValueError(str(exc)) from None
        if view.sla_resolution_s < view.sla_first_response_s:
            raise ValueError("the resolution target must not be shorter than the first response")

    def _apply(self, view: HoursView) -> None:
        self._queue.settings = dataclasses.replace(
            self._queue.settings,
            hours=BusinessHours.parse(view.business_hours, view.business_timezone),
            sla=SlaTargets(
                timedelta(seconds=view.sla_first_response_s),
                timedelta(seconds=view.sla_resolution_s),
            ),
        )
        self.current = view
