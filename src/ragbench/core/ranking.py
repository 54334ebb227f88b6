"""From a run and qrels to trec_eval's ranked relevance lists, columnar.

:func:`judge` is the one place that orders documents and looks up their
judgments. Every metric kernel then works on a :class:`RankedRelevance`: flat
arrays of relevance values in rank order, one contiguous segment per query
(``offsets`` as in CSR), so a measure over all queries is a handful of numpy
passes instead of a Python loop per query.

Semantics are trec_eval's (``form_res_rels.c``):

* ranking: score descending, then doc id descending (byte order);
  ``version=9`` compares scores as 32-bit floats, as trec_eval 9.x read them;
* relevance of a retrieved document: its grade, ``NONPOOL`` (-1) if the qrels
  do not mention it, ``UNJUDGED`` (-2) if the qrels give it a negative grade;
* ``max_docs`` (``-M``) keeps the top N after ranking;
* evaluated queries: those in both qrels and run, or every qrels query with
  ``complete=True`` (``-c``; a missing query then has an empty ranking).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.doc_keys import dictionary_keys
from ragbench.core.errors import EvaluationError
from ragbench.core.qrels import Qrels
from ragbench.core.ranked_rows import NONPOOL, UNJUDGED, rank_rows, ranked_relevance  # noqa: F401

MAX_GRADE = 1000  # largest relevance grade accepted: trec_eval counts per grade
from ragbench.core.run import Run


def _byte_order_rank(strings: pa.Array) -> np.ndarray:
    """Rank (0..n-1) of each distinct string in byte order (C ``strcmp``)."""
    order = pc.sort_indices(strings.cast(pa.binary())).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank


@dataclass(frozen=True, eq=False)
class QueryMismatch:
    """Queries that the qrels and the run do not share."""

    only_in_qrels: tuple[str, ...]
    only_in_run: tuple[str, ...]

    def summary(self) -> str:
        return (f"{len(self.only_in_qrels)} judged queries have no results; "
                f"{len(self.only_in_run)} queries in the run have no judgments")


@dataclass(frozen=True, eq=False)
class RankedRelevance:
    """Relevance of retrieved documents in rank order, for every evaluated query.

    ``rel[offsets[i]:offsets[i+1]]`` is query ``query_ids[i]``'s ranked list.
    ``rel_levels[i, g]`` counts the judged documents of query i with grade g
    (retrieved or not); ``num_rel`` counts those with grade >= ``relevance_level``.
    """

    query_ids: tuple[str, ...]
    offsets: np.ndarray
    rel: np.ndarray
    rel_levels: np.ndarray
    relevance_level: int
    run_name: str
    version: int
    mismatch: QueryMismatch
    retrieved: np.ndarray  # bool per query: the query is in the run
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def num_queries(self) -> int:
        return len(self.query_ids)

    @cached_property
    def num_ret(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def num_rel(self) -> np.ndarray:
        lvl = max(self.relevance_level, 0)
        return self.rel_levels[:, lvl:].sum(axis=1)

    @cached_property
    def query_index(self) -> np.ndarray:
        """Per document: the index of its query."""
        return np.repeat(np.arange(self.num_queries, dtype=np.int64), self.num_ret)

    @cached_property
    def rank(self) -> np.ndarray:
        """Per document: its 1-based rank within its query."""
        return np.arange(len(self.rel), dtype=np.int64) - self.offsets[self.query_index] + 1

    @cached_property
    def is_rel(self) -> np.ndarray:
        return self.rel >= self.relevance_level

    @cached_property
    def cum_rel(self) -> np.ndarray:
        """Per document: relevant documents at or above its rank."""
        return self.segment_cumsum(self.is_rel.astype(np.int64))

    @cached_property
    def num_rel_ret(self) -> np.ndarray:
        return self.segment_sum(self.is_rel.astype(np.int64))

    def segment_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` per query (0 for an empty ranking); each query is summed
        on its own, in rank order, so floating-point results do not depend on
        the other queries."""
        values = np.asarray(values)
        out = np.zeros(self.num_queries, dtype=values.dtype if values.dtype.kind in "iub"
                       else np.float64)
        if values.dtype == np.bool_:
            out = out.astype(np.int64)
        nonempty = self.num_ret > 0
        if len(values) and nonempty.any():
            out[nonempty] = np.add.reduceat(values, self.offsets[:-1][nonempty])
        return out

    def segment_cumsum(self, values: np.ndarray) -> np.ndarray:
        """Running sum of ``values`` within each query, in rank order."""
        values = np.asarray(values)
        if values.dtype.kind in "iub":
            total = np.cumsum(values, dtype=np.int64)
            before = np.concatenate(([0], total))[self.offsets[:-1]]
            return total - np.repeat(before, self.num_ret)
        # Floats: avoid the cancellation error of one global running sum.
        out = np.empty(len(values), dtype=np.float64)
        for lo, hi in zip(self.offsets[:-1], self.offsets[1:]):
            np.cumsum(values[lo:hi], out=out[lo:hi])
        return out

    @cached_property
    def _rel_prefix(self) -> np.ndarray:
        """Relevant documents before each position of ``rel``, all queries
        together (length n + 1): one pass, exact in integers."""
        out = np.zeros(len(self.rel) + 1, dtype=np.int64)
        np.cumsum(self.is_rel, out=out[1:])
        return out

    def rel_in_top(self, k) -> np.ndarray:
        """Per query: relevant documents among its top ``k`` (a scalar or one
        cutoff per query; k <= 0 gives 0). Two lookups per query in a prefix
        sum, instead of a pass over every document per cutoff."""
        n = np.minimum(self.num_ret, np.maximum(k, 0))
        start = self.offsets[:-1]
        return self._rel_prefix[start + n] - self._rel_prefix[start]

    def at_rank(self, per_doc: np.ndarray, k: int, empty=0) -> np.ndarray:
        """Per query: ``per_doc`` at rank ``min(k, num_ret)``; ``empty`` where the
        ranking is empty (or k < 1)."""
        n = np.minimum(self.num_ret, k)
        out = np.full(self.num_queries, empty, dtype=np.asarray(per_doc).dtype)
        has = n > 0
        out[has] = per_doc[self.offsets[:-1][has] + n[has] - 1]
        return out

    def truncated(self, k: int) -> RankedRelevance:
        """The same rankings cut to the top ``k`` (judgments unchanged)."""
        keep = self.rank <= k
        num = np.minimum(self.num_ret, k)
        offsets = np.concatenate(([0], np.cumsum(num))).astype(np.int64)
        return RankedRelevance(self.query_ids, offsets, self.rel[keep], self.rel_levels,
                               self.relevance_level, self.run_name, self.version,
                               self.mismatch, self.retrieved)


