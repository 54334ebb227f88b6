"""TREC qrels (``qid iter docno rel``) and run (``qid Q0 docno rank score tag``) files.

Any whitespace separates columns, ``#`` starts a comment only at the start of a
line, a missing final newline is fine. Errors name ``file:line`` and the field.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.errors import FormatError
from ragbench.core.io._text import fast_table, parse_number, read_bytes, split_lines
from ragbench.core.qrels import Qrels
from ragbench.core.run import Run

QRELS_FIELDS = ("query_id", "iteration", "doc_id", "relevance")
RUN_FIELDS = ("query_id", "Q0", "doc_id", "rank", "score", "tag")


def read_trec_qrels(path: str | os.PathLike) -> Qrels:
    """Read a TREC qrels file. Duplicate (query, doc) pairs are an error."""
    source = str(path)
    data = read_bytes(path)
    table = fast_table(
        data, list(QRELS_FIELDS),
        {"query_id": pa.string(), "iteration": pa.string(), "doc_id": pa.string(),
         "relevance": pa.int64()},
        ["query_id", "doc_id", "relevance"],
    )
    if table is not None:
        qrels = Qrels(table["query_id"], table["doc_id"],
                      table["relevance"].to_numpy(), source=source)
        if not _has_duplicates(qrels.query_ids, qrels.doc_ids):
            return qrels
    return _read_qrels_slow(data, source)


def _read_qrels_slow(data: bytes, source: str) -> Qrels:
    qids, dids, rels = [], [], []
    seen: dict[tuple[str, str], int] = {}
    for lineno, (qid, _it, did, rel) in split_lines(data, source, 4, QRELS_FIELDS):
        first = seen.setdefault((qid, did), lineno)
        if first != lineno:
            raise FormatError(
                f"duplicate judgment for query {qid!r}, document {did!r} "
                f"(first at line {first})", source=source, line=lineno, field="doc_id")
        qids.append(qid)
        dids.append(did)
        rels.append(parse_number(rel, kind=int, source=source, line=lineno,
                                 field="relevance"))
    if not qids:
        raise FormatError("no judgments (only comments or blank lines)", source=source)
    return Qrels(qids, dids, np.asarray(rels, dtype=np.int64), source=source)


def read_trec_run(path: str | os.PathLike, *, name: str | None = None) -> Run:
    """Read a TREC run. The rank column is ignored (trec_eval ranks by score);
    the run's name is the tag of the first line unless ``name`` is given."""
    source = str(path)
    data = read_bytes(path)
    table = fast_table(
        data, list(RUN_FIELDS),
        {"query_id": pa.string(), "Q0": pa.string(), "doc_id": pa.string(),
         "rank": pa.string(), "score": pa.float64(), "tag": pa.string()},
        ["query_id", "doc_id", "score"],
    )
    if table is not None:
        scores = table["score"].to_numpy()
        if np.all(np.isfinite(scores)) and not _has_duplicates(table["query_id"],
                                                               table["doc_id"]):
            first = data[: data.find(b"\n")] if b"\n" in data else data
            tag = first.split()[5].decode("utf-8")
            return Run(table["query_id"], table["doc_id"], scores,
                       name=name or tag, source=source)
    return _read_run_slow(data, source, name)


def _read_run_slow(data: bytes, source: str, name: str | None) -> Run:
    qids, dids, scores = [], [], []
    tag = None
    seen: dict[tuple[str, str], int] = {}
    for lineno, (qid, _q0, did, _rank, score, t) in split_lines(data, source, 6, RUN_FIELDS):
        first = seen.setdefault((qid, did), lineno)
        if first != lineno:
            raise FormatError(
                f"document {did!r} appears twice for query {qid!r} (first at line {first})",
                source=source, line=lineno, field="doc_id")
        qids.append(qid)
        dids.append(did)
        scores.append(parse_number(score, kind=float, source=source, line=lineno,
                                   field="score"))
        tag = tag or t
    if not qids:
        raise FormatError("no results (only comments or blank lines)", source=source)
    return Run(qids, dids, np.asarray(scores, dtype=np.float64), name=name or tag,
               source=source)


def _has_duplicates(query_ids, doc_ids) -> bool:
    """Hash-based check for a repeated (query, doc) pair, without sorting."""
    q = pc.dictionary_encode(query_ids).combine_chunks() if isinstance(
        query_ids, pa.ChunkedArray) else pc.dictionary_encode(query_ids)
    d = pc.dictionary_encode(doc_ids)
    if isinstance(d, pa.ChunkedArray):
        d = d.combine_chunks()
    qi = q.indices.to_numpy().astype(np.int64)
    di = d.indices.to_numpy().astype(np.int64)
    key = qi * max(len(d.dictionary), 1) + di
    return len(pc.unique(pa.array(key))) != len(key)


def write_trec_run(run: Run, path: str | os.PathLike, *, tag: str | None = None,
                   depth: int | None = None) -> None:
    """Write ``run`` in TREC format, ranked as trec_eval ranks it (score
    descending, doc id descending on ties); ``depth`` keeps the top N per query.
    Written to a temporary file and renamed, so a failure leaves nothing behind."""
    from ragbench.core.ranking import trec_order

    order, offsets, qids = trec_order(run)
    tag = tag or run.name
    doc_ids = run.doc_ids.take(pa.array(order)).to_pylist()
    scores = run.scores[order]
    lines = []
    for qi, qid in enumerate(qids):
        lo, hi = int(offsets[qi]), int(offsets[qi + 1])
        if depth is not None:
            hi = min(hi, lo + depth)
        for r, i in enumerate(range(lo, hi), start=1):
            lines.append(f"{qid} Q0 {doc_ids[i]} {r} {scores[i]!r} {tag}\n")
    _atomic_write(path, "".join(lines))


def write_trec_qrels(qrels: Qrels, path: str | os.PathLike) -> None:
    lines = [f"{q} 0 {d} {r}\n" for q, d, r in zip(
        qrels.query_ids.to_pylist(), qrels.doc_ids.to_pylist(), qrels.relevance.tolist())]
    _atomic_write(path, "".join(lines))


def _atomic_write(path: str | os.PathLike, text: str) -> None:
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
