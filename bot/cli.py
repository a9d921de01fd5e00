"""The `deskbot` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from aiohttp import web

from bot.nlu.threads import single_threaded_blas
from bot.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.accounts.users import Users
    from bot.services import Services

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _settings(ctx: click.Context, **overrides: object) -> Settings:
    config: Path | None = ctx.obj.get("config")
    try:
        settings = load_settings(config, **{**ctx.obj.get("overrides", {}), **overrides})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    from bot.logs import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    return settings


@click.group(context_settings=CONTEXT)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DESKBOT_CONFIG",
    help="TOML config file (env vars override it).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite database, secrets and trained models live (default ./var).",
)
@click.option("--database-url", help="SQLAlchemy URL, e.g. postgresql://user@host/db.")
@click.pass_context
def main(
    ctx: click.Context, config: Path | None, data_dir: Path | None, database_url: str | None
) -> None:
    """deskbot: customer-service conversations with an FAQ bot and human agents."""
    single_threaded_blas()
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    ctx.obj["overrides"] = {"data_dir": data_dir, "database_url": database_url}


@main.command()
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port (default 8080; 0 picks a free one).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (needs REDIS_URL and PostgreSQL when > 1).",
)
@click.option("--listen-fd", type=int, hidden=True)
@click.option("--worker-index", type=int, default=0, hidden=True)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int,
    listen_fd: int | None,
    worker_index: int,
) -> None:
    """Run the web server: web chat, widget, APIs."""
    settings = _settings(ctx, host=host, port=port, worker_index=worker_index)
    if listen_fd is not None:
        _serve_one(settings, socket.socket(fileno=listen_fd), quiet=True)
    elif workers > 1:
        _serve_many(settings, workers)
    else:
        _serve_one(settings, None, quiet=False)


STARTED_AT = time.time()


def _announce(settings: Settings, port: int) -> None:
    """Secrets are printed once, by the run that created them (output may land in a journal);
    later runs say only where they are kept."""
    from bot.settings import secret_file

    click.echo(f"deskbot on http://{settings.host}:{port}/  (demo chat at /)")
    token = secret_file(settings.data_dir, "admin_token").resolve()
    if _made_by_this_run(token):
        click.echo(f"admin API token (kept in {token}): {settings.admin_token}")
    elif token.is_file():
        click.echo(f"admin API token: in {token}")
    logins = (settings.data_dir / "demo-logins.txt").resolve()
    if _made_by_this_run(logins):
        click.echo(f"sign in at http://{settings.host}:{port}/login  (kept in {logins}):")
        click.echo(logins.read_text().rstrip())
    elif logins.is_file():
        click.echo(f"sign in at http://{settings.host}:{port}/login  (demo logins in {logins})")


def _made_by_this_run(path: Path) -> bool:
    return path.is_file() and path.stat().st_mtime >= STARTED_AT - 1


def _serve_one(settings: Settings, sock: socket.socket | None, quiet: bool) -> None:
    from bot.app import init_app
    from bot.gc_tuning import freeze_startup_objects, tune_for_server

    tune_for_server()

    async def start() -> web.Application:
        app = await init_app(settings)
        app.on_startup.append(freeze_startup_objects)
        return app

    web.run_app(
        start(),
        host=None if sock else settings.host,
        port=None if sock else settings.port,
        sock=sock,
        print=None if quiet else (lambda _: _announce(settings, settings.port)),
        access_log=None,
        # aiohttp closes a connection that has not sent a whole request this long after
        # connecting or after its last response: a slowloris client cannot hold it longer.
        keepalive_timeout=settings.request_header_timeout_s,
    )


def _serve_many(settings: Settings, workers: int) -> None:
    from bot.workers import WorkersUnsupported, check_can_fork, serve_workers

    try:
        check_can_fork(settings, workers)
    except WorkersUnsupported as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(serve_workers(settings, workers, lambda port: _announce(settings, port)))


@main.command()
@click.option("--user", default="shell-user", show_default=True, help="Who you are to the bot.")
@click.pass_context
def shell(ctx: click.Context, user: str) -> None:
    """Chat with the bot in the terminal (reads stdin line by line when piped)."""
    settings = _settings(ctx)
    if "DESKBOT_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel("WARNING")  # the conversation is the output here
    asyncio.run(_shell(settings, user))


async def _shell(settings: Settings, user: str) -> None:
    import uuid

    from bot.services import build_services, running
    from channels.base import InboundMessage, InvalidMessage
    from channels.terminal import CHANNEL, TerminalOutput

    interactive = sys.stdin.isatty()
    async with running(build_services(settings, {CHANNEL: TerminalOutput()})) as services:
        if interactive:
            click.echo("Chat with deskbot. Ctrl-D to quit.")
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, _read_line, interactive)
            if line is None:
                break
            if not line.strip():
                continue
            inbound = InboundMessage(CHANNEL, user, user, uuid.uuid4().hex, line)
            try:
                result = await services.engine.receive(inbound)
            except InvalidMessage as exc:
                click.echo(f"! {exc}", err=True)
                continue
            for reply in result.replies:
                click.echo(f"bot> {reply.text}" if interactive else reply.text)
            if result.state == "queued":
                reason = await _back_from_the_queue(services, result.conversation_id)
                click.echo(f"[handed to a person: {reason}. Nobody joins a terminal chat, so it")
                click.echo(" goes back to the bot instead of waiting in the agents' queue]")
            elif not result.replies and result.state != "bot":
                click.echo(f"[{result.state}: a person will answer]")


async def _back_from_the_queue(services: Services, conversation_id: int) -> str:
    """A shell chat handed to a person: agents could claim it, but not reach the terminal."""
    from sqlalchemy import select

    from bot.states import S, transition
    from models import Conversation

    async with services.sessions() as session:
        reason = await session.scalar(
            select(Conversation.escalation_reason).where(Conversation.id == conversation_id)
        )
        await transition(
            session, conversation_id, S.QUEUED, S.BOT, fallback_streak=0, pending_choice=None
        )
        await session.commit()
    return reason or "no reason recorded"


def _read_line(interactive: bool) -> str | None:
    try:
        return input("you> ") if interactive else sys.stdin.readline() or None
    except EOFError:
        return None


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the schema."""
    from bot.database import upgrade

    _migrate(_settings(ctx), upgrade, revision)


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Step the schema back to REVISION, to run an older deskbot (stop every process first)."""
    from bot.database import downgrade

    _migrate(_settings(ctx), downgrade, revision)


def _migrate(
    settings: Settings, step: Callable[[AsyncEngine, str], Awaitable[None]], revision: str
) -> None:
    from bot.database import make_engine

    async def run() -> None:
        engine = make_engine(settings.sqlalchemy_url)
        try:
            await step(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    click.echo(f"database at {revision}")


@contextlib.asynccontextmanager
async def _prepared(settings: Settings) -> AsyncIterator[object]:
    from bot.services import build_services, prepare

    services = build_services(settings, {})
    try:
        await prepare(services)
        yield services
    finally:
        await services.db.dispose()


@main.group()
def kb() -> None:
    """Knowledge base: import and export FAQ intents."""


@kb.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Delete intents that the source does not have.")
@click.pass_context
def kb_import(ctx: click.Context, source: Path, replace: bool) -> None:
    """Import deskbot YAML, CSV, a Rasa nlu.yml or a Rasa project directory."""
    from knowledge.errors import KnowledgeError
    from knowledge.formats import read_path

    settings = _settings(ctx)
    try:
        intents = read_path(source)
    except KnowledgeError as exc:
        raise click.ClickException(str(exc)) from None

    async def run() -> dict[str, int]:
        async with _prepared(settings) as services:
            counts = await services.knowledge.import_intents(intents, "cli", replace)  # type: ignore[attr-defined]
            await services.nlu.sync()  # type: ignore[attr-defined]
            return counts

    counts = asyncio.run(run())
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@kb.command("export")
@click.argument("target", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "csv", "rasa"]),
    default=None,
    help="Default: from the file extension; rasa writes a project directory.",
)
@click.pass_context
def kb_export(ctx: click.Context, target: Path, fmt: str | None) -> None:
    """Export the knowledge base."""
    from knowledge.formats import write_path
    from knowledge.schema import IntentData

    settings = _settings(ctx)
    fmt = fmt or (
        "csv"
        if target.suffix == ".csv"
        else "yaml"
        if target.suffix in {".yml", ".yaml"}
        else "rasa"
    )

    async def run() -> list[IntentData]:
        async with _prepared(settings) as services:
            return await services.knowledge.intents()  # type: ignore[attr-defined,no-any-return]

    written = write_path(asyncio.run(run()), target, fmt)
    click.echo("wrote " + ", ".join(str(p) for p in written))


@main.group()
def nlu() -> None:
    """NLU: train and try the model."""


@nlu.command("train")
@click.pass_context
def nlu_train(ctx: click.Context) -> None:
    """Train the model from the knowledge base (a no-op when nothing changed)."""
    settings = _settings(ctx)

    async def run() -> tuple[str | None, float | None]:
        async with _prepared(settings) as services:
            return services.nlu.version, services.nlu.last_train_seconds  # type: ignore[attr-defined]

    version, seconds = asyncio.run(run())
    took = f" in {seconds:.2f}s" if seconds is not None else " (already trained)"
    click.echo(f"model {version} live{took}")


@nlu.command("parse")
@click.argument("text")
@click.pass_context
def nlu_parse(ctx: click.Context, text: str) -> None:
    """Show how the live model reads TEXT."""
    settings = _settings(ctx)

    async def run() -> None:
        async with _prepared(settings) as services:
            result = services.nlu.parse(text)  # type: ignore[attr-defined]
            click.echo(f"{result.intent} {result.confidence:.3f} ({result.outcome})")
            for score in result.ranking[:5]:
                click.echo(f"  {score.name:<28} {score.confidence:.3f}")

    asyncio.run(run())


@nlu.command("evaluate")
@click.option(
    "--train",
    "train_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--test",
    "test_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--engine", type=click.Choice(["local", "rasa"]), default="local", show_default=True)
@click.option(
    "--oos-label", default=None, help="Intent label of out-of-scope rows (must fall back)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@click.option("--epochs", type=int, default=None, help="rasa: DIET epochs (default rasa_epochs).")
@click.option(
    "--rasa-model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="rasa: reuse a trained model instead of training.",
)
@click.pass_context
def nlu_evaluate(
    ctx: click.Context,
    train_path: Path,
    test_path: Path,
    engine: str,
    oos_label: str | None,
    as_json: bool,
    epochs: int | None,
    rasa_model: Path | None,
) -> None:
    """Train on one CSV (text,intent) and score the engine on another."""
    from bot.nlu.evaluate import EvaluationDataError, evaluate_local, read_labelled_csv
    from bot.nlu.result import FallbackRule

    settings = _settings(ctx)
    try:
        train, test = read_labelled_csv(train_path), read_labelled_csv(test_path)
    except EvaluationDataError as exc:
        raise click.ClickException(str(exc)) from None
    rule = FallbackRule(settings.nlu_fallback_threshold, settings.nlu_ambiguity_threshold)
    if engine == "rasa":
        result = asyncio.run(
            _evaluate_rasa(settings, train, test, rule, oos_label, epochs, rasa_model)
        )
    else:
        result = evaluate_local(train, test, rule, oos_label)
    _print_figures(result.to_json(), as_json)


def _print_figures(figures: dict[str, object], as_json: bool) -> None:
    """One JSON object for scripts, or one figure a line for people."""
    if as_json:
        click.echo(json.dumps(figures))
        return
    for key, value in figures.items():
        if isinstance(value, dict):
            click.echo(key)
            for inner, figure in value.items():
                click.echo(f"  {inner:<16} {figure}")
        else:
            click.echo(f"{key:<18} {value if value is not None else '-'}")


@main.group()
def sentiment() -> None:
    """Sentiment: train the company's own model, measure the model in use."""