def _doc_keys(run: Run, qrels: Qrels | None):
    """Byte-order-exact integer keys for run and qrels doc ids (see doc_keys)."""
    if run.doc_keys is not None and (qrels is None or qrels.doc_keys is not None):
        return run.doc_keys, (qrels.doc_keys if qrels is not None else None)
    other = qrels.doc_ids if qrels is not None else pa.nulls(0, pa.string())
    return dictionary_keys(run.doc_ids, other)


def trec_order(run: Run, *, version: int = 10) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Row order that ranks ``run`` as trec_eval does, grouped by query id (byte order).

    Returns ``(order, offsets, query_ids)``: rows ``order[offsets[i]:offsets[i+1]]``
    are query ``query_ids[i]``'s ranking.
    """
    qcode, qdict = run.query_codes
    qrank = _byte_order_rank(qdict)
    qi = qrank[qcode]
    (hi, lo), _ = _doc_keys(run, None)
    order = rank_rows(qi, run.scores, hi, lo, version)
    if order is None:
        order = np.arange(len(qi), dtype=np.int64)
    counts = np.bincount(qi, minlength=len(qdict))
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    sorted_q = np.asarray(qdict.to_pylist(), dtype=object)[np.argsort(qrank)]
    return order, offsets, list(sorted_q)


def judge(qrels: Qrels, run: Run, *, relevance_level: int = 1, max_docs: int | None = None,
          complete: bool = False, version: int = 10) -> RankedRelevance:
    """Rank ``run`` and attach ``qrels`` judgments, trec_eval style (see module doc)."""
    if version not in (9, 10):
        raise EvaluationError(f"trec_eval version must be 9 or 10, got {version}")
    if max_docs is not None and max_docs < 0:
        raise EvaluationError(f"max_docs (-M) must be >= 0, got {max_docs}")

    q_qcode, q_qdict = qrels.query_codes
    r_qcode, r_qdict = run.query_codes
    qrels_q = set(q_qdict.to_pylist())
    run_q = set(r_qdict.to_pylist())
    mismatch = QueryMismatch(tuple(sorted(qrels_q - run_q)), tuple(sorted(run_q - qrels_q)))
    wanted = qrels_q if complete else qrels_q & run_q
    if not wanted:
        raise EvaluationError(
            "qrels and run have no query in common "
            f"({len(qrels_q)} judged queries, {len(run_q)} queries in the run)")
    # Sorted in byte order by Arrow (pa.array() on a list would import pandas: 0.2 s).
    eval_q = q_qdict if complete else q_qdict.filter(pc.is_in(q_qdict, value_set=r_qdict))
    eval_q = eval_q.take(pc.sort_indices(eval_q.cast(pa.binary())))
    nq = len(eval_q)

    # Query index (position in eval_q) of each distinct qrels / run query id.
    q_map = _index_in(q_qdict, eval_q)
    r_map = _index_in(r_qdict, eval_q)
    j_qi = q_map[q_qcode]
    (hi, lo), (j_hi, j_lo) = _doc_keys(run, qrels)

    # Judgments of evaluated queries.
    jkeep = j_qi >= 0
    if not jkeep.all():
        j_qi, j_hi, j_lo = j_qi[jkeep], j_hi[jkeep], j_lo[jkeep]
        j_rel = qrels.relevance[jkeep]
    else:
        j_rel = qrels.relevance

    rel, num_ret = ranked_relevance(r_qcode, r_map, run.scores, hi, lo,
                                    j_qi, j_hi, j_lo, j_rel, nq, version)
    del hi, lo
    offsets = np.concatenate(([0], np.cumsum(num_ret))).astype(np.int64)
    if max_docs is not None:
        rank = np.arange(len(rel)) - np.repeat(offsets[:-1], num_ret) + 1
        cut = rank <= max_docs
        if not cut.all():
            rel = rel[cut]
            num_ret = np.minimum(num_ret, max_docs)
            offsets = np.concatenate(([0], np.cumsum(num_ret))).astype(np.int64)

    max_grade = int(j_rel.max()) if len(j_rel) else 0
    if max_grade > MAX_GRADE:
        # trec_eval keeps a count per grade (rel_levels); grades are small integers.
        raise EvaluationError(f"relevance grade {max_grade} in {qrels.source or 'the qrels'} "
                              f"is too large: grades are small integers (at most {MAX_GRADE})")
    levels = np.zeros((nq, max(max_grade, 0) + 1), dtype=np.int64)
    judged = j_rel >= 0
    np.add.at(levels, (j_qi[judged], j_rel[judged]), 1)

    retrieved = np.zeros(nq, dtype=bool)
    retrieved[r_map[r_map >= 0]] = True
    return RankedRelevance(tuple(eval_q.to_pylist()), offsets, rel, levels,
                           relevance_level, run.name, version, mismatch, retrieved)


def _index_in(values: pa.Array, value_set: pa.Array) -> np.ndarray:
    """int32 position of each value in ``value_set``, -1 where absent. Read from
    the buffers: ``fill_null(-1)`` or ``to_numpy()`` of an array with nulls makes
    pyarrow import pandas (0.2 s)."""
    index = pc.index_in(values, value_set=value_set)
    n, start = len(index), index.offset
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    validity, data = index.buffers()
    out = np.frombuffer(data, dtype=np.int32, count=start + n)[start:].copy()
    if index.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        out[bits[start:start + n] == 0] = -1
    return out
