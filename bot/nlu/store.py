"""Trained models on disk: one directory per version, published by an atomic rename."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bot.nlu.local import LocalNluModel

KEEP_VERSIONS = 5


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, version: str) -> Path:
        return self.root / version

    def load(self, version: str) -> LocalNluModel | None:
        path = self.path_for(version)
        if not path.is_dir():
            return None
        try:
            return LocalNluModel.load(path)
        except (OSError, ValueError, KeyError, EOFError):
            shutil.rmtree(path, ignore_errors=True)
            return None

    def save(self, model: LocalNluModel) -> Path:
        """Write into a temporary directory, then rename: readers never see half a model."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path_for(model.version)
        if final.is_dir():
            return final
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        model.save(staging)
        try:
            staging.rename(final)
        except OSError:  # another process published the same version first
            shutil.rmtree(staging, ignore_errors=True)
        self._prune(keep=model.version)
        return final

    def _prune(self, keep: str) -> None:
        versions = sorted(
            (p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in versions[KEEP_VERSIONS:]:
            if old.name != keep:
                shutil.rmtree(old, ignore_errors=True)