def _sentiment_rows(path: Path) -> tuple[list[str], list[str]]:
    from escalation.evaluate import SentimentDataError, read_sentiment_csv

    try:
        return read_sentiment_csv(path)
    except SentimentDataError as exc:
        raise click.ClickException(str(exc)) from None


def _train_sentiment(texts: list[str], labels: list[str]) -> Any:
    from escalation.sentiment_model import SentimentTrainingError, train_sentiment

    try:
        return train_sentiment(texts, labels)
    except SentimentTrainingError as exc:
        raise click.ClickException(str(exc)) from None


_CSV = click.Path(exists=True, dir_okay=False, path_type=Path)


@sentiment.command("train")
@click.option("--data", "data_path", type=_CSV, help="CSV with columns text,label.")
@click.option(
    "--from-conversations",
    is_flag=True,
    help="Agents' corrections and CSAT ratings (1–2 negative, 4–5 positive) as the labels.",
)
@click.pass_context
def sentiment_train(ctx: click.Context, data_path: Path | None, from_conversations: bool) -> None:
    """Train the company's model; running servers use it within a second, no restart."""
    from bot.services import sentiment_dir

    if (data_path is None) == (not from_conversations):
        raise click.UsageError("give exactly one of --data F.csv or --from-conversations")
    settings = _settings(ctx)
    if data_path is not None:
        texts, labels = _sentiment_rows(data_path)
    else:
        texts, labels = asyncio.run(_labelled_from_conversations(settings))
        if not texts:
            raise click.ClickException(
                "no labelled messages yet: correct a message's sentiment in the console, or "
                "wait for CSAT ratings"
            )
    model = _train_sentiment(texts, labels)
    path = model.save(sentiment_dir(settings))
    parts = [
        f"{language}: {model.examples[language]} examples, C={m.c:g}"
        for language, m in model.models.items()
    ]
    click.echo(f"trained ({'; '.join(parts)}); saved {path}")


