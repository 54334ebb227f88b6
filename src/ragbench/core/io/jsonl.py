"""JSON Lines runs and per-query results.

* a run: one ``{"query_id": str, "doc_id": str, "score": number}`` per line
  (other fields are ignored; an integer id is read as its digits);
* per-query results (an Evaluation's :meth:`to_table`): one object per query,
  ``{"query_id": ..., "<measure>": value, ...}``.

Errors carry ``file:line`` and the field. Writers write a temporary file and
rename it, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from ragbench.core.errors import FormatError
from ragbench.core.io._atomic import atomic_write, atomic_write_bytes
from ragbench.core.io._records import count_nonblank_lines, is_utf8, parse_line, read_records
from ragbench.core.io._text import constant_strings, joined_lines, read_bytes
from ragbench.core.io._validate import check_results_table
from ragbench.core.run import Run

RUN_FIELDS = {"query_id": "id", "doc_id": "id", "score": "float"}


def read_run_jsonl(path: str | os.PathLike, *, name: str | None = None) -> Run:
    """Read a run from JSON Lines. Its name is ``name``, else the file's stem.
    A document twice for the same query is an error."""
    source = str(path)
    table = read_records(read_bytes(path), source, RUN_FIELDS, unique=("query_id", "doc_id"))
    return Run(table["query_id"], table["doc_id"], table["score"].to_numpy(),
               name=name or Path(path).stem, source=source)


def write_run_jsonl(run: Run, path: str | os.PathLike) -> None:
    """Write ``run`` in row order, one object per line; scores in the shortest
    form that reads back to the same float64. Vectorised (Arrow string kernels:
    no Python loop per row unless an id needs JSON escaping)."""
    n = len(run)
    atomic_write_bytes(path, joined_lines([
        constant_strings('{"query_id": ', n), _json_strings(run.query_ids),
        constant_strings(', "doc_id": ', n), _json_strings(run.doc_ids),
        constant_strings(', "score": ', n), pa.array(run.scores),
    ], "", end="}\n"))


def _json_strings(values: pa.Array) -> pa.Array:
    """Each value as a JSON string literal (quotes included)."""
    values = values.cast(pa.large_string())
    if _needs_escape(values):
        return pa.array([json.dumps(v, ensure_ascii=False) for v in values.to_pylist()],
                        type=pa.large_string())
    quote = constant_strings('"', len(values))
    return pc.binary_join_element_wise(quote, values, quote, pa.scalar("", pa.large_string()))


def _needs_escape(values: pa.Array) -> bool:
    """Whether some value holds a quote, a backslash or a control character,
    the bytes a JSON string must escape: checked on the data buffer at once."""
    if not len(values) or values.buffers()[2] is None:
        return False
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:
                                                                 values.offset + len(values) + 1]
    raw = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return bool(np.any((raw < 0x20) | (raw == ord('"')) | (raw == ord("\\"))))


def write_results_jsonl(results, path: str | os.PathLike) -> None:
    """Write per-query results (an Evaluation, or its ``to_table()``): one object
    per row, values as ``json.dumps`` writes them; a NaN or infinite value,
    which JSON cannot hold, is written as ``null``."""
    table = results if isinstance(results, pa.Table) else results.to_table()
    check_results_table(table, source=str(path))
    names = table.column_names
    columns = [table[name].to_pylist() for name in names]

    def clean(v):
        return None if isinstance(v, float) and not math.isfinite(v) else v

    text = "".join(json.dumps(dict(zip(names, map(clean, row))), ensure_ascii=False) + "\n"
                   for row in zip(*columns))
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_results_jsonl(path: str | os.PathLike) -> pa.Table:
    """Read per-query results back into an Arrow table (column types inferred:
    integers stay integers, ``null`` stays null). ``query_id`` is required and
    unique; each field must hold the same JSON type on every line."""
    source = str(path)
    data = read_bytes(path)
    try:
        if not is_utf8(data):
            raise FormatError("undecodable bytes (not UTF-8)", source=source)
        table = pajson.read_json(pa.py_buffer(data),
                                 read_options=pajson.ReadOptions(block_size=1 << 24))
        if table.num_rows != count_nonblank_lines(data, table.num_rows):
            raise FormatError("not one JSON object per line", source=source)
        return check_results_table(table, source=source)
    except FormatError:
        _explain_results(data, source)  # raises naming the line, if it can
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        _explain_results(data, source)
        raise FormatError(f"cannot be read: {exc}", source=source) from None


def _explain_results(data: bytes, source: str) -> None:
    """Walk the lines to say where the file is wrong (the fast reader's errors
    carry no line numbers)."""
    kinds: dict[str, tuple[str, int]] = {}
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        record = parse_line(raw, source, lineno)
        qid = record.get("query_id")
        if isinstance(qid, int) and not isinstance(qid, bool):
            qid = str(qid)
        if not isinstance(qid, str):
            raise FormatError("missing, or not a string" if qid is None else
                              f"expected a string, found {json.dumps(qid)[:40]}",
                              source=source, line=lineno, field="query_id")
        first = seen.setdefault(qid, lineno)
        if first != lineno:
            raise FormatError(f"query {qid!r} again (first at line {first})",
                              source=source, line=lineno, field="query_id")
        for field, value in record.items():
            kind = _json_kind(value)
            if kind in ("nested", "boolean"):
                raise FormatError("expected a number or a string, found "
                                  f"{json.dumps(value)[:40]}", source=source, line=lineno,
                                  field=field)
            if kind == "null":
                continue
            first_kind = kinds.setdefault(field, (kind, lineno))
            if first_kind[0] != kind:
                raise FormatError(f"{kind} here, but {first_kind[0]} at line "
                                  f"{first_kind[1]}", source=source, line=lineno,
                                  field=field)


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "nested"
