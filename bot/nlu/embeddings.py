"""Static token embeddings that ship inside the `wordllama` wheel (MIT), loaded from the
installed package only: its own loader looks in a cache folder first and then downloads.

A sentence's vector is the unit-length mean of its tokens' 256-d vectors (wordllama's
pooling), so one parse costs a tokenizer call and a table lookup, no neural network.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from safetensors import safe_open
from tokenizers import Tokenizer

WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
DIMENSIONS = 256
MAX_TOKENS = 128


class EmbeddingsUnavailable(RuntimeError):
    """The wordllama package, or its packaged weights, are not installed."""


class SentenceEmbedder:
    """Thread-safe after construction; one instance per process is plenty (see `shared`)."""

    def __init__(self, weights: Path, tokenizer: Path) -> None:
        with safe_open(str(weights), framework="np", device="cpu") as handle:
            key = next(iter(handle.keys()))
            table = handle.get_tensor(key)
        self._table = np.ascontiguousarray(table.astype(np.float32))
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()

    @property
    def dimensions(self) -> int:
        return int(self._table.shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 256) float32, each row unit length (zero for an empty text)."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        last = self._table.shape[0] - 1
        for row, encoding in enumerate(encodings):
            ids = np.asarray(encoding.ids[:MAX_TOKENS], dtype=np.int64)
            if ids.size == 0:
                continue
            vector = self._table[np.clip(ids, 0, last)].mean(axis=0)
            norm = float(np.linalg.norm(vector))
            if norm > 0:
                out[row] = vector / norm
        return out


def packaged_files() -> tuple[Path, Path]:
    try:
        root = resources.files("wordllama")
    except ModuleNotFoundError as exc:
        raise EmbeddingsUnavailable("the wordllama package is not installed") from exc
    weights, tokenizer = Path(str(root / WEIGHTS)), Path(str(root / TOKENIZER))
    if not weights.is_file() or not tokenizer.is_file():
        raise EmbeddingsUnavailable(f"wordllama's packaged files are missing under {root}")
    return weights, tokenizer


_shared: SentenceEmbedder | None = None
_shared_lock = threading.Lock()


def shared() -> SentenceEmbedder:
    """The process's embedder, loaded on first use (about 0.2 s, 33 MB)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SentenceEmbedder(*packaged_files())
        return _shared
