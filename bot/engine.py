"""The conversation engine: every inbound message and every state change goes through here."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bus import EventBus
from bot.choices import (
    CLARIFY,
    MAX_OPTIONS,
    Answer,
    ChoiceReply,
    clarify_pending,
    confirm_pending,
    is_plain_answer,
    read_reply,
)
from bot.events import (
    AGENTS_TOPIC,
    AgentTyping,
    ConversationChanged,
    MessageCreated,
    MessageView,
    conversation_topic,
    thread_topic,
)
from bot.nlu.rejection import is_bare_rejection
from bot.nlu.result import DECLINED_INTENT, OUT_OF_SCOPE_INTENT, IntentScore, NluResult, Outcome
from bot.nlu.service import NluService
from bot.nlu.text import detect_language
from bot.replies import say
from bot.sender_throttle import Admission, SenderThrottle
from bot.states import StateConflict, transition
from channels.base import InboundMessage, clean_text
from channels.webchat_away import WEBCHAT, away_address, email_thread
from escalation.customers import customer_by_email
from escalation.policy import HANDOFF_INTENT, Action, Decision, decide
from escalation.policy_store import PolicyStore
from escalation.queue import AgentUnavailable, Queue, check_capacity
from escalation.sentiment import Label, Sentiment, SentimentAnalyzer
from escalation.signals import History, SignalGatherer
from knowledge.articles.answer import ArticleResponder
from knowledge.service import KnowledgeBase
from models import (
    Agent,
    Conversation,
    ConversationNote,
    ConversationState,
    Customer,
    CustomerIdentity,
    Direction,
    Message,
    OutboxItem,
    SenderKind,
)
from models.base import utcnow

log = logging.getLogger(__name__)
S = ConversationState
EMAIL_CHANNEL = "email"
CSAT_BUTTONS = [{"title": str(n), "payload": str(n)} for n in range(1, 6)]
UNANSWERED_BATCH = 100

# Built once: constructing a statement costs more CPU than running it.
_BY_EXTERNAL_ID = select(Message).where(
    Message.channel == bindparam("channel"), Message.external_id == bindparam("external_id")
)
_CUSTOMER_OF = select(CustomerIdentity.customer_id).where(
    CustomerIdentity.channel == bindparam("channel"),
    CustomerIdentity.external_user == bindparam("external_user"),
)
_LATEST_CONVERSATION = (
    select(Conversation)
    .where(
        Conversation.channel == bindparam("channel"),
        Conversation.external_thread == bindparam("external_thread"),
        Conversation.customer_id == bindparam("customer_id"),
    )
    .order_by(Conversation.id.desc())
    .limit(1)
)
_MESSAGE_COLUMNS = tuple(c.key for c in Message.__table__.columns if c.key != "id")
_INSERT_MESSAGE = insert(Message.__table__).returning(Message.__table__.c.id)
_INSERT_OUTBOX = insert(OutboxItem.__table__)
_MARK_ANSWERED = (
    update(Message)
    .where(Message.id == bindparam("message_id"), Message.handled_at.is_(None))
    .values(
        intent=bindparam("intent"),
        confidence=bindparam("confidence"),
        handled_at=bindparam("handled_at"),
        meta=bindparam("meta"),
    )
    .execution_options(synchronize_session=False)
)
_RATING = re.compile(r"\s*([1-5])\s*(/\s*5|stars?|星|分)?\s*[.!。！]?\s*", re.IGNORECASE)


IRREVERSIBLE_CONFIDENCE = 0.97
IRREVERSIBLE_SIMILARITY = 0.85
"""An irreversible intent's answer goes out without asking only for an unmistakable question:
near-certain, and nearly the words of one of its examples."""
REJECTED_INTENT = "rejected_answer"
TURN_ATTEMPTS = 3
HANDOFF_META = "handoff"
"""Marks the bot's hand-off message: the customer's next message is acknowledged."""
CHOICE_ENGINE = "choice"
"""The NLU result is the customer's answer to what the bot asked, not a parse."""
"""The customer said the last answer did not help."""
NO_MOOD = Sentiment(0.0, Label.NEUTRAL, (), "none")


@dataclass(frozen=True, slots=True)
class BotReply:
    texts: list[str]
    meta: dict[str, Any] | None = None
    """On the last message: quick replies for the widget."""
    pending: dict[str, Any] | None = None
    """What the bot now waits for the customer to choose."""


class ConversationNotFound(LookupError):
    status = 404


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    conversation_id: int
    message_id: int
    state: str
    duplicate: bool = False
    replies: list[MessageView] = field(default_factory=list)


class _AlreadyAnswered(Exception):
    """Another delivery of the same message finished the bot's turn first."""


class _TurnRaced(Exception):
    """The conversation changed between reading it and committing the bot's turn."""

    def __init__(self, nlu: NluResult) -> None:
        super().__init__(nlu.intent)
        self.nlu = nlu


