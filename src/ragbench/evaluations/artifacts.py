"""The ranking of an evaluation as files: the stored Parquet run and the TREC
run file served for download.

The Parquet file lives at ``<data_dir>/runs/evaluation-<id>.parquet`` with
columns ``query_id``, ``doc_id``, ``score`` (float64) and ``rank`` (1-based,
int64), one row per retrieved document, queries in byte order and documents
ranked as trec_eval ranks them (score descending, doc id descending on ties).
The run's name is in the schema metadata, so
:func:`ragbench.core.io.read_run_parquet` reads it back as a Run.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ragbench.core import Run
from ragbench.core.io import read_run_parquet, write_trec_run
from ragbench.core.io.parquet import RUN_NAME_KEY
from ragbench.core.ranking import trec_order

RUNS_FOLDER = "runs"


def run_path(evaluation_id: int) -> str:
    """Where an evaluation's run is stored, relative to the data folder."""
    return f"{RUNS_FOLDER}/evaluation-{evaluation_id}.parquet"


def run_tag(system_name: str) -> str:
    """The run tag of a system: ``ragbench-<name>``, whitespace turned into ``_``
    (a TREC run file is whitespace-separated)."""
    return "ragbench-" + re.sub(r"\s+", "_", system_name.strip())


def ranked_table(run: Run) -> pa.Table:
    """``run`` as the artifact's table (see the module doc)."""
    order, offsets, _ = trec_order(run)
    counts = np.diff(offsets)
    rank = np.arange(len(order), dtype=np.int64) - np.repeat(offsets[:-1], counts) + 1
    take = pa.array(order, type=pa.int64())
    return pa.table({"query_id": run.query_ids.take(take), "doc_id": run.doc_ids.take(take),
                     "score": pa.array(run.scores[order], type=pa.float64()),
                     "rank": pa.array(rank, type=pa.int64())},
                    metadata={RUN_NAME_KEY: run.name.encode("utf-8")})


def write_run_artifact(data_dir: Path, evaluation_id: int, run: Run) -> str:
    """Write ``run`` (temporary file, then rename) and return its relative path."""
    relative = run_path(evaluation_id)
    target = Path(data_dir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    table = ranked_table(run)
    # Written next to the target and renamed: a reader never sees half a file.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # Doc ids are nearly all distinct: a dictionary for them costs time and saves
        # nothing; query ids repeat top_k times each.
        pq.write_table(table, tmp, use_dictionary=["query_id"])
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return relative


def read_run_artifact(data_dir: Path, relative: str) -> Run:
    return read_run_parquet(Path(data_dir) / relative)


def trec_run_text(run: Run, *, tag: str) -> str:
    """``run`` as a TREC run file: ``qid Q0 doc rank score tag`` lines, ranked as
    trec_eval ranks them (see :func:`ragbench.core.io.write_trec_run`)."""
    if len(run) == 0:
        return ""
    with tempfile.TemporaryDirectory(prefix="ragbench-run-") as folder:
        path = Path(folder) / "run.txt"
        write_trec_run(run, path, tag=tag)
        return path.read_text(encoding="utf-8")