async def _labelled_from_conversations(settings: Settings) -> tuple[list[str], list[str]]:
    from bot.database import make_engine, make_sessionmaker, upgrade
    from escalation.sentiment_feedback import labelled_messages

    engine = make_engine(settings.sqlalchemy_url)
    try:
        await upgrade(engine)
        rows = await labelled_messages(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    return [r.text for r in rows], [r.label for r in rows]


@sentiment.command("evaluate")
@click.option("--data", "data_path", type=_CSV, help="Score the model in use on this CSV.")
@click.option("--train", "train_path", type=_CSV, help="Train a model on this CSV …")
@click.option("--test", "test_path", type=_CSV, help="… and score it on this one.")
@click.option(
    "--engine",
    type=click.Choice(["deskbot", "shipped", "vader"]),
    default="deskbot",
    show_default=True,
    help="deskbot: the model in use (trained if there is one); shipped: the out-of-the-box "
    "model; vader: plain VADER, for comparison.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sentiment_evaluate(
    ctx: click.Context,
    data_path: Path | None,
    train_path: Path | None,
    test_path: Path | None,
    engine: str,
    as_json: bool,
) -> None:
    """Accuracy and macro-F1 (over the labels present) on a CSV with columns text,label."""
    from bot.services import sentiment_dir
    from escalation.evaluate import evaluate_sentiment
    from escalation.sentiment import SentimentAnalyzer

    if data_path is not None and (train_path or test_path):
        raise click.UsageError("give --data, or --train and --test, not both")
    if data_path is None and not (train_path and test_path):
        raise click.UsageError("give --data F.csv, or --train A.csv --test B.csv")
    if train_path and test_path:
        train_texts, train_labels = _sentiment_rows(train_path)
        texts, labels = _sentiment_rows(test_path)
        analyzer = SentimentAnalyzer(trained=_train_sentiment(train_texts, train_labels))
        predicted = [s.label.value for s in analyzer.score_many(texts)]
        result = evaluate_sentiment(texts, labels, predicted=predicted)
    else:
        texts, labels = _sentiment_rows(data_path)  # type: ignore[arg-type]
        directory = sentiment_dir(_settings(ctx)) if engine == "deskbot" else None
        analyzer = SentimentAnalyzer(directory)
        scorer = analyzer.vader_only if engine == "vader" else analyzer.score
        result = evaluate_sentiment(texts, labels, scorer)
    _print_figures(result.to_json(), as_json)


@main.group()
def churn() -> None:
    """Churn risk: train on your customer CSV, measure it."""


def _customer_rows(data_path: Path) -> list[dict[str, str]]:
    from escalation.churn import ChurnDataError, read_customers

    try:
        return read_customers(data_path)
    except ChurnDataError as exc:
        raise click.ClickException(str(exc)) from None


@churn.command("train")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--label", required=True, help="Column that says whether the customer churned.")
@click.option("--id", "id_column", default=None, help="Customer id column (not a feature).")
@click.pass_context
def churn_train(ctx: click.Context, data_path: Path, label: str, id_column: str | None) -> None:
    """Train the churn model; live conversations use it from the next message on."""
    from bot.services import churn_dir
    from escalation.churn import ChurnDataError, ChurnModel

    settings = _settings(ctx)
    try:
        model = ChurnModel.train(_customer_rows(data_path), label, id_column)
    except ChurnDataError as exc:
        raise click.ClickException(str(exc)) from None
    path = model.save(churn_dir(settings))
    click.echo(
        f"trained on {len(model.numeric)} numeric and {len(model.categorical)} categorical "
        f"columns; threshold {model.threshold:.2f}; saved {path}"
    )


@churn.command("evaluate")
@click.option("--data", "data_path", type=_CSV, help="Stratified 5-fold on this CSV.")
@click.option("--train", "train_path", type=_CSV, help="Train on this CSV …")
@click.option("--test", "test_path", type=_CSV, help="… and score on this one.")
@click.option("--label", required=True)
@click.option("--id", "id_column", default=None)
@click.option(
    "--model",
    "kind",
    type=click.Choice(["auto", "logistic", "logistic_splines", "gradient_boosting"]),
    default="auto",
    show_default=True,
    help="auto: logistic or logistic_splines, chosen by cross-validation inside the training rows.",
)
@click.option("--json", "as_json", is_flag=True)
def churn_evaluate(
    data_path: Path | None,
    train_path: Path | None,
    test_path: Path | None,
    label: str,
    id_column: str | None,
    kind: str,
    as_json: bool,
) -> None:
    """Held-out ROC-AUC, precision and recall, beside plain logistic regression: k-fold on
    --data (each customer scored once), or --train A.csv --test B.csv."""
    from escalation.churn import (
        DEFAULT_KINDS,
        ChurnDataError,
        evaluate_churn,
        evaluate_churn_split,
    )

    if (data_path is None) == (train_path is None and test_path is None) or (
        data_path is None and not (train_path and test_path)
    ):
        raise click.UsageError("give --data F.csv, or --train A.csv --test B.csv")
    kinds = DEFAULT_KINDS if kind == "auto" else (kind,)
    try:
        if data_path is not None:
            result = evaluate_churn(_customer_rows(data_path), label, id_column, kinds=kinds)
        else:
            result = evaluate_churn_split(
                _customer_rows(train_path),  # type: ignore[arg-type]
                _customer_rows(test_path),  # type: ignore[arg-type]
                label,
                id_column,
                kinds,
            )
    except ChurnDataError as exc:
        raise click.ClickException(str(exc)) from None
    _print_figures(result.to_json(), as_json)


@main.group()
def customers() -> None:
    """Customers: import attributes and tiers from your CRM."""


@customers.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", default="email", show_default=True, help="Column with the email address.")
@click.pass_context
def customers_import(ctx: click.Context, source: Path, key: str) -> None:
    """Create or update customers by email; a 'tier' column sets the tier, the rest attributes."""
    from escalation.customers import CustomerDataError, import_customers, parse_customer_csv

    settings = _settings(ctx)
    try:
        rows = parse_customer_csv(source.read_text(encoding="utf-8"), key)
    except (CustomerDataError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{source}: {exc}") from None

    async def run() -> dict[str, int]:
        async with _prepared(settings) as services:
            return await import_customers(services.sessions, rows, key, "cli")  # type: ignore[attr-defined]

    counts = asyncio.run(run())
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()))