@dataclass(slots=True)
class Accepted:
    """A customer's message, stored: what answer() needs for the bot's turn."""

    conversation: Conversation
    message: Message
    external_user: str
    """The customer's id on the channel, where replies go."""
    duplicate: bool
    needs_bot: bool
    reopened: bool = False
    notice: Message | None = None
    """What the system said at once: thanks for a rating, or "slow down" to a flood."""
    history: History | None = None
    """Read in the same transaction when the bot is to answer."""
    mood: Sentiment | None = None
    """The message's sentiment as storing it scored it (the bot's turn reuses it)."""
    while_queued: bool = False
    """Written while the chat waits for a person: the bot may still answer a clear question."""


class ConversationEngine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        knowledge: KnowledgeBase,
        nlu: NluService,
        bus: EventBus,
        policy: PolicyStore,
        signals: SignalGatherer,
        sentiment: SentimentAnalyzer,
        queue: Queue,
        throttle: SenderThrottle,
        max_message_chars: int,
        outbox_ready: Callable[[], None] = lambda: None,
        articles: ArticleResponder | None = None,
        email_away_visitors: bool = False,
    ) -> None:
        """`email_away_visitors`: the email channel is set up, so a web-chat visitor who left
        the page gets an agent's reply by email too."""
        self._sessions = sessions
        self._knowledge = knowledge
        self._nlu = nlu
        self._bus = bus
        self._policy = policy
        self._signals = signals
        self._sentiment = sentiment
        self._queue = queue
        self._throttle = throttle
        self._max_chars = max_message_chars
        self._outbox_ready = outbox_ready
        self._articles = articles
        self._email_away = email_away_visitors

    @property
    def max_message_chars(self) -> int:
        return self._max_chars

    # --- customers write ---------------------------------------------------------------

    async def receive(self, inbound: InboundMessage) -> ReceiveResult:
        """Store the message exactly once; let the bot answer if (and only if) it owns the chat."""
        return await self.answer(await self.accept(inbound))

    async def accept(self, inbound: InboundMessage) -> Accepted:
        """Store the message exactly once and announce it. A channel that must acknowledge
        quickly answers later; if the process dies first, answer_unanswered() catches up."""
        text = clean_text(inbound.text, self._max_chars)
        stored = await self._store_inbound(inbound, text)
        if stored.reopened:
            await self._after_commit_state(
                stored.conversation.id, S.BOT, S.RESOLVED, "customer wrote again"
            )
        if not stored.duplicate:
            await self._announce(MessageView.of(stored.message))
        if stored.notice is not None:
            await self._announce(MessageView.of(stored.notice))
            self._outbox_ready()
        return stored

    async def answer(self, stored: Accepted) -> ReceiveResult:
        """The bot's turn for a stored message, if the bot owns the chat and nobody answered."""
        conversation, message = stored.conversation, stored.message
        if stored.notice is not None:
            notice = MessageView.of(stored.notice)
            return ReceiveResult(conversation.id, message.id, conversation.state, False, [notice])
        if stored.while_queued:
            replies = await self._while_queued(stored)
            return ReceiveResult(conversation.id, message.id, S.QUEUED.value, False, replies)
        if not stored.needs_bot:
            return ReceiveResult(
                conversation.id, message.id, conversation.state, duplicate=stored.duplicate
            )
        history = stored.history or await self._signals.history(conversation, message)
        mood = stored.mood or self._mood(message.text, conversation.pending_choice)
        replies, state = await self._bot_turn(
            conversation, message, history, mood, stored.external_user
        )
        return ReceiveResult(conversation.id, message.id, state, stored.duplicate, replies)

    async def answer_unanswered(self, grace: timedelta, max_age: timedelta) -> int:
        """Give the bot its turn on messages stored at least `grace` ago but never answered
        (the process died between the two, or the turn failed) when the channel will not
        redeliver them. Messages older than `max_age` are left to agents: a bot answer hours
        late helps nobody. Returns how many were answered."""
        now = utcnow()
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Message, Conversation, CustomerIdentity.external_user)
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .join(
                        CustomerIdentity,
                        (CustomerIdentity.customer_id == Conversation.customer_id)
                        & (CustomerIdentity.channel == Conversation.channel),
                    )
                    .where(
                        Message.handled_at.is_(None),
                        Message.direction == Direction.IN.value,
                        Message.created_at < now - grace,
                        Message.created_at > now - max_age,
                        Conversation.state == S.BOT.value,
                    )
                    .order_by(Message.id)
                    .limit(UNANSWERED_BATCH)
                )
            ).all()
        answered = 0
        for message, conversation, external_user in rows:
            try:
                result = await self.answer(
                    Accepted(conversation, message, external_user, True, needs_bot=True)
                )
            except Exception:
                log.exception("answering a stored message failed", extra={"id": message.id})
                continue
            answered += bool(result.replies)
        if rows:
            log.warning("caught up on unanswered messages", extra={"answered": answered})
        return answered

    async def _store_inbound(self, inbound: InboundMessage, text: str) -> Accepted:
        for _attempt in range(3):
            try:
                return await self._try_store_inbound(inbound, text)
            except IntegrityError:
                continue  # a concurrent delivery of the same message or customer won the race
            except DBAPIError as exc:
                # The database dropped the connection before the pool noticed (a restart, a
                # terminated backend); SQLAlchemy has now discarded the pool's old connections.
                if not exc.connection_invalidated:
                    raise
                log.warning("database connection was gone; storing the message again")
        raise RuntimeError("could not store the message after three attempts")

    async def _try_store_inbound(self, inbound: InboundMessage, text: str) -> Accepted:
        async with self._sessions() as session:
            existing = await session.scalar(
                _BY_EXTERNAL_ID, {"channel": inbound.channel, "external_id": inbound.external_id}
            )
            if existing is not None:
                conversation = await session.get_one(Conversation, existing.conversation_id)
                # Replayed after a crash between storing and answering: answer it now.
                unanswered = existing.handled_at is None and conversation.state == S.BOT
                return Accepted(conversation, existing, inbound.external_user, True, unanswered)
            customer_id = await self._customer_id(session, inbound)
            conversation, reopened, rating = await self._open_conversation(
                session, inbound, customer_id, text
            )
            admission = Admission.ANSWER
            if conversation.state in (S.BOT, S.QUEUED):
                admission = await self._throttle.admit(inbound.channel, inbound.external_user)
            meta = dict(inbound.meta)
            if admission is not Admission.ANSWER:
                meta["throttled"] = True  # kept for agents; the bot does not answer it
            if rating is not None:
                meta["rating"] = rating
            mood = self._mood(text, conversation.pending_choice)
            message = Message(
                conversation_id=conversation.id,
                channel=inbound.channel,
                external_id=inbound.external_id,
                direction=Direction.IN.value,
                sender_kind=SenderKind.CUSTOMER.value,
                text=text,
                sentiment=mood.score,
                sent_at=inbound.sent_at,
                meta=meta,
            )
            needs_bot = conversation.state == S.BOT and admission is Admission.ANSWER
            while_queued = conversation.state == S.QUEUED and admission is Admission.ANSWER
            if not needs_bot:
                message.handled_at = utcnow()
            await _insert_message(session, message)
            history = None
            if needs_bot:
                history = await self._signals.history_in(session, conversation, message)
            notice = None
            notice_key = _notice_key(rating, admission, conversation.state)
            if notice_key is not None:
                notice = await self._add_outbound(
                    session,
                    conversation,
                    say(notice_key, conversation.language),
                    SenderKind.SYSTEM,
                    None,
                    external_user=inbound.external_user,
                )
            await session.commit()
            return Accepted(
                conversation,
                message,
                inbound.external_user,
                False,
                needs_bot,
                reopened,
                notice,
                history,
                mood,
                while_queued,
            )

    async def _customer_id(self, session: AsyncSession, inbound: InboundMessage) -> int:
        customer_id = await session.scalar(
            _CUSTOMER_OF, {"channel": inbound.channel, "external_user": inbound.external_user}
        )
        if customer_id is not None:
            return customer_id
        address = inbound.external_user if inbound.channel == EMAIL_CHANNEL else None
        # A CRM customer writing from their address is that customer, on every channel.
        customer = await customer_by_email(session, address) if address else None
        if customer is None:
            customer = Customer(display_name=inbound.display_name or "", email=address)
            session.add(customer)
            await session.flush()
        session.add(
            CustomerIdentity(
                customer_id=customer.id,
                channel=inbound.channel,
                external_user=inbound.external_user,
                # a web-chat visitor writing now is on the page (their socket beats from here)
                seen_at=utcnow() if inbound.channel == WEBCHAT else None,
            )
        )
        await session.flush()
        return customer.id

    async def _open_conversation(
        self, session: AsyncSession, inbound: InboundMessage, customer_id: int, text: str
    ) -> tuple[Conversation, bool, int | None]:
        """The thread's latest conversation, or a new one; (conversation, reopened, rating).

        On a resolved conversation a bare 1–5 answers the satisfaction question; anything
        else reopens it with the bot.
        """
        conversation = await session.scalar(
            _LATEST_CONVERSATION,
            {
                "channel": inbound.channel,
                "external_thread": inbound.external_thread,
                "customer_id": customer_id,
            },
        )
        if conversation is None:
            conversation = Conversation(
                customer_id=customer_id,
                channel=inbound.channel,
                external_thread=inbound.external_thread,
                language=detect_language(text),
            )
            session.add(conversation)
            await session.flush()
            return conversation, False, None
        if conversation.state != S.RESOLVED:
            return conversation, False, None
        rating = _RATING.fullmatch(text)
        if rating and conversation.csat is None:
            conversation.csat = int(rating.group(1))
            return conversation, False, conversation.csat
        await transition(
            session,
            conversation.id,
            S.RESOLVED,
            S.BOT,
            fallback_streak=0,
            resolved_at=None,
            assigned_agent_id=None,
            pending_choice=None,
        )
        await session.refresh(conversation)
        return conversation, True, None

    # --- the bot's turn ----------------------------------------------------------------

    async def _bot_turn(
        self,
        conversation: Conversation,
        message: Message,
        history: History,
        sentiment: Sentiment,
        customer: str,
    ) -> tuple[list[MessageView], str]:
        """`customer`: their id on the channel, where the replies go. A turn that another
        turn of the same conversation beat to the commit is thought again on what that turn
        left (a second quick miss counts two); one that a person beat stays silent."""
        for _attempt in range(TURN_ATTEMPTS):
            try:
                return await self._try_bot_turn(conversation, message, history, sentiment, customer)
            except _TurnRaced as raced:
                fresh = await self._conversation(conversation.id)
                # A double-tapped "2" or "yes" (to a clarify, a confirmation or an article's
                # "did that help?"): the other tap answered the question this one answers.
                answered = is_plain_answer(message.text) or (
                    raced.nlu.engine == CHOICE_ENGINE
                    and fresh.pending_choice != conversation.pending_choice
                )
                if fresh.state != S.BOT or answered:
                    await self._mark_handled(message.id, raced.nlu)
                    return [], fresh.state
                conversation = fresh
                history = await self._signals.history(conversation, message)
        raise RuntimeError(f"message {message.id} lost the bot's turn {TURN_ATTEMPTS} times")

    async def _try_bot_turn(
        self,
        conversation: Conversation,
        message: Message,
        history: History,
        sentiment: Sentiment,
        customer: str,
    ) -> tuple[list[MessageView], str]:
        language = _language_of(message.text, conversation)
        nlu = await self._understand(
            message.text, conversation.pending_choice, language, bool(history.earlier)
        )
        if nlu.engine == CHOICE_ENGINE:  # an option's title picked in a chat of the other language
            language = conversation.language
        signals = await self._signals.gather(conversation, message, nlu, sentiment, history)
        decision = decide(signals, self._policy.current)
        reply = await self._reply(nlu, decision, language)
        if (
            self._articles is not None
            and nlu.engine != CHOICE_ENGINE
            and (
                article := await self._articles.turn(
                    conversation.id,
                    message.id,
                    message.text,
                    language,
                    conversation.channel,
                    decision,
                )
            )
        ):  # no confident intent, and a help-centre passage answers it (or a yes/no to one)
            decision, reply = article.decision, BotReply([article.text], article.meta)
        try:
            replies, state = await self._commit_bot_turn(
                conversation, message, nlu, decision, language, reply, customer
            )
        except StateConflict as conflict:
            # A person took the chat while we were thinking, or another turn committed.
            raise _TurnRaced(nlu) from conflict
        except _AlreadyAnswered:
            # A redelivery raced the first delivery's turn and lost: one answer, not two.
            return [], await self._state_of(conversation.id)
        for reply in replies:
            await self._announce(reply)
        if decision.action is Action.ESCALATE:
            await self._after_commit_state(conversation.id, S.QUEUED, S.BOT, decision.reason)
        self._outbox_ready()
        return replies, state

    async def _while_queued(self, stored: Accepted) -> list[MessageView]:
        """A customer waiting for a person is never left in silence: a clear FAQ question
        still gets the bot's answer (the chat stays in the queue), and the first other
        message after the hand-off gets the wait. Later ones wait for the agent quietly."""
        conversation, message = stored.conversation, stored.message
        language = _language_of(message.text, conversation)
        text = await self._answer_while_queued(message.text, language)
        acknowledging = text is None
        if acknowledging and await self._handoff_said_last(conversation.id):
            wait = await self._wait_notice(
                conversation.team, conversation.priority, language, conversation.id
            )
            text = f"{say('queued_ack', language)} {wait}"
        if text is None:
            return []
        reply = None
        for _attempt in range(TURN_ATTEMPTS):
            reply = await self._commit_while_queued(conversation, text, stored.external_user)
            if reply is not None:
                break
            conversation = await self._conversation(conversation.id)
            if conversation.state != S.QUEUED:
                return []  # an agent has the chat now
            if acknowledging and not await self._handoff_said_last(conversation.id):
                return []  # the bot has spoken since: its word stands for this one too
        if reply is None:
            return []
        view = MessageView.of(reply)
        await self._announce(view)
        self._outbox_ready()
        return [view]

    async def _commit_while_queued(
        self, conversation: Conversation, text: str, customer: str
    ) -> Message | None:
        """None when another turn of the chat, or an agent's claim, committed first."""
        async with self._sessions() as session:
            try:
                await transition(
                    session, conversation.id, S.QUEUED, S.QUEUED, bot_turns=conversation.bot_turns
                )
            except StateConflict:
                return None
            reply = await self._add_outbound(
                session, conversation, text, SenderKind.BOT, None, customer
            )
            await session.commit()
        return reply

    async def _answer_while_queued(self, text: str, language: str) -> str | None:
        nlu = await self._nlu.parse_async(text)
        clear = (
            nlu.outcome is Outcome.CONFIDENT
            and nlu.confidence >= self._policy.current.unsure_below
            and nlu.intent != HANDOFF_INTENT
        )
        if not clear or await self._knowledge.irreversible(nlu.intent):
            return None
        # Small talk ("hello?", "thanks") is no question: the wait notice answers it better.
        if (await self._knowledge.categories({nlu.intent})).get(nlu.intent) == "general":
            return None
        answer = await self._knowledge.answer(nlu.intent, language)
        return say("queued_answer", language, answer=answer) if answer else None

    async def _handoff_said_last(self, conversation_id: int) -> bool:
        """Nothing was said since the hand-off: the customer's first word since is answered."""
        async with self._sessions() as session:
            meta = await session.scalar(
                select(Message.meta)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.direction == Direction.OUT.value,
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
        return bool((meta or {}).get(HANDOFF_META))

    def _mood(self, text: str, pending: dict[str, Any] | None) -> Sentiment:
        """The message's sentiment; none for an answer to what the bot asked ("no", "2")."""
        if is_plain_answer(text) or (pending and read_reply(text, pending) is not None):
            return NO_MOOD
        return self._sentiment.score(text)

    async def _understand(
        self, text: str, pending: dict[str, Any] | None, language: str, answered_before: bool
    ) -> NluResult:
        """The customer's answer to what the bot asked, a rejection of its last answer, or
        the NLU's reading with an irreversible intent held back for confirmation.
        `answered_before`: the customer wrote before, so the bot has answered something."""
        if pending:
            titles = await self._option_titles(pending, language)
            chosen = read_reply(text, pending, titles)
            if chosen is not None:
                return await self._chosen(chosen, pending)
        nlu = await self._nlu.parse_async(text)
        if answered_before and is_bare_rejection(text):  # opening a chat, it is a problem
            return replace(nlu, intent=REJECTED_INTENT, outcome=Outcome.FALLBACK)
        if nlu.outcome is Outcome.CONFIDENT and await self._knowledge.irreversible(nlu.intent):
            unmistakable = (
                nlu.confidence >= IRREVERSIBLE_CONFIDENCE
                and (nlu.closest or 0.0) >= IRREVERSIBLE_SIMILARITY
            )
            if not unmistakable:
                return replace(nlu, outcome=Outcome.CONFIRM)
        return nlu

    async def _chosen(self, chosen: ChoiceReply, pending: dict[str, Any]) -> NluResult:
        """The customer's answer to the bot's question, read as an NLU result."""
        if chosen.answer is Answer.OUT_OF_RANGE:  # "5" to three options: ask again
            options = [str(o) for o in pending.get("options") or []]
            ranking = tuple(IntentScore(o, 1.0) for o in options)
            return NluResult(options[0], 1.0, ranking, Outcome.AMBIGUOUS, CHOICE_ENGINE, "")
        intent = chosen.intent if chosen.answer is Answer.CHOSE else DECLINED_INTENT
        assert intent is not None
        ranking = (IntentScore(intent, 1.0),)
        # "None of these" to the options offered: the bot has not understood yet.
        missed = intent == DECLINED_INTENT and pending.get("kind") == CLARIFY
        # Picking an option is saying which was meant: an irreversible one picked from the
        # list needs no second "yes" (the confirmation is for a guess, not a choice).
        outcome = Outcome.FALLBACK if missed else Outcome.CONFIDENT
        return NluResult(intent, 1.0, ranking, outcome, CHOICE_ENGINE, "")

    async def _option_titles(self, pending: dict[str, Any], language: str) -> list[str]:
        options = pending.get("options") or []
        return [await self._knowledge.sample_question(o, language) or o for o in options]

    async def _reply(self, nlu: NluResult, decision: Decision, language: str) -> BotReply:
        if decision.action is Action.ESCALATE:
            wait = await self._wait_notice(decision.team, decision.priority, language)
            return BotReply([say("handoff", language), wait], {HANDOFF_META: True})
        if nlu.intent == REJECTED_INTENT:
            return BotReply([say("rejected", language)])
        if nlu.intent == DECLINED_INTENT:
            return BotReply([say("declined", language)])
        if nlu.outcome is Outcome.OUT_OF_SCOPE:
            topics = await self._knowledge.sample_questions(language, 3)
            joined = say("out_of_scope_joiner", language).join(f"“{_as_title(t)}”" for t in topics)
            return BotReply([say("out_of_scope", language, topics=joined)])
        if nlu.outcome is Outcome.CONFIRM:
            question = await self._knowledge.sample_question(nlu.intent, language)
            buttons = [
                {"title": say("yes", language), "payload": "yes"},
                {"title": say("no", language), "payload": "no"},
            ]
            return BotReply(
                [say("confirm", language, question=question or nlu.intent)],
                {"quick_replies": buttons},
                confirm_pending(nlu.intent),
            )
        if decision.action is Action.CLARIFY or nlu.outcome is Outcome.AMBIGUOUS:
            again = nlu.engine == CHOICE_ENGINE  # a number that named no option
            clarify = await self._clarify(nlu, language, "clarify_again" if again else "clarify")
            if clarify is not None:
                return clarify
            if again:  # the options offered are gone (disabled since): no guessing among them
                return BotReply([say("fallback", language)])
        if decision.action in (Action.ANSWER, Action.CLARIFY, Action.OFFER_HUMAN):
            answer = await self._knowledge.answer(nlu.intent, language)
            if answer and decision.action is Action.OFFER_HUMAN:
                return BotReply([answer, say("offer_human", language)])
            if answer:
                return BotReply([answer])
        if decision.action is Action.OFFER_HUMAN:  # not understood, and the customer is upset
            button = {"title": say("talk_to_person", language), "payload": "agent"}
            return BotReply([say("offer_human_unclear", language)], {"quick_replies": [button]})
        return BotReply([say("fallback", language)])

    async def _clarify(
        self, nlu: NluResult, language: str, template: str = "clarify"
    ) -> BotReply | None:
        """Up to three intents to choose from, as numbered lines (text channels) and buttons
        (the web chat); None when fewer than two can be named (a disabled intent cannot)."""
        intents, titles = [], []
        for score in nlu.ranking:
            if score.name == OUT_OF_SCOPE_INTENT:
                continue
            title = await self._knowledge.sample_question(score.name, language)
            if title:
                intents.append(score.name)
                titles.append(_as_title(title))
            if len(intents) == MAX_OPTIONS:
                break
        if len(intents) < 2:
            return None
        lines = "\n".join(f"{i}. {title}" for i, title in enumerate(titles, 1))
        buttons = [{"title": t, "payload": str(i)} for i, t in enumerate(titles, 1)]
        return BotReply(
            [say(template, language, options=lines, count=str(len(titles)))],
            {"quick_replies": buttons},
            clarify_pending(intents),
        )

    async def _wait_notice(
        self, team: str | None, priority: int, language: str, waiting: int | None = None
    ) -> str:
        """`waiting`: the conversation, when it is in the queue already (not ahead of itself)."""
        estimate = await self._queue.estimate(team, priority, waiting)
        if not estimate.open_now:
            zone = self._queue.settings.hours.zone
            opens = estimate.opens_at.astimezone(zone).strftime("%a %H:%M ") + str(zone)
            return say("queue_closed", language, opens=opens)
        if not estimate.agents_available:  # open hours, but nobody at a console right now
            return say("queue_nobody", language, position=str(estimate.position))
        minutes = str(max(1, round(estimate.expected_wait_s / 60)))
        return say("queue_position", language, position=str(estimate.position), minutes=minutes)

    async def _commit_bot_turn(
        self,
        conversation: Conversation,
        message: Message,
        nlu: NluResult,
        decision: Decision,
        language: str,
        reply: BotReply,
        customer: str,
    ) -> tuple[list[MessageView], str]:
        async with self._sessions() as session:
            fields: dict[str, object] = {
                "fallback_streak": decision.fallback_streak,
                "language": language,
                "pending_choice": reply.pending if decision.action is not Action.ESCALATE else None,
            }
            target = S.BOT
            if decision.action is Action.ESCALATE:
                target = S.QUEUED
                now = self._queue.clock()
                first_due, resolution_due = self._queue.due_dates(now)
                fields.update(
                    escalation_reason=decision.reason,
                    priority=decision.priority,
                    team=decision.team,
                    escalated_at=now,
                    first_response_due_at=first_due,
                    resolution_due_at=resolution_due,
                    sla_breached=False,
                )
            claimed = await session.execute(
                _MARK_ANSWERED,
                {
                    "message_id": message.id,
                    "intent": nlu.intent,
                    "confidence": nlu.confidence,
                    "handled_at": utcnow(),
                    "meta": {**message.meta, "decision": _decision_record(decision)},
                },
            )
            if claimed.rowcount == 0:
                raise _AlreadyAnswered(message.id)
            await transition(
                session, conversation.id, S.BOT, target, bot_turns=conversation.bot_turns, **fields
            )
            last = len(reply.texts) - 1
            replies = [
                await self._add_outbound(
                    session,
                    conversation,
                    text,
                    SenderKind.BOT,
                    None,
                    external_user=customer,
                    meta=reply.meta if index == last else None,
                )
                for index, text in enumerate(reply.texts)
            ]
            await session.commit()
        return [MessageView.of(r) for r in replies], target.value

    async def _add_outbound(
        self,
        session: AsyncSession,
        conversation: Conversation,
        text: str,
        sender: SenderKind,
        agent_id: int | None,
        external_user: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Message:
        """A reply and its outbox row, in the caller's transaction; `external_user` saves
        looking the customer up when the caller knows who they are on the channel."""
        customer_identity = external_user or await session.scalar(
            select(CustomerIdentity.external_user).where(
                CustomerIdentity.customer_id == conversation.customer_id,
                CustomerIdentity.channel == conversation.channel,
            )
        )
        reply = Message(
            conversation_id=conversation.id,
            channel=conversation.channel,
            direction=Direction.OUT.value,
            sender_kind=sender.value,
            agent_id=agent_id,
            text=text,
            meta=meta or {},
        )
        await _insert_message(session, reply)
        await (await session.connection()).execute(
            _INSERT_OUTBOX,
            {
                "message_id": reply.id,
                "channel": conversation.channel,
                "external_user": customer_identity or "",
                "external_thread": conversation.external_thread,
            },
        )
        if self._email_away and conversation.channel == WEBCHAT:
            address = await away_address(session, conversation, sender)
            if address:
                await (await session.connection()).execute(
                    _INSERT_OUTBOX,
                    {
                        "message_id": reply.id,
                        "channel": EMAIL_CHANNEL,
                        "external_user": address,
                        "external_thread": email_thread(conversation.external_thread),
                    },
                )
        return reply

    async def _mark_handled(self, message_id: int, nlu: NluResult) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(intent=nlu.intent, confidence=nlu.confidence, handled_at=utcnow())
            )
            await session.commit()

    # --- agents act --------------------------------------------------------------------

    async def claim(self, conversation_id: int, agent_id: int, reason: str | None = None) -> None:
        """Take the chat over. Exactly one agent wins; the bot is silent from the commit on.
        `reason`: why, when it was not the agent's own click (automatic assignment)."""
        async with self._sessions() as session:
            previous = await self._state_in(session, conversation_id)
            agent = await session.get(Agent, agent_id)
            if agent is None or not agent.active:
                raise AgentUnavailable(f"no active agent {agent_id}")
            await check_capacity(session, agent)
            await transition(
                session,
                conversation_id,
                frozenset({S.BOT, S.QUEUED}),
                S.AGENT,
                assigned_agent_id=agent_id,
            )
            await session.commit()
        await self._after_commit_state(
            conversation_id, S.AGENT, previous, reason or f"claimed by agent {agent_id}"
        )

    async def requeue(self, conversation_id: int, agent_id: int, reason: str) -> None:
        """The agent who had the chat is gone: it waits for the next one, as urgent as before."""
        async with self._sessions() as session:
            await self._owned(session, conversation_id, agent_id)  # still theirs, locked
            await transition(
                session,
                conversation_id,
                S.AGENT,
                S.QUEUED,
                assigned_agent_id=None,
                escalation_reason=clean_text(f"back in the queue: {reason}", 500),
            )
            session.add(
                ConversationNote(
                    conversation_id=conversation_id,
                    agent_id=None,
                    text=f"Back in the queue: {reason}.",
                )
            )
            await session.commit()
        await self._after_commit_state(conversation_id, S.QUEUED, S.AGENT, reason)

    async def agent_reply(self, conversation_id: int, agent_id: int, text: str) -> MessageView:
        text = clean_text(text, self._max_chars)
        async with self._sessions() as session:
            conversation = await self._owned(session, conversation_id, agent_id)
            name = await session.scalar(select(Agent.name).where(Agent.id == agent_id))
            reply = await self._add_outbound(
                session,
                conversation,
                text,
                SenderKind.AGENT,
                agent_id,
                meta={"sender_name": name} if name else None,
            )
            if conversation.first_human_response_at is None:
                conversation.first_human_response_at = utcnow()
            await session.commit()
            view = MessageView.of(reply)
        await self._announce(view)
        self._outbox_ready()
        return view

    async def transfer(
        self,
        conversation_id: int,
        agent_id: int,
        *,
        to_agent_id: int | None = None,
        to_team: str | None = None,
        note: str = "",
    ) -> ConversationState:
        """Hand the chat to a colleague (who has it at once) or to a team's queue, with a note
        for whoever takes it. Only the agent who has it can."""
        async with self._sessions() as session:
            await self._owned(session, conversation_id, agent_id)
            if to_agent_id is not None:
                target = await session.get(Agent, to_agent_id)
                if target is None or not target.active:
                    raise AgentUnavailable(f"no active agent {to_agent_id}")
                await check_capacity(session, target)
                await transition(
                    session, conversation_id, S.AGENT, S.AGENT, assigned_agent_id=target.id
                )
                state, whom = S.AGENT, target.name
            else:
                await transition(
                    session,
                    conversation_id,
                    S.AGENT,
                    S.QUEUED,
                    assigned_agent_id=None,
                    team=to_team,
                    escalation_reason=clean_text(f"transferred to team {to_team}: {note}", 500)
                    if note
                    else f"transferred to team {to_team}",
                )
                state, whom = S.QUEUED, f"team {to_team}"
            text = f"Transferred to {whom}" + (f": {note}" if note else "")
            session.add(
                ConversationNote(conversation_id=conversation_id, agent_id=agent_id, text=text)
            )
            await session.commit()
        await self._after_commit_state(conversation_id, state, S.AGENT, f"transferred to {whom}")
        return state

    async def agent_typing(self, conversation_id: int, agent_id: int) -> bool:
        """Tell the customer's widget the agent who has the chat is writing; best effort (a
        lost beat only hides the hint sooner). False: not this agent's chat now."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Conversation.channel, Conversation.external_thread, Agent.name)
                    .join(Agent, Agent.id == Conversation.assigned_agent_id)
                    .where(
                        Conversation.id == conversation_id,
                        Conversation.state == S.AGENT,
                        Conversation.assigned_agent_id == agent_id,
                    )
                )
            ).first()
        if row is None:
            return False
        channel, thread, name = row
        try:
            await self._bus.publish(
                thread_topic(channel, thread), AgentTyping(channel, thread, name or "")
            )
        except Exception as exc:  # the bus is away: the reply itself still goes through
            log.warning("typing not announced", extra={"error": str(exc)[:200]})
        return True

    async def hand_back(self, conversation_id: int, agent_id: int) -> MessageView:
        async with self._sessions() as session:
            conversation = await self._owned(session, conversation_id, agent_id)
            await transition(
                session,
                conversation_id,
                S.AGENT,
                S.BOT,
                assigned_agent_id=None,
                fallback_streak=0,
                pending_choice=None,
            )
            reply = await self._add_outbound(
                session,
                conversation,
                say("handback", conversation.language),
                SenderKind.SYSTEM,
                None,
            )
            await session.commit()
            view = MessageView.of(reply)
        await self._announce(view)
        await self._after_commit_state(
            conversation_id, S.BOT, S.AGENT, f"handed back by agent {agent_id}"
        )
        self._outbox_ready()
        return view

    async def resolve(self, conversation_id: int, actor: str) -> None:
        async with self._sessions() as session:
            previous = await self._state_in(session, conversation_id)
            await transition(
                session,
                conversation_id,
                frozenset({S.BOT, S.QUEUED, S.AGENT}),
                S.RESOLVED,
                resolved_at=utcnow(),
            )
            conversation = await session.get_one(Conversation, conversation_id)
            await session.refresh(conversation)
            question = await self._add_outbound(
                session,
                conversation,
                say("csat", conversation.language),
                SenderKind.SYSTEM,
                None,
                meta={"quick_replies": CSAT_BUTTONS},
            )
            await session.commit()
        await self._announce(MessageView.of(question))
        self._outbox_ready()
        await self._after_commit_state(
            conversation_id, S.RESOLVED, previous, f"resolved by {actor}"
        )

    async def _owned(
        self, session: AsyncSession, conversation_id: int, agent_id: int
    ) -> Conversation:
        conversation = await session.get(Conversation, conversation_id, with_for_update=True)
        if conversation is None:
            raise ConversationNotFound(f"no conversation {conversation_id}")
        if conversation.state != S.AGENT or conversation.assigned_agent_id != agent_id:
            raise StateConflict(
                f"conversation {conversation_id} is not assigned to agent {agent_id}"
            )
        return conversation

    async def _state_in(self, session: AsyncSession, conversation_id: int) -> ConversationState:
        state = await session.scalar(
            select(Conversation.state).where(Conversation.id == conversation_id)
        )
        if state is None:
            raise ConversationNotFound(f"no conversation {conversation_id}")
        return S(state)

    async def _conversation(self, conversation_id: int) -> Conversation:
        async with self._sessions() as session:
            return await session.get_one(Conversation, conversation_id)

    async def _state_of(self, conversation_id: int) -> str:
        async with self._sessions() as session:
            return (await self._state_in(session, conversation_id)).value

    # --- announcements -----------------------------------------------------------------

    async def _announce(self, view: MessageView) -> None:
        event = MessageCreated(message=view)
        await self._bus.publish((conversation_topic(view.conversation_id), AGENTS_TOPIC), event)

    async def _after_commit_state(
        self,
        conversation_id: int,
        state: ConversationState,
        previous: ConversationState,
        reason: str | None,
    ) -> None:
        event = ConversationChanged(conversation_id, state.value, previous.value, reason)
        log.info("conversation state changed", extra=event.to_json())
        await self._bus.publish((conversation_topic(conversation_id), AGENTS_TOPIC), event)


async def _insert_message(session: AsyncSession, message: Message) -> None:
    """INSERT … RETURNING id in the session's transaction, leaving `message` outside the
    session: the ORM's unit of work costs more CPU than the statement itself."""
    message.created_at = message.created_at or utcnow()
    message.meta = message.meta or {}
    values = {name: getattr(message, name) for name in _MESSAGE_COLUMNS}
    connection = await session.connection()
    message.id = (await connection.execute(_INSERT_MESSAGE, values)).scalar_one()


def _notice_key(rating: int | None, admission: Admission, state: str) -> str | None:
    if rating is not None:
        return "csat_thanks"
    if admission is Admission.NOTIFY:
        return "slow_down_queued" if state == S.QUEUED else "slow_down"
    return None


def _decision_record(decision: Decision) -> dict[str, object]:
    """What the policy saw and chose, kept on the message for agents and reports."""
    return {
        "action": decision.action.value,
        "reason": decision.reason,
        "priority": decision.priority,
        "team": decision.team,
        "signals": decision.signals,
    }


def _language_of(text: str, conversation: Conversation) -> str:
    """ "2", "ok" or a button's "yes" says nothing about the language: the chat's stays."""
    if any(ch.isalpha() for ch in text) and not is_plain_answer(text):
        return detect_language(text)
    return conversation.language


def _as_title(example: str) -> str:
    """A KB example as the bot quotes it: examples are often typed in lower case."""
    example = _LOWER_CASE_I.sub("I", example)
    return example[:1].upper() + example[1:]


_LOWER_CASE_I = re.compile(r"\bi\b(?!\.)")
