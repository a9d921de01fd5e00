"""Rasa in its own virtual environment (it pins old aiohttp/SQLAlchemy): install, train, serve."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import shutil
import signal
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

RASA_VERSION = "3.6.21"


class RasaSetupError(RuntimeError):
    pass


def default_home() -> Path:
    """Outside the repository, so a CI rerun or a second checkout reuses the 2.7 GB install."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deskbot" / f"rasa-{RASA_VERSION}"


def find_python310() -> str:
    candidates = [shutil.which("python3.10")]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.10.*/bin/python"), reverse=True)
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and _runs_python310(candidate):
            return candidate
    raise RasaSetupError(
        "Rasa 3.6 needs Python 3.8–3.10 and none was found; pass --python /path/to/python3.10"
    )


def _runs_python310(candidate: str) -> bool:
    """A pyenv shim exists on PATH even where that version is not selected, and then fails."""
    probe = subprocess.run(
        [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() == "True"


class RasaEnvironment:
    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def rasa(self) -> Path:
        return self.home / "bin" / "rasa"

    def installed(self) -> bool:
        if not self.rasa.is_file():
            return False
        version = subprocess.run(
            [str(self.home / "bin" / "python"), "-c", "import rasa; print(rasa.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        )
        return version.stdout.strip() == RASA_VERSION

    def setup(self, python: str | None = None) -> bool:
        """Create the environment and install Rasa; False when it was already there."""
        if self.installed():
            return False
        interpreter = python or find_python310()
        self.home.parent.mkdir(parents=True, exist_ok=True)
        steps = [
            [interpreter, "-m", "venv", "--clear", str(self.home)],
            [str(self.home / "bin" / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip"],
            [
                str(self.home / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                f"rasa=={RASA_VERSION}",
            ],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RasaSetupError(f"{' '.join(step[:4])} failed:\n{result.stderr[-2000:]}")
        return True

    async def train(self, project: Path, out: Path, name: str) -> Path:
        """`rasa train nlu` into `out` (an absolute path); returns the model archive."""
        self._require()
        process = await asyncio.create_subprocess_exec(
            str(self.rasa),
            "train",
            "nlu",
            "--config",
            "config.yml",
            "--nlu",
            "data/nlu.yml",
            "--out",
            str(out),
            "--fixed-model-name",
            name,
            cwd=project,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        try:
            output, _ = await process.communicate()
        except BaseException:  # stopped while training (it now runs while the service serves)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        model = out / f"{name}.tar.gz"
        if process.returncode != 0 or not model.is_file():
            tail = output.decode(errors="replace")[-2000:]
            raise RasaSetupError(f"rasa train nlu failed ({process.returncode}):\n{tail}")
        return model

    async def validate(self, project: Path) -> str:
        self._require()
        process = await asyncio.create_subprocess_exec(
            str(self.rasa),
            "data",
            "validate",
            "--domain",
            "domain.yml",
            "--data",
            "data",
            cwd=project,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RasaSetupError(output.decode(errors="replace")[-2000:])
        return output.decode(errors="replace")

    def _require(self) -> None:
        if not self.rasa.is_file():
            raise RasaSetupError(f"Rasa is not installed in {self.home}; run `deskbot rasa setup`")


class RasaServer:
    """`rasa run --enable-api` on loopback, started and stopped with deskbot."""

    def __init__(self, env: RasaEnvironment, port: int, log_file: Path) -> None:
        self._env = env
        self.port = port
        self._log_file = log_file
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self, model: Path) -> None:
        self._env._require()
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        handle = self._log_file.open("ab")
        self._process = await asyncio.create_subprocess_exec(
            str(self._env.rasa),
            "run",
            "--enable-api",
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(model),
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            start_new_session=True,
        )
        handle.close()
        log.info("rasa server starting", extra={"port": self.port, "pid": self._process.pid})

    async def stop(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            async with asyncio.timeout(15):
                await self._process.wait()
        except TimeoutError:
            os.killpg(self._process.pid, signal.SIGKILL)
            await self._process.wait()

    def kill(self) -> None:
        """Hard stop, as a crash would (used by fault tests)."""
        if self._process is not None and self._process.returncode is None:
            os.killpg(self._process.pid, signal.SIGKILL)
