"""Average precision and its relatives: map, gm_map, recip_rank, iprec_at_recall,
11pt_avg, map_cut, set_map (trec_eval ``m_map.c`` ... ``m_set_map.c``).

Everything here depends only on the relevant retrieved documents, so the
kernels first compact the ranking to them (:func:`relevant_retrieved`): one
entry per relevant retrieved document, CSR by query, usually far shorter than
the ranking itself.

trec_eval adds per-document terms one by one in rank order. numpy's own sums
are pairwise, which can move a value across a rounding boundary of the printed
4th decimal (average precision is a ratio of small integers, so exact ties like
0.03125 do occur); :func:`segment_running_sum` reproduces the sequential order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ragbench.core.metrics._family import Family, register
from ragbench.core.ranking import RankedRelevance


# ---- segmented kernels (CSR: segment i is values[offsets[i]:offsets[i+1]]) ----
def _by_position(offsets: np.ndarray):
    """Yield ``(segments, flat_index)`` for position k = 0, 1, ... of every
    segment longer than k: one numpy step per position instead of one Python
    step per segment."""
    lengths = np.diff(offsets)
    order = np.argsort(-lengths, kind="stable")
    desc = lengths[order]
    starts = offsets[:-1][order]
    # number of segments longer than k = those before the first length <= k
    for k in range(int(desc[0]) if len(desc) else 0):
        n = int(np.searchsorted(-desc, -k, side="left"))
        yield order[:n], starts[:n] + k


def segment_running_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` within each segment, added left to right as a C
    loop would (``s += v``), so results equal trec_eval's to the last bit."""
    values = np.asarray(values, dtype=np.float64)
    out = np.empty_like(values)
    lengths = np.diff(offsets)
    if not len(values):
        return out
    if len(lengths) <= lengths.max():
        # Few long segments: np.cumsum is sequential, so one call per segment.
        for lo, hi in zip(offsets[:-1], offsets[1:]):
            np.cumsum(values[lo:hi], out=out[lo:hi])
        return out
    running = np.zeros(len(lengths))
    for seg, idx in _by_position(offsets):
        running[seg] += values[idx]
        out[idx] = running[seg]
    return out


