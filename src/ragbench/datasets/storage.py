"""The stored form of a dataset version: a normalised BEIR folder named by its hash.

Layout under ``settings.data_dir``::

    datasets/<version>/corpus.jsonl        every document, sorted by id (empty file
                                           when the upload had no corpus)
    datasets/<version>/queries.jsonl       the judged queries only, sorted by id
    datasets/<version>/qrels/<split>.tsv   the judgments, sorted by (query id, doc id)
    datasets/.staging/<random>/            work folders of uploads in progress

Normalising first makes the version a property of the content, not of how it
was sent: ids sorted by their UTF-8 bytes, JSON written as ``json.dumps`` writes
it, qrels in BEIR's TSV form. The version is

    sha256("ragbench-beir-1\\n" + for each file in the order above:
           "<relative path>\\t" + hex(sha256(file bytes)) + "\\n")

so the split name (the qrels file's path) is part of it. A folder is complete
before it gets its final name (one ``rename``), so a version folder that exists
is whole; identical content uploaded under another name reuses it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.io.beir import (
    BeirDataset,
    Corpus,
    Queries,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_queries,
    write_beir_corpus,
    write_beir_qrels,
    write_beir_queries,
)
from ragbench.core.qrels import Qrels

DATASETS = "datasets"
_STAGING = ".staging"
_VERSION_TAG = b"ragbench-beir-1\n"
_STALE_S = 24 * 3600


def datasets_root(data_dir: Path) -> Path:
    return data_dir / DATASETS


def relative_path(version: str) -> str:
    """``storage_path`` of a version (relative to ``settings.data_dir``)."""
    return f"{DATASETS}/{version}"


def stored_files(split: str) -> tuple[str, ...]:
    return ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv")


@contextmanager
def staging(data_dir: Path) -> Iterator[Path]:
    """A fresh work folder on the same file system as the version folders (so
    that publishing is a rename); removed on exit, whatever happened."""
    parent = datasets_root(data_dir) / _STAGING
    _sweep(parent)
    folder = parent / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sweep(parent: Path) -> None:
    """Remove work folders left by a process that died mid-upload (a day old:
    no upload takes that long, so none of them is still in use)."""
    if not parent.is_dir():
        return
    cutoff = time.time() - _STALE_S
    for entry in parent.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue  # removed by its owner meanwhile


def write_normalised(folder: Path, dataset: BeirDataset) -> str:
    """Write ``dataset`` into ``folder`` in normalised form; return its version (hex)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    corpus, queries = dataset.corpus, dataset.queries
    order = pc.sort_indices(corpus.ids)
    write_beir_corpus(Corpus(corpus.ids.take(order), corpus.titles.take(order),
                             corpus.texts.take(order)), folder / "corpus.jsonl")
    order = pc.sort_indices(queries.ids)
    write_beir_queries(Queries(queries.ids.take(order), queries.texts.take(order)),
                       folder / "queries.jsonl")
    table = dataset.qrels.to_table().sort_by([("query_id", "ascending"),
                                              ("doc_id", "ascending")])
    write_beir_qrels(Qrels(table["query_id"], table["doc_id"],
                           table["relevance"].to_numpy()),
                     folder / "qrels" / f"{dataset.split}.tsv")
    return content_version(folder, dataset.split)


def content_version(folder: Path, split: str) -> str:
    """The version of a normalised folder (formula in the module docstring)."""
    digest = hashlib.sha256(_VERSION_TAG)
    for name in stored_files(split):
        file_hash = hashlib.sha256()
        with open(folder / name, "rb") as f:
            while chunk := f.read(1 << 20):
                file_hash.update(chunk)
        digest.update(f"{name}\t{file_hash.hexdigest()}\n".encode())
    return digest.hexdigest()


def publish(staged: Path, data_dir: Path, version: str) -> tuple[Path, bool]:
    """Move a complete ``staged`` folder to ``datasets/<version>``.

    Returns ``(folder, created)``; ``created`` is False when that version was
    already stored (then ``staged`` is left for the staging cleanup)."""
    target = datasets_root(data_dir) / version
    if target.is_dir():
        return target, False
    try:
        os.rename(staged, target)
    except OSError:
        if target.is_dir():  # the same content, published at the same moment
            return target, False
        raise
    return target, True


def remove_version(data_dir: Path, version: str) -> None:
    shutil.rmtree(datasets_root(data_dir) / version, ignore_errors=True)


def read_stored(folder: Path, split: str) -> BeirDataset:
    """Read a version folder back (an empty ``corpus.jsonl`` is an empty corpus)."""
    corpus_path = folder / "corpus.jsonl"
    if corpus_path.stat().st_size:
        corpus = read_beir_corpus(corpus_path)
    else:
        empty = pa.array([], pa.string())
        corpus = Corpus(empty, empty, empty)
    return BeirDataset(corpus, read_beir_queries(folder / "queries.jsonl"),
                       read_beir_qrels(folder / "qrels" / f"{split}.tsv"), split)
