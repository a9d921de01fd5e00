"""Knowledge base files: deskbot YAML, Rasa 3 YAML (nlu.yml + domain.yml) and CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.nlu.text import detect_language
from bot.spreadsheet import from_spreadsheet_safe, spreadsheet_safe
from knowledge.errors import ImportFormatError
from knowledge.schema import IntentData, KnowledgeBaseFile

CSV_COLUMNS = ("intent", "category", "enabled", "kind", "language", "text", "irreversible")
RASA_LANGUAGE_SLOT = "language"
RASA_VERSION = "3.1"


def _validated(raw: Iterable[Any], source: str) -> list[IntentData]:
    intents: list[IntentData] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        name = _short(item.get("name", "?") if isinstance(item, dict) else "?")
        if _has_nul(item):  # PostgreSQL text cannot hold U+0000
            raise ImportFormatError(
                f"{source}: intent #{index + 1} ({name}) contains a NUL character (\\u0000)"
            )
        try:
            intent = IntentData.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = _short(".".join(str(p) for p in first["loc"]))
            raise ImportFormatError(
                f"{source}: intent #{index + 1} ({name}): {where}: {_short(first['msg'])}"
            ) from None
        if intent.name in seen:
            raise ImportFormatError(f"{source}: intent {intent.name!r} appears twice")
        seen.add(intent.name)
        intents.append(intent)
    return intents


def _short(value: object, limit: int = 120) -> str:
    """Part of an error message: bounded, whatever the upload held."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _has_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_has_nul(item) for item in data)
    return False


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases: a knowledge base never needs them, and a few
    hundred bytes of nested aliases expand to gigabytes (the "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&name, *name) are not accepted", event.start_mark
            )
        return super().compose_node(parent, index)


