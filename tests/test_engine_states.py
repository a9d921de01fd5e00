"""Hypothesis drives the engine's state machine with random sequences of customer messages and
agent actions; after every step the conversation must be in a state the design allows, the
bot must be silent while a person owns or awaits the chat, and an agent must own exactly the
chats in state `agent`."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select

from bot.services import Services, build_services, running
from bot.settings import load_settings
from bot.states import TRANSITIONS, StateConflict
from channels.base import InboundMessage
from escalation.queue import AgentUnavailable
from models import Agent, Conversation, ConversationState
from tests.conftest import RecordingChannel

SAID = st.sampled_from(
    [
        "how do I reset my password?",
        "I want to talk to a human",
        "qwzx plorf vbnm",
        "this is the third time, STILL broken!!!",
        "5",
        "thanks",
    ]
)
SHARED_MODELS = Path(tempfile.mkdtemp(prefix="deskbot-hypothesis-models-"))


class ConversationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.directory = Path(tempfile.mkdtemp(prefix="deskbot-states-"))
        (self.directory / "nlu").mkdir()
        (self.directory / "nlu" / "local").symlink_to(SHARED_MODELS)
        config = load_settings(
            None,
            data_dir=self.directory,
            log_json=False,
            log_level="ERROR",
            outbox_poll_interval_s=0.05,
        )
        self.services: Services = self.run(
            self.stack.enter_async_context(
                running(build_services(config, {"test": RecordingChannel()}))
            )
        )
        self.thread = f"thread-{uuid.uuid4().hex[:8]}"
        self.state: str | None = None
        self.agents: list[int] = []

    def run(self, job: Any) -> Any:
        return self.loop.run_until_complete(job)

    def teardown(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()

    @initialize()
    def add_agents(self) -> None:
        async def add() -> list[int]:
            async with self.services.sessions() as session:
                agents = [
                    Agent(
                        email=f"{n}@acme.test",
                        name=n,
                        status="online",
                        teams=["support", "billing", "trust"],
                    )
                    for n in ("ann", "bob")
                ]
                session.add_all(agents)
                await session.commit()
                return [a.id for a in agents]

        self.agents = self.run(add())

    def conversation(self) -> Conversation | None:
        async def load() -> Conversation | None:
            async with self.services.sessions() as session:
                return await session.scalar(
                    select(Conversation)
                    .where(Conversation.external_thread == self.thread)
                    .order_by(Conversation.id.desc())
                )

        return self.run(load())

    def moved(self, before: str | None, reopens: bool = False) -> None:
        """A customer's message to a resolved chat reopens it with the bot, whose turn may then
        escalate it: two transitions in one step."""
        conversation = self.conversation()
        after = conversation.state if conversation else None
        if before is not None and after is not None and before != after:
            allowed = set(TRANSITIONS[ConversationState(before)])
            if reopens and before == "resolved":
                allowed |= TRANSITIONS[ConversationState.BOT]
            assert ConversationState(after) in allowed, f"{before} -> {after}"
        self.state = after

    @rule(text=SAID)
    def customer_says(self, text: str) -> None:
        before = self.state
        inbound = InboundMessage("test", "customer", self.thread, uuid.uuid4().hex, text)
        result = self.run(self.services.engine.receive(inbound))
        if before == "agent":
            assert result.replies == [], f"the bot spoke in state {before}"
        if before == "queued":  # the bot may answer a clear question; the chat stays queued
            assert result.state == "queued" and len(result.replies) <= 1
            assert all(r.sender_kind == "bot" for r in result.replies)
        self.moved(before, reopens=True)

    @rule(which=st.integers(0, 1))
    def agent_claims(self, which: int) -> None:
        conversation = self.conversation()
        if conversation is None:
            return
        before = self.state
        try:
            self.run(self.services.engine.claim(conversation.id, self.agents[which]))
            assert before in {"bot", "queued"}
        except StateConflict:
            assert before in {"agent", "resolved"}
        except AgentUnavailable:
            pass
        self.moved(before)

    @rule(which=st.integers(0, 1), text=st.text(min_size=1, max_size=40).filter(str.strip))
    def agent_replies(self, which: int, text: str) -> None:
        conversation = self.conversation()
        if conversation is None:
            return
        owner = (
            conversation.state == "agent" and conversation.assigned_agent_id == self.agents[which]
        )
        try:
            self.run(self.services.engine.agent_reply(conversation.id, self.agents[which], text))
            assert owner, "only the owning agent may reply"
        except StateConflict:
            assert not owner
        except ValueError:  # text that is only control characters
            pass
        self.moved(conversation.state)

    @rule(which=st.integers(0, 1))
    def agent_hands_back(self, which: int) -> None:
        conversation = self.conversation()
        if conversation is None:
            return
        before = self.state
        try:
            self.run(self.services.engine.hand_back(conversation.id, self.agents[which]))
            assert before == "agent"
        except StateConflict:
            pass
        self.moved(before)

    @rule()
    def resolve(self) -> None:
        conversation = self.conversation()
        if conversation is None:
            return
        before = self.state
        try:
            self.run(self.services.engine.resolve(conversation.id, "test"))
            assert before != "resolved"
        except StateConflict:
            assert before == "resolved"
        self.moved(before)

    @invariant()
    def an_agent_owns_exactly_the_agent_state(self) -> None:
        conversation = self.conversation()
        if conversation is None:
            return
        if conversation.state == "agent":
            assert conversation.assigned_agent_id in self.agents
        elif conversation.state in {"bot", "queued"}:
            assert conversation.assigned_agent_id is None


ConversationMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_conversation_state_machine = ConversationMachine.TestCase
