"""The engine's decisions (clarify, out of scope, confirm, rejection) on the Rasa engine's
ranking: the real engine with `nlu_engine=rasa` on the demo knowledge base, a real Rasa 3.6
server trained by deskbot (DIET, `--epochs`, cached by the training data in data_dir), the
same questions as tests/test_judgement.py. Not in CI: training takes minutes.

    .venv/bin/python -m bench.rasa_judgement [--epochs 100] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path

from bot.services import build_services, running
from bot.settings import load_settings
from channels.base import InboundMessage

PROBES: list[tuple[str, list[str]]] = [
    ("vague word: asks which", ["account", "1"]),
    ("off-topic: says what it can do", ["is it going to rain in Berlin tomorrow?"]),
    ("irreversible: confirms first", ["I think I want to get rid of my account", "yes"]),
    ("rejection: apologises", ["how do I reset my password", "that didn't help"]),
    ("Chinese", ["我的文件不同步", "没用"]),
]


async def run(data_dir: Path, epochs: int) -> None:
    settings = load_settings(
        None,
        data_dir=data_dir,
        nlu_engine="rasa",
        rasa_epochs=epochs,
        log_json=False,
        demo_logins=False,
    )
    async with running(build_services(settings, {})) as services:
        rasa = services.nlu.rasa
        assert rasa is not None
        while rasa.answering != "rasa":
            print(f"waiting for rasa ({rasa.health()})", flush=True)
            await asyncio.sleep(10)
        for name, turns in PROBES:
            user = uuid.uuid4().hex[:8]
            print(f"\n## {name}")
            for text in turns:
                result = await services.engine.receive(
                    InboundMessage("webchat", user, user, uuid.uuid4().hex, text)
                )
                print(f"> {text}")
                for reply in result.replies:
                    buttons = [b["title"] for b in reply.quick_replies or []]
                    print(f"  {reply.text}" + (f"  [{' | '.join(buttons)}]" if buttons else ""))
            print(f"  (engine: {rasa.answering}, state: {result.state})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, default=Path("var-bench-rasa"))
    args = parser.parse_args()
    asyncio.run(run(args.data_dir, args.epochs))


if __name__ == "__main__":
    main()
