"""Pick a reader by file name: one entry point for "a run" and "some qrels".

Runs: ``.jsonl`` -> JSON Lines, ``.parquet`` -> Parquet, anything else -> TREC.
Qrels: ``.tsv`` -> BEIR qrels (with header), a folder -> a BEIR folder's
``qrels/<split>.tsv``, anything else -> TREC qrels.
"""

from __future__ import annotations

import os
from pathlib import Path

from ragbench.core.io.beir import read_beir_qrels
from ragbench.core.io.jsonl import read_run_jsonl
from ragbench.core.io.parquet import read_run_parquet
from ragbench.core.io.trec import read_trec_qrels, read_trec_run
from ragbench.core.qrels import Qrels
from ragbench.core.run import Run


def read_run(path: str | os.PathLike, *, name: str | None = None) -> Run:
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return read_run_jsonl(path, name=name)
    if suffix == ".parquet":
        return read_run_parquet(path, name=name)
    return read_trec_run(path, name=name)


def read_qrels(path: str | os.PathLike, *, split: str = "test") -> Qrels:
    p = Path(path)
    if p.is_dir():
        return read_beir_qrels(p / "qrels" / f"{split}.tsv")
    if p.suffix.lower() == ".tsv":
        return read_beir_qrels(p)
    return read_trec_qrels(p)
