"""One typed settings object, read from defaults, a TOML config file and environment variables."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class SettingsError(ValueError):
    """Configuration that cannot work; raised at start with a message a person can act on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DESKBOT_", extra="forbid", frozen=True)

    data_dir: Path = Path("var")
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "DESKBOT_DATABASE_URL", "database_url"),
        description="SQLAlchemy URL; empty means a SQLite file in data_dir.",
    )
    database_pool_size: int = Field(
        default=30,
        ge=1,
        le=1000,
        description="PostgreSQL connections each process keeps open (plus 10 for bursts). "
        "Connections opened beyond the pool are closed after each use, which costs more than "
        "waiting for a pooled one.",
    )
    redis_url: str = Field(
        default="",
        validation_alias=AliasChoices("REDIS_URL", "DESKBOT_REDIS_URL", "redis_url"),
        description="redis://host:6379/0 to run several processes; empty: in-process bus.",
    )
    redis_prefix: str = Field(default="deskbot", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    secret_key: str = Field(default="", description="Signs visitor tokens; generated if empty.")
    admin_token: str = Field(default="", description="Bearer token for admin APIs; generated.")
    nlu_engine: str = "local"
    rasa_url: str = Field(
        default="", description="A Rasa server run elsewhere; empty: deskbot runs one."
    )
    rasa_home: Path | None = Field(
        default=None, description="Rasa's virtualenv (deskbot rasa setup)."
    )
    rasa_port: int = Field(default=5005, ge=1, le=65535)
    rasa_epochs: int = Field(default=100, ge=1, le=1000)
    nlu_fallback_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    nlu_ambiguity_threshold: float = Field(default=0.1, ge=0.0, le=1.0)
    fallback_streak_to_escalate: int = Field(default=2, ge=1)
    max_message_chars: int = Field(default=4000, ge=1)
    max_request_bytes: int = Field(default=64 * 1024, ge=1024)
    max_import_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    rate_sessions_per_ip_min: int = Field(default=20, ge=1, description="New chats per address.")
    rate_messages_per_visitor_min: int = Field(default=30, ge=1)
    rate_messages_per_ip_min: int = Field(default=120, ge=1)
    rate_messages_per_sender_min: int = Field(
        default=30,
        ge=1,
        description="Messages the bot answers per customer per minute on any channel; "
        "later ones are kept for agents, unanswered.",
    )
    rate_webhook_failures_per_ip_min: int = Field(
        default=20,
        ge=1,
        description="Forged or unsigned channel webhook calls per address before it is refused.",
    )
    visitor_token_max_age_s: int = Field(default=30 * 24 * 3600, ge=60)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_base_delay_s: float = Field(default=0.5, gt=0)
    outbox_max_delay_s: float = Field(default=300.0, gt=0)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_lease_s: float = Field(
        default=5.0,
        ge=4,
        description="After a crash, a reply being sent is retried after this; live sends renew it.",
    )
    unanswered_after_s: float = Field(
        default=30.0,
        ge=0.1,
        description="A message stored this long ago and never answered (a crash) gets the "
        "bot's turn then; checked this often.",
    )
    unanswered_max_age_s: float = Field(
        default=3600.0, gt=0, description="Older unanswered messages are left to agents."
    )
    business_hours: str = Field(default="Mon-Fri 09:00-18:00", description="or '24/7'")
    business_timezone: str = "UTC"
    agent_idle_s: int = Field(
        default=600,
        ge=60,
        description="An agent whose console is open but untouched this long counts as away.",
    )
    sla_first_response_s: int = Field(default=300, ge=1)
    sla_resolution_s: int = Field(default=8 * 3600, ge=1)
    telegram_token: str = Field(default="", description="From @BotFather; empty: no Telegram.")
    telegram_mode: str = Field(default="webhook", description="webhook or polling")
    telegram_webhook_secret: str = Field(
        default="", description="Checked on every webhook call; generated if empty."
    )
    telegram_api_url: str = "https://api.telegram.org"
    telegram_poll_timeout_s: int = Field(default=30, ge=0, le=60)
    slack_bot_token: str = Field(default="", description="xoxb-…; empty: no Slack.")
    slack_signing_secret: str = Field(default="", description="Verifies Slack's requests.")
    slack_agent_channel: str = Field(
        default="", description="Channel ID where escalations are posted for agents."
    )
    slack_api_url: str = "https://slack.com/api/"
    email_address: str = Field(default="", description="The support address; empty: no email.")
    email_display_name: str = "Customer Support"
    email_smtp_host: str = ""
    email_smtp_port: int = Field(default=587, ge=1, le=65535)
    email_smtp_username: str = ""
    email_smtp_password: str = ""
    email_smtp_starttls: bool = True
    email_ca_file: Path | None = Field(
        default=None, description="Extra CA certificates to trust for SMTP/IMAP TLS."
    )
    email_imap_host: str = ""
    email_imap_port: int = Field(default=993, ge=1, le=65535)
    email_imap_ssl: bool = True
    email_imap_username: str = ""
    email_imap_password: str = ""
    email_imap_folder: str = "INBOX"
    email_imap_poll_s: int = Field(default=60, ge=1)
    email_receiver_host: str = "127.0.0.1"
    email_receiver_port: int = Field(
        default=0, ge=0, le=65535, description="Built-in SMTP receiver for forwarded mail; 0: off."
    )
    email_receiver_messages_per_ip_min: int = Field(
        default=120,
        ge=1,
        description="Mails per minute the SMTP receiver takes from one address; more get 451 "
        "(the sender retries). A forwarding mail server sends all mail from one address.",
    )
    email_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    load_demo_kb: bool = True
    worker_index: int = Field(
        default=0,
        ge=0,
        description="Set by serve --workers: only worker 0 polls Telegram and IMAP and "
        "runs the SMTP receiver.",
    )
    demo_logins: bool = Field(
        default=True,
        description="With no user yet, create a demo admin and agent and print their logins.",
    )
    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    cookie_secure: bool | None = Field(
        default=None, description="Secure cookies; default: when the request came over TLS."
    )
    trust_forwarded_proto: bool = Field(
        default=False, description="Behind a TLS proxy: believe its X-Forwarded-Proto header."
    )
    webchat_allowed_origins: tuple[str, ...] = Field(
        default=("*",),
        description="Sites whose pages may embed the web-chat widget, e.g. "
        "['https://shop.example']; '*': any site. Only the web-chat API allows other origins.",
    )
    public_url: str = Field(
        default="",
        description="Where customers reach this server, e.g. https://support.example: links "
        "in emails point there. Empty: http://host:port.",
    )
    webchat_identity_secret: str = Field(
        default="",
        description="Shared with your site's server, which signs its signed-in user's "
        "identity for the widget (README: Known customers); generated if empty.",
    )
    webchat_identity_max_age_s: int = Field(
        default=24 * 3600,
        ge=60,
        description="A signed identity older than this is stale and refused.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description="Addresses or CIDR ranges of your reverse proxies, e.g. ['127.0.0.1', "
        "'10.0.0.0/8']: their X-Forwarded-For and X-Forwarded-Proto are believed, so rate "
        "limits count each real client. Empty: the connection's address is the client.",
    )
    request_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="A connection that has not sent a complete request this long after "
        "connecting or after its last answer is closed (slow-header attacks); idle keep-alive "
        "connections close after it too.",
    )
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=900, ge=1)
    log_json: bool | None = None
    log_level: str = "INFO"

    config_file: Path | None = Field(default=None, exclude=True)

    @field_validator("nlu_engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if value not in {"local", "rasa"}:
            raise ValueError(f"unknown NLU engine {value!r}; choose 'local' or 'rasa'")
        return value

    @field_validator("webchat_allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s?#]+", origin):
                raise ValueError(
                    f"{origin!r} is not an origin: give scheme and host, e.g. https://shop.example"
                )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_a_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(
                f"{value!r} is not a URL: give scheme and host, e.g. https://support.example"
            )
        return value.rstrip("/")

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from bot.web.client_address import parse_networks

        parse_networks(value)
        return value

    @field_validator("telegram_mode")
    @classmethod
    def _known_telegram_mode(cls, value: str) -> str:
        if value not in {"webhook", "polling"}:
            raise ValueError("telegram_mode must be 'webhook' or 'polling'")
        return value

    @model_validator(mode="after")
    def _email_needs_a_way_out(self) -> Settings:
        if self.email_address and not self.email_smtp_host:
            raise ValueError("email_address is set but email_smtp_host (for replies) is not")
        return self

    @model_validator(mode="after")
    def _slack_needs_its_secret(self) -> Settings:
        if self.slack_bot_token and not self.slack_signing_secret:
            raise ValueError("slack_bot_token is set but slack_signing_secret is not")
        return self

    @field_validator("business_hours")
    @classmethod
    def _hours_parse(cls, value: str) -> str:
        from escalation.sla import BusinessHours, BusinessHoursError

        try:
            BusinessHours.parse(value, "UTC")
        except BusinessHoursError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("business_timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        from escalation.sla import BusinessHours, BusinessHoursError

        try:
            BusinessHours.parse("24/7", value)
        except BusinessHoursError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _CONFIG_FILE.get("path")
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return async_driver_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'deskbot.db').resolve()}"


_CONFIG_FILE: dict[str, Path] = {}


def async_driver_url(url: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick the async driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings (overrides > env > config file > defaults), then fill generated secrets."""
    from pydantic import ValidationError

    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"config file {config_file} does not exist")
    _CONFIG_FILE.clear()
    if config_file is not None:
        _CONFIG_FILE["path"] = config_file
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None
    finally:
        _CONFIG_FILE.clear()
    return _with_secrets(settings)


def _with_secrets(settings: Settings) -> Settings:
    """Secrets not configured are generated once and kept in the data directory."""
    updates: dict[str, str] = {}
    for field in (
        "secret_key",
        "admin_token",
        "telegram_webhook_secret",
        "webchat_identity_secret",
    ):
        if not getattr(settings, field):
            updates[field] = _stored_secret(settings.data_dir, field)
    return settings.model_copy(update=updates) if updates else settings


def secret_file(data_dir: Path, name: str) -> Path:
    return data_dir / f"{name}.txt"


def _stored_secret(data_dir: Path, name: str) -> str:
    from bot.private_files import create_private_file, private_dir

    private_dir(data_dir)
    path = secret_file(data_dir, name)
    create_private_file(path, secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()
