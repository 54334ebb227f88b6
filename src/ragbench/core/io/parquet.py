"""Parquet runs and per-query results.

* a run: columns ``query_id`` (string), ``doc_id`` (string), ``score`` (float64);
  the run's name is kept in the schema metadata (``ragbench.run_name``);
* per-query results: an Evaluation's :meth:`to_table`, the run's name likewise.

Errors name the file, the row (1-based) and the column. Writers write a
temporary file and rename it, so a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ragbench.core.errors import FormatError
from ragbench.core.io._atomic import atomic_write
from ragbench.core.io._validate import (
    check_results_table,
    first_duplicate,
    has_duplicates,
    id_column,
)
from ragbench.core.run import Run

RUN_NAME_KEY = b"ragbench.run_name"


def read_run_parquet(path: str | os.PathLike, *, name: str | None = None) -> Run:
    """Read a run. Integer id columns are read as their digits; any numeric score
    column as float64. Its name is ``name``, else the stored one, else the file's
    stem. Nulls, non-finite scores and a document twice for a query are errors."""
    source = str(path)
    table = _read(path, ["query_id", "doc_id", "score"])
    qids = id_column(table["query_id"], source, "query_id")
    dids = id_column(table["doc_id"], source, "doc_id")
    scores = _score_column(table["score"], source)
    dup = first_duplicate(qids, dids) if has_duplicates(qids, dids) else None
    if dup is not None:
        row, first = dup
        raise FormatError(f"row {row + 1}: document {dids[row].as_py()!r} appears twice for "
                          f"query {qids[row].as_py()!r} (first at row {first + 1})",
                          source=source, field="doc_id")
    stored = (table.schema.metadata or {}).get(RUN_NAME_KEY)
    return Run(qids, dids, scores, source=source,
               name=name or (stored.decode("utf-8") if stored else Path(path).stem))


def _score_column(values, source: str) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
        raise FormatError(f"expected numbers, found {values.type}", source=source,
                          field="score")
    if values.null_count:
        row = int(pc.index(pc.is_null(values), True).as_py())
        raise FormatError(f"row {row + 1}: missing (null)", source=source, field="score")
    scores = values.to_numpy(zero_copy_only=False).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(scores))
    if len(bad):
        raise FormatError(f"row {bad[0] + 1}: {float(scores[bad[0]])!r} is not a finite number",
                          source=source, field="score")
    return scores


def write_run_parquet(run: Run, path: str | os.PathLike) -> None:
    """Write ``run`` in row order, its name in the schema metadata."""
    table = run.to_table().replace_schema_metadata({RUN_NAME_KEY: run.name.encode("utf-8")})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def write_results_parquet(results, path: str | os.PathLike) -> None:
    """Write per-query results (an Evaluation, or its ``to_table()``); an
    Evaluation's run name goes in the schema metadata."""
    if isinstance(results, pa.Table):
        table = results
    else:
        table = results.to_table().replace_schema_metadata(
            {RUN_NAME_KEY: results.run_name.encode("utf-8")})
    check_results_table(table, source=str(path))
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_results_parquet(path: str | os.PathLike) -> pa.Table:
    """Read per-query results: a unique, non-null ``query_id`` and number or
    string columns (the schema metadata, with the run name, is kept)."""
    return check_results_table(_read(path, None), source=str(path))


def _read(path: str | os.PathLike, columns: list[str] | None) -> pa.Table:
    source = str(path)
    if not os.path.exists(path):
        raise FormatError("no such file", source=source)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"not a Parquet file ({exc})", source=source) from None
    for column in columns or ():
        if column not in schema.names:
            raise FormatError(f"missing column (the file has: {', '.join(schema.names)})",
                              source=source, field=column)
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(f"cannot be read ({exc})", source=source) from None