@main.group()
def telegram() -> None:
    """Telegram: point the bot's webhook at this deskbot."""


@telegram.command("set-webhook")
@click.argument("public_url")
@click.pass_context
def telegram_set_webhook(ctx: click.Context, public_url: str) -> None:
    """Tell Telegram to deliver updates to PUBLIC_URL (https://your-host/channels/telegram/webhook),
    signed with the configured webhook secret."""
    from telegram.error import TelegramError

    from channels.telegram import make_bot

    settings = _settings(ctx)
    if not settings.telegram_token:
        raise click.ClickException("set telegram_token (DESKBOT_TELEGRAM_TOKEN) first")

    async def run() -> None:
        async with make_bot(settings.telegram_token, settings.telegram_api_url) as bot:
            await bot.set_webhook(
                public_url,
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=["message"],
            )

    try:
        asyncio.run(run())
    except TelegramError as exc:
        raise click.ClickException(f"telegram refused: {exc}") from None
    click.echo(f"telegram will post updates to {public_url}")


@main.group()
def users() -> None:
    """People who sign in to the console: add, list, disable."""


@contextlib.asynccontextmanager
async def _users(settings: Settings) -> AsyncIterator[Users]:
    from bot.accounts.users import Users
    from bot.database import make_engine, make_sessionmaker, upgrade

    engine = make_engine(settings.sqlalchemy_url)
    try:
        await upgrade(engine)
        yield Users(make_sessionmaker(engine))
    finally:
        await engine.dispose()


