"""The demo knowledge base shipped with deskbot (a small SaaS company, English and Chinese)."""

from __future__ import annotations

from importlib import resources

from knowledge.formats import read_native_yaml
from knowledge.schema import IntentData


def demo_intents() -> list[IntentData]:
    text = resources.files("knowledge").joinpath("demo/acme_kb.yml").read_text(encoding="utf-8")
    return read_native_yaml(text, "demo knowledge base")
