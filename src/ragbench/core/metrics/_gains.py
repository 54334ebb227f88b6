"""Gain tables and flat per-query helpers shared by the cumulative-gain family
(:mod:`.ndcg`) and rank-biased precision (:mod:`.rbp`).

trec_eval (``gain_init.c``) gives each relevance level a gain: the level itself,
unless ``-m ndcg.1=3,2=9`` names another. Per query the gain table holds the
named levels and every level below the query's highest judged one; glibc's
``qsort`` (a stable merge sort) orders it by a comparator that truncates the
gain difference to an ``int``, and the ideal ranking walks that order from the
top, taking each level's judged documents, until it meets a level with gain
<= 0. :func:`trec_gains` reproduces this once per distinct table and spreads
it over all queries as flat arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ragbench.core.ranking import RankedRelevance

# ---- flat per-query arrays ---------------------------------------------------
# Sums use np.bincount with weights, which adds in input order: each query's
# terms are summed one by one in rank order, as trec_eval's loops do.


def _local_index(offsets: np.ndarray) -> np.ndarray:
    """0-based position of every element within its segment."""
    lens = np.diff(offsets)
    return np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lens)


def _offsets(qi: np.ndarray, nq: int) -> np.ndarray:
    """CSR offsets of sorted segment ids ``qi``."""
    return np.concatenate(([0], np.cumsum(np.bincount(qi, minlength=nq)))).astype(np.int64)


def per_query_sum(qi: np.ndarray, values: np.ndarray, nq: int) -> np.ndarray:
    """Sum of ``values`` per query id ``qi``, added in input order."""
    return np.bincount(qi, weights=values, minlength=nq) if len(qi) else np.zeros(nq)


def cumsum_within(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Running sum within each segment, in order, as trec_eval's loops add.

    A padded (segments x longest) matrix keeps each query's sum sequential and
    free of the cancellation a single global running sum would bring; a very
    ragged input falls back to one ``cumsum`` per segment."""
    values = np.asarray(values, dtype=np.float64)
    lens = np.diff(offsets)
    nq, n = len(lens), len(values)
    if n == 0:
        return values.copy()
    width = int(lens.max())
    if nq * width <= 4 * n + 65536:
        mask = np.arange(width) < lens[:, None]
        pad = np.zeros((nq, width))
        pad[mask] = values
        np.cumsum(pad, axis=1, out=pad)
        return pad[mask]
    out = np.empty(n)
    for lo, hi in zip(offsets[:-1], offsets[1:]):
        np.cumsum(values[lo:hi], out=out[lo:hi])
    return out