@users.command("add")
@click.argument("email")
@click.option("--name", default=None, help="Display name (default: the email's local part).")
@click.option("--role", type=click.Choice(["agent", "admin"]), default="agent", show_default=True)
@click.option("--team", "teams", multiple=True, help="Team (repeatable; default support).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin instead of a prompt."
)
@click.pass_context
def users_add(
    ctx: click.Context,
    email: str,
    name: str | None,
    role: str,
    teams: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Add a user who signs in with EMAIL and a password (at least 10 characters)."""
    from bot.accounts.passwords import WeakPassword
    from bot.accounts.users import AccountError
    from models import AgentRole

    settings = _settings(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> None:
        async with _users(settings) as accounts:
            await accounts.add(
                email,
                name or email.split("@")[0],
                AgentRole(role),
                password,
                actor="cli",
                teams=teams or ("support",),
            )

    try:
        asyncio.run(run())
    except (WeakPassword, AccountError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {role} {email.strip().lower()}")


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Everyone who works in deskbot, with role, teams and whether they can sign in."""
    settings = _settings(ctx)

    async def run() -> list[Any]:
        async with _users(settings) as accounts:
            return await accounts.list()

    for agent in asyncio.run(run()):
        state = "active" if agent.active else "disabled"
        login = "password" if agent.password_hash else "no password"
        teams = ",".join(agent.teams)
        click.echo(f"{agent.email}\t{agent.role}\t{state}\t{login}\tteams={teams}")


@users.command("disable")
@click.argument("email")
@click.pass_context
def users_disable(ctx: click.Context, email: str) -> None:
    """Stop EMAIL from signing in; their open sessions end at once."""
    from bot.accounts.users import AccountError

    settings = _settings(ctx)

    async def run() -> None:
        async with _users(settings) as accounts:
            await accounts.disable(email, actor="cli")

    try:
        asyncio.run(run())
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"disabled {email.strip().lower()}")


