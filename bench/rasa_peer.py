"""The peer for bench/load: Rasa's own stack answering the same FAQ traffic.

A complete Rasa 3.6 assistant (NLU + RulePolicy, one rule per FAQ intent, English answers)
built from deskbot's demo knowledge base, served by `rasa run` with the REST channel and a SQL
tracker store on the same PostgreSQL, so both sides persist every turn. The trained model is
cached by the hash of its project files, so a second bench run does not retrain.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.rasa_env import RasaEnvironment
from knowledge.demo import demo_intents
from knowledge.formats import write_rasa
from knowledge.rasa_project import rasa_config

FALLBACK = "Sorry, I did not understand that."


def project_files(epochs: int) -> dict[str, str]:
    intents = [i for i in demo_intents() if i.enabled]
    files = write_rasa(intents)
    answers = {i.name: i.answers["en"][0] for i in intents if i.answers.get("en")}
    domain: dict[str, Any] = {
        "version": "3.1",
        "intents": [i.name for i in intents],
        "responses": {f"utter_{name}": [{"text": text}] for name, text in answers.items()},
    }
    domain["responses"]["utter_default"] = [{"text": FALLBACK}]
    rules = [
        {"rule": f"answer {name}", "steps": [{"intent": name}, {"action": f"utter_{name}"}]}
        for name in answers
    ]
    rules.append(
        {
            "rule": "did not understand",
            "steps": [{"intent": "nlu_fallback"}, {"action": "utter_default"}],
        }
    )
    config = yaml.safe_load(rasa_config(epochs, 0.45, 0.1))
    config["policies"] = [{"name": "RulePolicy"}]
    return {
        "config.yml": yaml.safe_dump(config, sort_keys=False),
        "domain.yml": yaml.safe_dump(domain, allow_unicode=True, sort_keys=False),
        "data/nlu.yml": files["data/nlu.yml"],
        "data/rules.yml": yaml.safe_dump({"version": "3.1", "rules": rules}, sort_keys=False),
        "credentials.yml": yaml.safe_dump({"rest": None}),
    }


def write_project(directory: Path, epochs: int) -> str:
    """The project files; returns their content hash (the model's cache key)."""
    digest = hashlib.sha256()
    for relative, content in sorted(project_files(epochs).items()):
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        digest.update(relative.encode() + b"\0" + content.encode())
    return digest.hexdigest()[:16]


def trained_model(env: RasaEnvironment, epochs: int, cache: Path) -> tuple[Path, Path]:
    """(project directory, model archive), trained once per distinct project."""
    staging = cache / "staging"
    version = write_project(staging, epochs)
    project = cache / f"faq-{version}"
    model = project / "models" / "faq.tar.gz"
    if not model.is_file():
        if project.exists():
            subprocess.run(["rm", "-rf", str(project)], check=True)
        staging.rename(project)
        print(f"training the Rasa peer ({epochs} DIET epochs, RulePolicy) …", flush=True)
        with (project / "train.log").open("wb") as log:
            subprocess.run(
                [str(env.rasa), "train", "--out", "models", "--fixed-model-name", "faq"],
                cwd=project,
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
    else:
        subprocess.run(["rm", "-rf", str(staging)], check=True)
    return project, model


def endpoints(database: str) -> str:
    store = {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "127.0.0.1",
        "port": 5432,
        "db": database,
        "username": "postgres",
        "password": "",
    }
    return yaml.safe_dump({"tracker_store": store})


def start(
    env: RasaEnvironment, project: Path, model: Path, port: int, database: str
) -> subprocess.Popen[bytes]:
    (project / "endpoints.yml").write_text(endpoints(database))
    return subprocess.Popen(
        [
            str(env.rasa), "run",
            "-i", "127.0.0.1", "-p", str(port),
            "-m", str(model),
            "--credentials", "credentials.yml",
            "--endpoints", "endpoints.yml",
        ],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip


async def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(900):
            if server.poll() is not None:
                raise RuntimeError("rasa run exited")
            try:
                async with http.post(
                    f"{base}/webhooks/rest/webhook", json={"sender": "warmup", "message": "hi"}
                ) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("rasa run did not come up")