def _load_yaml(text: str, source: str) -> Any:
    """Safe YAML without aliases. CPU-bound for a large upload: callers on the event loop
    run it in a worker thread."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise ImportFormatError(f"{source}: not valid YAML: {_short(exc, 500)}") from None
    except RecursionError:
        raise ImportFormatError(f"{source}: nested too deeply") from None


# --- deskbot's own YAML -------------------------------------------------------------------


def read_native_yaml(text: str, source: str = "knowledge base") -> list[IntentData]:
    data = _load_yaml(text, source)
    if not isinstance(data, dict) or not isinstance(data.get("intents"), list):
        raise ImportFormatError(f"{source}: expected a mapping with an 'intents' list")
    unknown = set(data) - set(KnowledgeBaseFile.model_fields)
    if unknown:
        raise ImportFormatError(f"{source}: unknown top-level keys: {sorted(unknown)}")
    return _validated(data["intents"], source)


def write_native_yaml(intents: Sequence[IntentData]) -> str:
    document = {"version": 1, "intents": [i.model_dump() for i in intents]}
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)


# --- CSV: one row per example or answer ---------------------------------------------------


def read_csv(text: str, source: str = "CSV") -> list[IntentData]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"intent", "kind", "text"} - set(reader.fieldnames or ())
    if missing:
        raise ImportFormatError(
            f"{source}: missing columns {sorted(missing)}; expected {CSV_COLUMNS}"
        )
    intents: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(reader, start=2):
        if any(isinstance(v, str) and "\x00" in v for v in row.values()):
            raise ImportFormatError(f"{source} line {line}: a NUL character (\\u0000)")
        name = from_spreadsheet_safe((row.get("intent") or "").strip())
        kind = (row.get("kind") or "").strip()
        text_value = from_spreadsheet_safe((row.get("text") or "").strip())
        if kind not in {"example", "answer"}:
            raise ImportFormatError(f"{source} line {line}: kind must be 'example' or 'answer'")
        if not name or not text_value:
            raise ImportFormatError(f"{source} line {line}: intent and text must not be empty")
        language = (row.get("language") or "").strip() or detect_language(text_value)
        intent = intents.setdefault(
            name,
            {"name": name, "examples": defaultdict(list), "answers": defaultdict(list)},
        )
        if row.get("category"):
            intent["category"] = from_spreadsheet_safe(row["category"].strip())
        if row.get("enabled"):
            intent["enabled"] = row["enabled"].strip().lower() not in {"false", "0", "no"}
        if row.get("irreversible"):
            intent["irreversible"] = row["irreversible"].strip().lower() in {"true", "1", "yes"}
        intent["examples" if kind == "example" else "answers"][language].append(text_value)
    return _validated(
        (
            {**i, "examples": dict(i["examples"]), "answers": dict(i["answers"])}
            for i in intents.values()
        ),
        source,
    )


def write_csv(intents: Sequence[IntentData]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for intent in intents:
        for kind, texts_by_language in (("example", intent.examples), ("answer", intent.answers)):
            for language, texts in texts_by_language.items():
                for text in texts:
                    writer.writerow(
                        [
                            spreadsheet_safe(intent.name),
                            spreadsheet_safe(intent.category),
                            str(intent.enabled).lower(),
                            kind,
                            language,
                            spreadsheet_safe(text),
                            str(intent.irreversible).lower(),
                        ]
                    )
    return out.getvalue()


# --- Rasa 3: data/nlu.yml and domain.yml --------------------------------------------------


class _LiteralString(str):
    """Rendered as a YAML block scalar, the way Rasa writes `examples: |`."""


def _literal(dumper: yaml.SafeDumper, value: _LiteralString) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


class _RasaDumper(yaml.SafeDumper):
    pass


_RasaDumper.add_representer(_LiteralString, _literal)


def _dump_rasa(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_RasaDumper, allow_unicode=True, sort_keys=False, width=1000)


def write_rasa(intents: Sequence[IntentData]) -> dict[str, str]:
    """Rasa project files for enabled and disabled intents alike (disabled ones are marked)."""
    nlu: list[dict[str, Any]] = []
    responses: dict[str, list[dict[str, Any]]] = {}
    for intent in intents:
        lines = [f"- {_rasa_escape(t)}" for ts in intent.examples.values() for t in ts]
        item: dict[str, Any] = {
            "intent": intent.name,
            "metadata": {
                "category": intent.category,
                "enabled": intent.enabled,
                "irreversible": intent.irreversible,
            },
            "examples": _LiteralString("\n".join(lines) + "\n"),
        }
        nlu.append(item)
        variations = []
        for language, texts in intent.answers.items():
            for text in texts:
                variation: dict[str, Any] = {"text": text}
                variation["condition"] = [
                    {"type": "slot", "name": RASA_LANGUAGE_SLOT, "value": language}
                ]
                variations.append(variation)
        if variations:
            responses[f"utter_{intent.name}"] = variations
    domain = {
        "version": RASA_VERSION,
        "intents": [i.name for i in intents],
        "slots": {
            RASA_LANGUAGE_SLOT: {
                "type": "categorical",
                "values": sorted({lang for i in intents for lang in i.answers}) or ["en"],
                "influence_conversation": False,
                "mappings": [{"type": "custom"}],
            }
        },
        "responses": responses,
    }
    return {
        "data/nlu.yml": _dump_rasa({"version": RASA_VERSION, "nlu": nlu}),
        "domain.yml": _dump_rasa(domain),
    }


def _rasa_escape(text: str) -> str:
    """Rasa reads `[text](entity)` as an entity annotation; keep literal brackets literal."""
    return text.replace("\n", " ").replace("[", "(").replace("]", ")")


def read_rasa(
    nlu_text: str, domain_text: str | None, source: str = "Rasa project"
) -> list[IntentData]:
    nlu_doc = _load_yaml(nlu_text, source + " nlu.yml")
    if not isinstance(nlu_doc, dict) or not isinstance(nlu_doc.get("nlu"), list):
        raise ImportFormatError(f"{source}: nlu.yml needs an 'nlu' list")
    responses: dict[str, Any] = {}
    if domain_text:
        domain = _load_yaml(domain_text, source + " domain.yml") or {}
        if not isinstance(domain, dict):
            raise ImportFormatError(f"{source}: domain.yml must be a mapping")
        responses = domain.get("responses") or {}
    raw = []
    for item in nlu_doc["nlu"]:
        if not isinstance(item, dict) or "intent" not in item:
            continue  # synonyms, regexes and lookups carry no FAQ content
        examples: dict[str, list[str]] = defaultdict(list)
        for line in str(item.get("examples") or "").splitlines():
            text = line.strip()
            if text.startswith("- "):
                text = text[2:].strip()
                examples[detect_language(text)].append(text)
        metadata = item.get("metadata") or {}
        raw.append(
            {
                "name": item["intent"],
                "category": metadata.get("category", "general"),
                "enabled": bool(metadata.get("enabled", True)),
                "irreversible": bool(metadata.get("irreversible", False)),
                "examples": dict(examples),
                "answers": _rasa_answers(responses.get(f"utter_{item['intent']}") or []),
            }
        )
    return _validated(raw, source)


def _rasa_answers(variations: list[Any]) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = defaultdict(list)
    for variation in variations:
        if not isinstance(variation, dict) or not variation.get("text"):
            continue
        language = None
        for condition in variation.get("condition") or []:
            if isinstance(condition, dict) and condition.get("name") == RASA_LANGUAGE_SLOT:
                language = str(condition.get("value"))
        text = str(variation["text"])
        answers[language or detect_language(text)].append(text)
    return dict(answers)


# --- files on disk ------------------------------------------------------------------------


def read_path(path: Path) -> list[IntentData]:
    """Read a KB from a deskbot YAML file, a CSV file, a Rasa nlu.yml or a Rasa project dir."""
    if path.is_dir():
        nlu = path / "data" / "nlu.yml"
        if not nlu.is_file():
            raise ImportFormatError(f"{path}: a Rasa project needs data/nlu.yml")
        domain = path / "domain.yml"
        return read_rasa(
            nlu.read_text(), domain.read_text() if domain.is_file() else None, str(path)
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() == ".csv":
        return read_csv(text, str(path))
    data = _load_yaml(text, str(path))
    if isinstance(data, dict) and "nlu" in data:
        domain = path.parent / "domain.yml"
        if not domain.is_file():
            domain = path.parent.parent / "domain.yml"
        return read_rasa(text, domain.read_text() if domain.is_file() else None, str(path))
    return read_native_yaml(text, str(path))


def write_path(intents: Sequence[IntentData], path: Path, fmt: str) -> list[Path]:
    if fmt == "rasa":
        written = []
        for relative, content in write_rasa(intents).items():
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            written.append(target)
        return written
    content = write_csv(intents) if fmt == "csv" else write_native_yaml(intents)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return [path]
