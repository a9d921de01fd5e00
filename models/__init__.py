"""SQLAlchemy 2 ORM models (the data model) and their Alembic migrations."""

from models.agent import Agent, AgentRole
from models.article import Article, ArticlePassage
from models.audit import AuditEntry
from models.base import Base
from models.conversation import Conversation, ConversationState
from models.customer import Customer, CustomerIdentity
from models.faq import FaqIntent
from models.login_session import LoginSession
from models.message import Direction, Message, SenderKind
from models.note import CannedResponse, ConversationNote
from models.outbox import OutboxItem, OutboxStatus
from models.report_rollup import (
    DailyConversationTally,
    DailyMessageCount,
    RolledUpConversationDay,
    RolledUpDay,
    StaleConversationDay,
)
from models.runtime_setting import RuntimeSetting
from models.slack_thread import SlackAgentThread
from models.webhook import Webhook, WebhookDelivery

__all__ = [
    "Agent",
    "AgentRole",
    "Article",
    "ArticlePassage",
    "AuditEntry",
    "Base",
    "CannedResponse",
    "Conversation",
    "ConversationNote",
    "ConversationState",
    "Customer",
    "CustomerIdentity",
    "DailyConversationTally",
    "DailyMessageCount",
    "Direction",
    "FaqIntent",
    "LoginSession",
    "Message",
    "OutboxItem",
    "OutboxStatus",
    "RolledUpConversationDay",
    "RolledUpDay",
    "RuntimeSetting",
    "SenderKind",
    "SlackAgentThread",
    "StaleConversationDay",
    "Webhook",
    "WebhookDelivery",
]