def locate(rr: RankedRelevance, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query index, 1-based rank) of retrieved-document positions ``pos``
    (a sparse selection, without building per-document arrays)."""
    qi = np.searchsorted(rr.offsets, pos, side="right") - 1
    return qi, pos - rr.offsets[qi] + 1


def _discount(rank: np.ndarray) -> np.ndarray:
    return np.log2(rank + 1.0)


# ---- trec_eval's gain table ----------------------------------------------------

_LEADING_INT = re.compile(r"\s*([+-]?[0-9]+)")


def _gain_pairs(params, version: int) -> list[tuple[int, float]]:
    """(level, gain) for each ``level=gain`` parameter, as setup_gains reads them.

    10.0 skips names that are not integers (``rbp``'s ``p=``); 9.x read every
    name with ``atol`` and stored gains as C floats."""
    out = []
    for name, value in params or ():
        if version == 9:
            m = _LEADING_INT.match(name)
            out.append((int(m.group(1)) if m else 0, float(np.float32(value))))
        elif re.fullmatch(r"[+-]?[0-9]+", name):
            out.append((int(name), float(value)))
    return out


def _c_gain_cmp(a: list, b: list) -> int:
    """``comp_rel_gain``: ``(int)(a.gain - b.gain)``, truncated toward zero."""
    d = a[1] - b[1]
    if d != d:
        return 0
    return int(max(min(d, 2.0**31 - 1), -(2.0**31)))


def _glibc_msort(entries: list) -> list:
    """glibc ``qsort`` on small arrays: top-down merge sort, left wins ties."""
    if len(entries) <= 1:
        return entries
    half = len(entries) // 2
    left, right = _glibc_msort(entries[:half]), _glibc_msort(entries[half:])
    out, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        if _c_gain_cmp(left[i], right[j]) <= 0:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]


def _gain_table(pairs: list[tuple[int, float]], num_levels: int) -> list[list]:
    """Sorted ``[level, gain, counted_level]`` rows of one query's table; the
    first parameter naming a level carries that level's count (-1: none)."""
    rows = [[lvl, gain, -1] for lvl, gain in pairs]
    for i in range(num_levels):
        for row in rows:
            if row[0] == i:
                row[2] = i
                break
        else:
            rows.append([i, float(i), i])
    return _glibc_msort(rows)


def _rbp_normalise(rows: list[list]) -> None:
    """m_rbp.c scales gains into [0, 1] when some lie outside. Its min/max start
    uninitialised; the 10.0 expected outputs match both starting at 0.0."""
    lo = min([0.0] + [r[1] for r in rows])
    hi = max([0.0] + [r[1] for r in rows])
    if lo < 0 or hi > 1:
        for r in rows:
            r[1] = (r[1] - lo) / (hi - lo)


@dataclass(frozen=True, eq=False)
class Gains:
    """Gains of one parameter set over all queries of ``rr``, sparse.

    Retrieved documents with a non-zero gain (rank order within query order):
    their query ``qi``, ``rank`` and ``gain``; any other retrieved document gains
    0 (unjudged ones included). ``ideal[ideal_offsets[i]:ideal_offsets[i+1]]`` is
    query i's ideal gain sequence (positive gains only, best first)."""

    nq: int
    max_rank: int
    qi: np.ndarray
    rank: np.ndarray
    gain: np.ndarray
    ideal: np.ndarray
    ideal_offsets: np.ndarray

    @cached_property
    def ideal_len(self) -> np.ndarray:
        return np.diff(self.ideal_offsets)

    @cached_property
    def ideal_qi(self) -> np.ndarray:
        return np.repeat(np.arange(self.nq), self.ideal_len)

    @cached_property
    def ideal_rank(self) -> np.ndarray:
        return _local_index(self.ideal_offsets) + 1

    @cached_property
    def terms(self) -> np.ndarray:
        """gain / log2(rank + 1) of each non-zero-gain document."""
        return self.gain / _discount(self.rank)

    @cached_property
    def ideal_terms(self) -> np.ndarray:
        return self.ideal / _discount(self.ideal_rank)

    def dcg(self, k: int | None = None) -> np.ndarray:
        """Per query: DCG over the top ``k`` documents (all if None)."""
        keep = slice(None) if k is None else self.rank <= k
        return per_query_sum(self.qi[keep], self.terms[keep], self.nq)

    def ideal_dcg(self, k: int | None = None) -> np.ndarray:
        keep = slice(None) if k is None else self.ideal_rank <= k
        return per_query_sum(self.ideal_qi[keep], self.ideal_terms[keep],
                             self.nq)

    @cached_property
    def dcg_cum(self) -> np.ndarray:
        return cumsum_within(self.terms, _offsets(self.qi, self.nq))

    @cached_property
    def ideal_cum(self) -> np.ndarray:
        return cumsum_within(self.ideal_terms, self.ideal_offsets)

    def dcg_at(self, qi: np.ndarray, n: np.ndarray) -> np.ndarray:
        """DCG of query ``qi[j]`` over its top ``n[j]`` documents."""
        scale = self.max_rank + 1
        keys = self.qi * scale + self.rank
        count = np.searchsorted(keys, qi * scale + np.minimum(n, scale - 1), side="right")
        start = np.searchsorted(keys, qi * scale, side="left")
        out = np.zeros(len(qi))
        has = count > start
        out[has] = self.dcg_cum[count[has] - 1]
        return out

    def ideal_dcg_at(self, qi: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Ideal DCG of query ``qi[j]`` over its first ``n[j]`` (<= length) gains."""
        out = np.zeros(len(qi))
        has = n > 0
        out[has] = self.ideal_cum[self.ideal_offsets[qi[has]] + n[has] - 1]
        return out


def num_rel_levels(rr: RankedRelevance) -> np.ndarray:
    """trec_eval's ``num_rel_levels``: 1 + the highest grade judged for the query
    (0 if none; trec_eval then reuses the previous query's value)."""
    nz = rr.rel_levels > 0
    top = nz.shape[1] - np.argmax(nz[:, ::-1], axis=1)
    return np.where(nz.any(axis=1), top, 0)


def _ideal_rows(rows: list[list], members: np.ndarray, rel_levels: np.ndarray):
    """(gains top down, counts per member query) of the ideal walk: from the
    highest gain down, each level's judged documents, until a level with
    documents and gain <= 0 (nothing at all if the top gain is <= 0)."""
    top_down = rows[::-1]
    gains = np.array([r[1] for r in top_down])
    counted = np.array([r[2] for r in top_down], dtype=np.int64)
    cnt = np.zeros((len(members), len(top_down)), dtype=np.int64)
    has = counted >= 0
    cnt[:, has] = rel_levels[members][:, counted[has]]
    if len(top_down) == 0 or gains[0] <= 0:
        cnt[:] = 0
    else:
        stop = (cnt > 0) & (gains <= 0)
        first = np.where(stop.any(axis=1), np.argmax(stop, axis=1), len(top_down))
        cnt[np.arange(len(top_down)) >= first[:, None]] = 0
    return gains, cnt


def trec_gains(rr: RankedRelevance, params, *, rbp: bool = False) -> Gains:
    """The gains trec_eval's ``setup_gains`` gives ``rr`` under ``params``
    (``((name, value), ...)`` or None); ``rbp`` adds m_rbp.c's normalisation."""
    key = ("trec_gains", params, rbp)
    if key in rr._cache:
        return rr._cache[key]
    pairs = _gain_pairs(params, rr.version)
    nrl = num_rel_levels(rr)
    width = rr.rel_levels.shape[1]
    distinct = np.unique(nrl)
    group = np.searchsorted(distinct, nrl)
    lut = np.zeros((len(distinct), width + 2))  # gain of rel value r at [group, r + 2]
    parts = []
    for gi, levels in enumerate(distinct.tolist()):
        rows = _gain_table(pairs, levels)
        if rbp:
            _rbp_normalise(rows)
        for lvl, gain, _ in reversed(rows):  # reversed: the first match wins
            if -2 <= lvl < width:
                lut[gi, lvl + 2] = gain
        members = np.flatnonzero(group == gi)
        gains, cnt = _ideal_rows(rows, members, rr.rel_levels)
        n = len(gains)
        parts.append((np.repeat(members, n), np.tile(np.arange(n), len(members)),
                      np.tile(gains, len(members)), cnt.ravel()))
    q, pos, gain, cnt = (np.concatenate(a) for a in zip(*parts))
    order = np.lexsort((pos, q))
    ideal = np.repeat(gain[order], cnt[order])
    lens = np.bincount(q, weights=cnt, minlength=rr.num_queries).astype(np.int64)
    ideal_offsets = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
    # Retrieved documents whose level has a non-zero gain in some table.
    doc = np.flatnonzero((lut != 0).any(axis=0)[rr.rel + 2])
    qi, rank = locate(rr, doc)
    doc_gain = lut[group[qi], rr.rel[doc] + 2]
    nz = doc_gain != 0
    out = Gains(rr.num_queries, int(rr.num_ret.max(initial=0)), qi[nz], rank[nz],
                doc_gain[nz], ideal, ideal_offsets)
    rr._cache[key] = out
    return out


# ---- measure families ----------------------------------------------------------