@main.group()
def rasa() -> None:
    """Rasa 3.6 backend: its own environment, project export."""


@rasa.command("setup")
@click.option("--python", "python", default=None, help="A Python 3.8–3.10 interpreter.")
@click.pass_context
def rasa_setup(ctx: click.Context, python: str | None) -> None:
    """Install rasa==3.6.21 into its own virtualenv (idempotent; about 2.7 GB)."""
    from bot.nlu.rasa_env import RasaEnvironment, RasaSetupError, default_home

    settings = _settings(ctx)
    env = RasaEnvironment(settings.rasa_home or default_home())
    try:
        created = env.setup(python)
    except RasaSetupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"rasa {'installed' if created else 'already installed'} in {env.home}")


@rasa.command("export")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.option("--epochs", type=int, default=None, help="DIET epochs (default: rasa_epochs).")
@click.pass_context
def rasa_export(ctx: click.Context, target: Path, epochs: int | None) -> None:
    """Write a Rasa project (config.yml, domain.yml, data/nlu.yml) from the knowledge base."""
    from knowledge.rasa_project import write_rasa_project
    from knowledge.schema import IntentData

    settings = _settings(ctx)

    async def run() -> list[IntentData]:
        async with _prepared(settings) as services:
            return await services.knowledge.intents()  # type: ignore[attr-defined,no-any-return]

    written = write_rasa_project(
        asyncio.run(run()),
        target,
        epochs or settings.rasa_epochs,
        settings.nlu_fallback_threshold,
        settings.nlu_ambiguity_threshold,
    )
    click.echo("wrote " + ", ".join(str(p) for p in written))


async def _evaluate_rasa(settings, train, test, rule, oos_label, epochs, model):  # type: ignore[no-untyped-def]
    import socket
    import tempfile

    from bot.nlu.evaluate import evaluate_rasa
    from bot.nlu.rasa_env import RasaEnvironment, RasaSetupError, default_home

    env = RasaEnvironment(settings.rasa_home or default_home())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="deskbot-eval-") as tmp:
        try:
            return await evaluate_rasa(
                train,
                test,
                rule,
                env,
                Path(tmp),
                port,
                epochs or settings.rasa_epochs,
                oos_label,
                model.resolve() if model else None,
            )
        except RasaSetupError as exc:
            raise click.ClickException(str(exc)) from None


def _add_article_commands() -> None:
    from knowledge.articles.cli import articles
    from knowledge.gaps.cli import gaps

    main.add_command(articles)
    main.add_command(gaps)


_add_article_commands()
