"""TREC qrels (``qid iter docno rel``) and run (``qid Q0 docno rank score tag``) files.

Any whitespace separates columns, ``#`` starts a comment only at the start of a
line, a missing final newline is fine. Errors name ``file:line`` and the field.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from ragbench.core.errors import FormatError
from ragbench.core.io._atomic import atomic_write_bytes
from ragbench.core.io._text import (
    QRELS,
    RUN,
    constant_strings,
    fast_table,
    joined_lines,
    parse_accelerated,
    parse_number,
    read_bytes,
    split_lines,
)
from ragbench.core.io._validate import first_with_whitespace
from ragbench.core.qrels import Qrels
from ragbench.core.run import Run

QRELS_FIELDS = ("query_id", "iteration", "doc_id", "relevance")
RUN_FIELDS = ("query_id", "Q0", "doc_id", "rank", "score", "tag")


def read_trec_qrels(path: str | os.PathLike) -> Qrels:
    """Read a TREC qrels file. Duplicate (query, doc) pairs are an error."""
    source = str(path)
    parsed = parse_accelerated(path, QRELS)
    if parsed is not None:
        try:
            return Qrels._trusted(query_ids=parsed.query_ids, doc_ids=parsed.doc_ids,
                                  relevance=parsed.values, source=source,
                                  query_codes=parsed.query_codes, doc_keys=parsed.doc_keys,
                                  checked=parsed.checked)
        except FormatError:
            pass  # a repeated pair: the readers below say where
        del parsed
    data = read_bytes(path)
    table = fast_table(
        data, list(QRELS_FIELDS),
        {"query_id": pa.string(), "iteration": pa.string(), "doc_id": pa.string(),
         "relevance": pa.int64()},
        ["query_id", "doc_id", "relevance"],
    )
    if table is not None and table.num_rows:
        try:
            return Qrels(table["query_id"], table["doc_id"], table["relevance"].to_numpy(),
                         source=source)
        except FormatError:
            pass  # the line-by-line reader says where
    return _read_qrels_slow(data, source)


def _read_qrels_slow(data: bytes, source: str) -> Qrels:
    qids, dids, rels = [], [], []
    seen: dict[tuple[str, str], int] = {}
    for lineno, (qid, _it, did, rel) in split_lines(data, source, 4, QRELS_FIELDS):
        rels.append(parse_number(rel, kind=int, source=source, line=lineno,
                                 field="relevance"))
        first = seen.setdefault((qid, did), lineno)
        if first != lineno:
            raise FormatError(
                f"duplicate judgment for query {qid!r}, document {did!r} "
                f"(first at line {first})", source=source, line=lineno, field="doc_id")
        qids.append(qid)
        dids.append(did)
    if not qids:
        raise FormatError("no judgments (only comments or blank lines)", source=source)
    return Qrels(qids, dids, np.asarray(rels, dtype=np.int64), source=source)


def read_trec_run(path: str | os.PathLike, *, name: str | None = None) -> Run:
    """Read a TREC run. The rank column is ignored (trec_eval ranks by score);
    the run's name is the tag of the last line (as trec_eval) unless ``name`` is given.
    Columns after the tag are ignored, as trec_eval does. A document twice for
    the same query is an error."""
    source = str(path)
    parsed = parse_accelerated(path, RUN)
    if parsed is not None:
        try:
            return Run._trusted(query_ids=parsed.query_ids, doc_ids=parsed.doc_ids,
                                scores=parsed.values, name=name or parsed.last_tag,
                                source=source, query_codes=parsed.query_codes,
                                doc_keys=parsed.doc_keys, checked=parsed.checked)
        except FormatError:
            pass  # a repeated pair: the readers below say where
        del parsed
    data = read_bytes(path)
    table = fast_table(
        data, list(RUN_FIELDS),
        {"query_id": pa.string(), "Q0": pa.string(), "doc_id": pa.string(),
         "rank": pa.string(), "score": pa.float64(), "tag": pa.string()},
        ["query_id", "doc_id", "score"],
    )
    if table is not None and table.num_rows:
        name = name or _last_tag(data)
        del data  # a run file can be large: free it before building the columns
        try:
            return Run(*_take_columns(table, ["query_id", "doc_id", "score"]), name=name,
                       source=source)
        except FormatError:
            data = read_bytes(path)  # the line-by-line reader says where
    return _read_run_slow(data, source, name)


def _take_columns(table: pa.Table, names: list[str]) -> list:
    """Each column as one contiguous array, dropping the table's chunks as it goes,
    so a column never exists twice in full."""
    out = []
    for name in names:
        column = table[name]
        table = table.drop_columns([name])
        out.append(column.to_numpy() if pa.types.is_floating(column.type)
                   else column.combine_chunks())
        del column
    return out


def _last_tag(data: bytes) -> str:
    """The sixth column of the last line that is neither blank nor a comment:
    trec_eval keeps the run id of the last line (found from the end, without
    splitting the whole file)."""
    end = len(data)
    while end > 0:
        start = data.rfind(b"\n", 0, end) + 1
        parts = data[start:end].split()
        if len(parts) >= 6 and not parts[0].startswith(b"#"):
            return parts[5].decode("utf-8", "replace")
        end = start - 1
    return "run"


def _read_run_slow(data: bytes, source: str, name: str | None) -> Run:
    qids, dids, scores = [], [], []
    tag = None
    seen: dict[tuple[str, str], int] = {}
    lines = split_lines(data, source, 6, RUN_FIELDS, rest_ignored=True)
    for lineno, (qid, _q0, did, _rank, score, t) in lines:
        scores.append(parse_number(score, kind=float, source=source, line=lineno,
                                   field="score"))
        first = seen.setdefault((qid, did), lineno)
        if first != lineno:
            raise FormatError(
                f"document {did!r} appears twice for query {qid!r} (first at line {first})",
                source=source, line=lineno, field="doc_id")
        qids.append(qid)
        dids.append(did)
        tag = t  # trec_eval keeps the last line's run id
    if not qids:
        raise FormatError("no results (only comments or blank lines)", source=source)
    return Run(qids, dids, np.asarray(scores, dtype=np.float64), name=name or tag,
               source=source)


def write_trec_run(run: Run, path: str | os.PathLike, *, tag: str | None = None,
                   depth: int | None = None) -> None:
    """Write ``run`` in TREC format, ranked as trec_eval ranks it (queries in byte
    order; score descending, doc id descending on ties; rank 1, 2, ...).

    ``depth`` keeps the top N per query. Scores are written in the shortest form
    that reads back to the same float64 (Arrow's formatting: ``2`` for 2.0,
    ``1e-05``..). Ids and the tag must be non-empty and
    free of whitespace. Written to a temporary file and renamed, so a failure
    leaves nothing behind."""
    from ragbench.core.ranking import trec_order

    tag = tag or run.name
    if not tag or any(c.isspace() for c in tag):
        raise FormatError(f"run tag {tag!r} must be non-empty and without whitespace",
                          source=str(path), field="tag")
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    _check_ids(run.query_ids, run.doc_ids, str(path))
    order, offsets, _ = trec_order(run)
    counts = np.diff(offsets)
    rank = np.arange(len(order), dtype=np.int64) - np.repeat(offsets[:-1], counts) + 1
    if depth is not None:
        keep = rank <= depth
        order, rank = order[keep], rank[keep]
    take = pa.array(order)
    n = len(order)
    atomic_write_bytes(path, joined_lines(
        [run.query_ids.take(take), constant_strings("Q0", n), run.doc_ids.take(take),
         pa.array(rank), pa.array(run.scores[order]), constant_strings(tag, n)], " "))


def write_trec_qrels(qrels: Qrels, path: str | os.PathLike) -> None:
    """Write ``qrels`` as ``qid 0 docno rel`` lines, in row order (atomically)."""
    _check_ids(qrels.query_ids, qrels.doc_ids, str(path))
    atomic_write_bytes(path, joined_lines(
        [qrels.query_ids, constant_strings("0", len(qrels)), qrels.doc_ids,
         pa.array(qrels.relevance)], " "))


def _check_ids(query_ids: pa.Array, doc_ids: pa.Array, source: str) -> None:
    for field, values in (("query_id", query_ids), ("doc_id", doc_ids)):
        row = first_with_whitespace(values)
        if row is not None:
            raise FormatError(
                f"row {row + 1}: {values[row].as_py()!r} is empty or contains whitespace, "
                "which a whitespace-separated file cannot hold", source=source, field=field)