def segment_total(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per segment: the sequential sum of its values (0.0 when empty)."""
    running = segment_running_sum(values, offsets)
    lengths = np.diff(offsets)
    out = np.zeros(len(lengths))
    has = lengths > 0
    out[has] = running[offsets[1:][has] - 1]
    return out


def segment_suffix_max(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``out[i] = max(values[i:end of i's segment])`` (exact: max has no rounding)."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    n = len(out)
    if not n:
        return out
    seg_end = np.repeat(offsets[1:], np.diff(offsets))
    idx = np.arange(n)
    step = 1
    longest = int(np.diff(offsets).max())
    # Doubling: after the pass with step s, out[i] covers [i, i + 2s).
    while step < longest:
        j = idx + step
        ok = np.flatnonzero(j < seg_end)
        out[ok] = np.maximum(out[ok], out[ok + step])
        step *= 2
    return out


# ---- the relevant retrieved documents ----------------------------------------
def compact(rr: RankedRelevance,
            mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The documents where ``mask`` holds, as ``(pos, query, offsets)``: their flat
    positions in ``rr.rel``, their query index, and CSR offsets by query.
    Works on the selected positions only (no pass over every document)."""
    pos = np.flatnonzero(mask)
    offsets = np.searchsorted(pos, rr.offsets, side="left").astype(np.int64)
    query = np.repeat(np.arange(rr.num_queries, dtype=np.int64), np.diff(offsets))
    return pos, query, offsets


@dataclass(frozen=True)
class RelevantRetrieved:
    """One entry per relevant retrieved document, grouped by query (CSR)."""

    offsets: np.ndarray  # (num_queries + 1,)
    pos: np.ndarray  # flat position in rr.rel
    rank: np.ndarray  # 1-based rank in the full ranking
    precision: np.ndarray  # k / rank for the k-th relevant document, as trec_eval divides


def relevant_retrieved(rr: RankedRelevance) -> RelevantRetrieved:
    cached = rr._cache.get("relevant_retrieved")
    if cached is not None:
        return cached
    pos, query, offsets = compact(rr, rr.is_rel)
    rank = pos - rr.offsets[query] + 1
    ordinal = np.arange(1, len(pos) + 1, dtype=np.int64) - offsets[query]
    out = RelevantRetrieved(offsets, pos, rank,
                            ordinal.astype(np.float64) / rank.astype(np.float64))
    rr._cache["relevant_retrieved"] = out
    return out


def _per_relevant(rr: RankedRelevance, total: np.ndarray) -> np.ndarray:
    """``total / num_rel``, 0 for a query without relevant documents."""
    num_rel = rr.num_rel
    return np.divide(total, num_rel, out=np.zeros(rr.num_queries), where=num_rel > 0)


# ---- measures ----------------------------------------------------------------
@register
class MAP(Family):
    """AP = (1/R) * sum over relevant retrieved d of P@rank(d), R = num_rel
    (0 when R = 0). Relevant documents never retrieved contribute 0."""

    name = "map"
    explanation = "Mean Average Precision."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        rel = relevant_retrieved(rr)
        return _per_relevant(rr, segment_total(rel.precision, rel.offsets))[:, None]


@register
class GMMAP(MAP):
    """AP per query; the ``all`` row is exp(mean(log(max(AP, 1e-5))))."""

    name = "gm_map"
    explanation = "Geometric Mean Average Precision."
    average = "gm"
    summary_only = True  # trec_eval prints gm_map only for 'all'


@register
class RecipRank(Family):
    """RR = 1 / rank of the first relevant retrieved document (0 if none)."""

    name = "recip_rank"
    explanation = "Reciprocal Rank of the first relevant retrieved doc."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        rel = relevant_retrieved(rr)
        out = np.zeros(rr.num_queries)
        has = rr.num_rel_ret > 0
        out[has] = 1.0 / rel.rank[rel.offsets[:-1][has]].astype(np.float64)
        return out[:, None]


def _recall_cutoffs(rr: RankedRelevance, fractions) -> np.ndarray:
    """(num_queries, n) cutoffs in relevant documents: lround(f * R) in trec_eval
    10, (long)(f * R + 0.9) in 9.x (R = num_rel)."""
    num_rel = rr.num_rel.astype(np.float64)
    x = np.asarray(fractions, dtype=np.float64)[None, :] * num_rel[:, None]
    if rr.version == 9:
        return np.trunc(x + 0.9).astype(np.int64)
    whole = np.trunc(x)  # C lround: halves away from zero
    return (whole + np.sign(x) * (np.abs(x - whole) >= 0.5)).astype(np.int64)


def _interpolated_precision(rr: RankedRelevance, fractions) -> np.ndarray:
    """(num_queries, n): interpolated precision at recall ``fractions``, in the
    order given, exactly as trec_eval's walk over cutoffs assigns it.

    IP(c) = max over ranks y >= rank of the c-th relevant doc of P@y, taken at
    the cutoff c of each fraction. trec_eval visits cutoffs from the last one
    while walking up the ranking: trailing cutoffs above num_rel_ret get 0; a
    cutoff out of step with that walk (<= 0, or above the previous one when
    the list is unsorted) and every cutoff before it get IP(1).
    """
    rel = relevant_retrieved(rr)
    cut = _recall_cutoffs(rr, fractions)
    n_ret_rel = rr.num_rel_ret
    nq, n = cut.shape
    # IP at the k-th relevant doc: precision only falls between relevant docs,
    # so the max over all lower ranks is the max over lower relevant docs.
    ip = segment_suffix_max(rel.precision, rel.offsets)
    has = n_ret_rel > 0
    ip_first = np.zeros(nq)  # trec_eval: num_rel_ret / num_ret = 0 without relevant docs
    ip_first[has] = ip[rel.offsets[:-1][has]]

    out = np.zeros((nq, n))
    skipping = np.ones(nq, dtype=bool)
    blocked = np.zeros(nq, dtype=bool)
    level = n_ret_rel.copy()
    for j in range(n - 1, -1, -1):
        c = cut[:, j]
        skipping &= c > n_ret_rel
        live = ~skipping
        match = live & ~blocked & (c >= 1) & (c <= level)
        blocked |= live & ~match
        rows = np.flatnonzero(match)
        out[rows, j] = ip[rel.offsets[rows] + c[rows] - 1]
        level[rows] = c[rows]
        rows = np.flatnonzero(blocked)
        out[rows, j] = ip_first[rows]
    return out


_ELEVEN_POINTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@register
class IprecAtRecall(Family):
    """iprec_at_recall_f = max of P@y over ranks y at or below the c-th relevant
    document, c = round(f * R) (trec_eval 9: trunc(f * R + 0.9)); 0 when fewer
    than c relevant documents are retrieved (see :func:`_interpolated_precision`)."""

    name = "iprec_at_recall"
    explanation = "Interpolated Precision at recall cutoffs."
    param_kind = "double_cutoffs"
    default_params = _ELEVEN_POINTS

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return _interpolated_precision(rr, params)


@register
class ElevenPointAverage(Family):
    """11pt_avg = (1/n) * sum of iprec_at_recall over the n recall points
    (default 0.0, 0.1, ..., 1.0; points are used in the order given)."""

    name = "11pt_avg"
    explanation = "Interpolated Precision averaged over 11 recall points."
    param_kind = "double_params"
    default_params = _ELEVEN_POINTS

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        ip = _interpolated_precision(rr, params)
        total = np.zeros(rr.num_queries)
        for j in range(ip.shape[1] - 1, -1, -1):  # trec_eval's summation order
            total += ip[:, j]
        return (total / len(params))[:, None]


@register
class MAPCut(Family):
    """map_cut_k = (1/R) * sum over relevant d with rank(d) <= k of P@rank(d)."""

    name = "map_cut"
    explanation = "Mean Average Precision at cutoffs."
    param_kind = "long_cutoffs"
    default_params = (5, 10, 15, 20, 30, 100, 200, 500, 1000)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        rel = relevant_retrieved(rr)
        running = segment_running_sum(rel.precision, rel.offsets)
        first, last = rel.offsets[:-1], rel.offsets[1:]
        cols = []
        for k in params:
            # relevant docs within the top k: those before flat position start + k
            end = np.minimum(np.searchsorted(rel.pos, rr.offsets[:-1] + k), last)
            total = np.zeros(rr.num_queries)
            has = end > first
            total[has] = running[end[has] - 1]
            cols.append(_per_relevant(rr, total))
        return np.stack(cols, axis=1)


@register
class SetMAP(Family):
    """set_map = num_rel_ret^2 / (num_ret * num_rel): set precision times set
    recall (0 when nothing is retrieved or nothing is relevant)."""

    name = "set_map"
    explanation = "Set map: num_relevant_retrieved**2 / (num_retrieved*num_rel)."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        rr_f = rr.num_rel_ret.astype(np.float64)
        den = rr.num_ret.astype(np.float64) * rr.num_rel.astype(np.float64)
        return np.divide(rr_f * rr_f, den, out=np.zeros(rr.num_queries),
                         where=den > 0)[:, None]
