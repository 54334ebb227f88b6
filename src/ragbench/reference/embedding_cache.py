"""Document embeddings kept on disk, keyed by (model identity, SHA-256 of the text).

A restarted system, or a second system over the same corpus (dense and hybrid), reads
its document vectors back instead of encoding the corpus again; a different model (or
the same folder with other weights) has another identity and never sees them.

Layout::

    <cache_dir>/<namespace>/model.json          the model identity, name, dimension
    <cache_dir>/<namespace>/shard-<uuid>.npz    keys (n, 32) uint8 SHA-256 digests,
                                                vectors (n, dimension) float32

``namespace`` is the first 24 hex digits of SHA-256 of the model identity. Shards are
written whole to a temporary name and renamed, so a crash or two processes encoding
at once leave only complete shards (at worst the same text twice, which is harmless).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DIGEST_BYTES = 32


def text_digest(text: str) -> bytes:
    """SHA-256 of the UTF-8 bytes of ``text`` (32 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """The cached vectors of one model (``model_id``) under ``folder``."""

    def __init__(self, folder: str | os.PathLike, *, model_id: str, dimension: int,
                 model_name: str | None = None) -> None:
        self.model_id = model_id
        self.dimension = int(dimension)
        namespace = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:24]
        self.folder = Path(folder) / namespace
        self._model_name = model_name

    def lookup(self, digests: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """The cached vectors of ``digests``: ``(vectors, found)`` with ``vectors`` of
        shape ``(len(digests), dimension)`` (rows of missing texts are zero) and
        ``found`` a boolean mask."""
        vectors = np.zeros((len(digests), self.dimension), dtype=np.float32)
        found = np.zeros(len(digests), dtype=bool)
        wanted: dict[bytes, list[int]] = {}
        for row, digest in enumerate(digests):
            wanted.setdefault(digest, []).append(row)
        for shard in self._shards():
            try:
                with np.load(shard) as data:
                    keys, stored = data["keys"], data["vectors"]
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("embedding cache: skipping unreadable %s (%s)", shard, exc)
                continue
            if stored.shape[1:] != (self.dimension,) or keys.shape != (len(stored), DIGEST_BYTES):
                logger.warning("embedding cache: skipping %s (shape %s, expected dimension %d)",
                               shard, stored.shape, self.dimension)
                continue
            raw = keys.tobytes()
            for i in range(len(keys)):
                rows = wanted.get(raw[i * DIGEST_BYTES:(i + 1) * DIGEST_BYTES])
                if rows is not None:
                    vectors[rows] = stored[i]
                    found[rows] = True
        return vectors, found

    def store(self, digests: list[bytes], vectors: np.ndarray) -> None:
        """Add ``vectors[i]`` as the embedding of the text with digest ``digests[i]``.

        A cache that cannot be written (read-only folder, full disk) is logged and
        skipped: the system still serves, it just encodes again next time.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if not len(digests):
            return
        if vectors.shape != (len(digests), self.dimension):
            raise ValueError(f"vectors of shape {vectors.shape} for {len(digests)} texts "
                             f"of dimension {self.dimension}")
        keys = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, DIGEST_BYTES)
        name = f"shard-{uuid.uuid4().hex}"
        partial = self.folder / f".{name}.partial.npz"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_model_card()
            with open(partial, "wb") as fh:
                np.savez(fh, keys=keys, vectors=vectors)
            os.replace(partial, self.folder / f"{name}.npz")
        except OSError as exc:
            logger.warning("embedding cache: could not write to %s (%s); continuing "
                           "without caching these %d vectors", self.folder, exc, len(digests))
            partial.unlink(missing_ok=True)

    def _shards(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("shard-*.npz"))

    def _write_model_card(self) -> None:
        card = self.folder / "model.json"
        if not card.exists():
            card.write_text(json.dumps({"model_id": self.model_id, "model": self._model_name,
                                        "dimension": self.dimension}, indent=2) + "\n")
