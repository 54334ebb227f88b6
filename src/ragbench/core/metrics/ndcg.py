"""Cumulative-gain measures: ndcg, dcg, ideal_dcg, ndcg_cut, ndcg_rel, Rndcg,
binG, G, and the Burges-gain :func:`ndcg_exp`.

Gains per relevance level follow trec_eval's tables (see :mod:`._gains`).
Discount: a document at rank r contributes ``gain / log2(r + 1)``.
"""

from __future__ import annotations

import numpy as np

from ragbench.core.errors import MeasureError
from ragbench.core.metrics._family import Family, register
from ragbench.core.metrics._gains import (
    _discount,
    _local_index,
    _offsets,
    cumsum_within,
    locate,
    per_query_sum,
    trec_gains,
)
from ragbench.core.ranking import RankedRelevance


class _GainFamily(Family):
    param_kind = "pairs"


def _ratio(num: np.ndarray, den: np.ndarray, fallback: np.ndarray | None = None):
    """num / den where den > 0, else ``fallback`` (0 by default)."""
    out = np.zeros(len(num)) if fallback is None else fallback.astype(np.float64)
    return np.divide(num, den, out=out, where=den > 0)


@register
class NDCG(_GainFamily):
    """ndcg = DCG / ideal DCG over the whole ranking (0 when the ideal is 0);
    DCG = sum_r gain(r) / log2(r + 1)."""

    name = "ndcg"
    explanation = "Normalized Discounted Cumulative Gain"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        g = trec_gains(rr, params)
        return _ratio(g.dcg(), g.ideal_dcg())[:, None]


@register
class DCG(_GainFamily):
    name = "dcg"
    explanation = "Discounted Cumulative Gain"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return trec_gains(rr, params).dcg()[:, None]


@register
class IdealDCG(_GainFamily):
    name = "ideal_dcg"
    explanation = "Ideal Discounted Cumulative Gain"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return trec_gains(rr, params).ideal_dcg()[:, None]


@register
class NDCGCut(Family):
    """ndcg_cut_k = DCG@k / IDCG@k with gain = relevance level (no gain
    parameters); a ranking shorter than k adds nothing past its end."""

    name = "ndcg_cut"
    explanation = "Normalized Discounted Cumulative Gain at cutoffs."
    param_kind = "long_cutoffs"
    default_params = (5, 10, 15, 20, 30, 100, 200, 500, 1000)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        g = trec_gains(rr, None)  # default gains are exactly m_ndcg_cut.c's levels
        cols = []
        for k in params:
            dcg = g.dcg(k)
            cols.append(_ratio(dcg, g.ideal_dcg(k), fallback=dcg))
        return np.stack(cols, axis=1)


@register
class NDCGRel(_GainFamily):
    """ndcg_rel = (1/R) * [sum over retrieved d with gain > 0 of
    DCG@rank(d) / IDCG@min(rank(d), R) + (R - those d) * DCG / IDCG],
    R = length of the ideal ranking (documents with positive gain)."""

    name = "ndcg_rel"
    explanation = "Normalized Discounted Cumulative Gain averaged over rel docs"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        g = trec_gains(rr, params)
        nq, big_r = rr.num_queries, g.ideal_len
        pos = (g.gain > 0) & (big_r[g.qi] > 0)
        qi = g.qi[pos]
        ratio = g.dcg_cum[pos] / g.ideal_dcg_at(qi, np.minimum(g.rank[pos], big_r[qi]))
        total = per_query_sum(qi, ratio, nq)
        n_pos = np.bincount(qi, minlength=nq)
        ok = big_r > 0
        total[ok] += (big_r[ok] - n_pos[ok]) * g.dcg()[ok] / g.ideal_dcg()[ok]
        out = np.zeros(nq)
        good = ok & (total > 0)
        out[good] = total[good] / big_r[good]
        return out[:, None]


@register
class RNDCG(_GainFamily):
    """Rndcg = mean of DCG@j / IDCG@j over the R-level points j: each rank where
    the ideal gain changes, the ideal's end R, and num_ret if num_ret > R + 1.
    0 without relevant documents; NaN (trec_eval's 0/0) with relevant documents
    but no positive gain."""

    name = "Rndcg"
    explanation = "Normalized Discounted Cumulative Gain at R levels"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        g = trec_gains(rr, params)
        nq, big_r = rr.num_queries, g.ideal_len
        change = np.zeros(len(g.ideal), dtype=bool)
        change[1:] = g.ideal[1:] != g.ideal[:-1]
        change &= g.ideal_rank > 1
        ends = np.flatnonzero(big_r > 0)
        qi = np.concatenate((g.ideal_qi[change], ends))
        at = np.concatenate((g.ideal_rank[change] - 1, big_r[ends]))
        order = np.lexsort((at, qi))  # each query's points in rank order
        qi, at = qi[order], at[order]
        ratio = g.dcg_at(qi, np.minimum(at, rr.num_ret[qi])) / g.ideal_dcg_at(qi, at)
        total = per_query_sum(qi, ratio, nq)
        count = np.bincount(qi, minlength=nq).astype(np.float64)
        tail = (big_r > 0) & (rr.num_ret > big_r + 1)
        total[tail] += g.dcg()[tail] / g.ideal_dcg()[tail]
        count[tail] += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            out = total / count
        out[rr.num_rel == 0] = 0.0
        return out[:, None]


@register
class BinG(Family):
    """binG = (1/num_rel) * sum over relevant retrieved d of
    1 / log2(2 + non-relevant documents ranked above d)."""

    name = "binG"
    explanation = "Binary G"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        doc = np.flatnonzero(rr.rel >= rr.relevance_level)
        qi, rank = locate(rr, doc)
        rel_so_far = _local_index(_offsets(qi, rr.num_queries)) + 1
        terms = 1.0 / np.log2((3 + (rank - 1) - rel_so_far).astype(np.float64))
        total = per_query_sum(qi, terms, rr.num_queries)
        out = np.zeros(rr.num_queries)
        ok = np.bincount(qi, minlength=rr.num_queries) > 0
        out[ok] = total[ok] / rr.num_rel[ok]
        return out[:, None]


@register
class G(_GainFamily):
    """G = (1/sum of ideal gains) * sum over retrieved d with gain != 0 of
    gain(d) / log2(2 + cost(rank d) - gained(rank d)), where gained(r) is the
    results' gain through rank r and cost(r) sums max(ideal gain, 1) through r
    (1 past the ideal's end)."""

    name = "G"
    explanation = "Normalized Gain"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        g = trec_gains(rr, params)
        nq = rr.num_queries
        gained = cumsum_within(g.gain, _offsets(g.qi, nq))
        ideal_cost = cumsum_within(np.maximum(g.ideal, 1.0), g.ideal_offsets)
        inside = np.minimum(g.rank, g.ideal_len[g.qi])
        cost = np.zeros(len(g.rank))
        has = inside > 0
        cost[has] = ideal_cost[g.ideal_offsets[g.qi[has]] + inside[has] - 1]
        cost += g.rank - inside  # one per rank past the ideal's end
        terms = g.gain / np.log2(2.0 + cost - gained)
        total = per_query_sum(g.qi, terms, nq)
        ideal_sum = per_query_sum(g.ideal_qi, g.ideal, nq)
        return _ratio(total, ideal_sum)[:, None]


# ---- Burges gain (ranx / ir_measures "exp") -----------------------------------


def ndcg_exp(rr: RankedRelevance, cutoff: int | None = None) -> np.ndarray:
    """Per query nDCG@k with Burges gain: DCG@k / IDCG@k, where
    DCG@k = sum_{r <= k} (2**rel(r) - 1) / log2(r + 1) over the ranking, and
    IDCG@k is the same sum over the judged grades sorted best first. Documents
    without a positive grade (unjudged, grade 0) gain 0; the relevance level is
    not used. 0 when IDCG is 0; ``cutoff=None`` ranks everything."""
    if cutoff is not None and cutoff < 1:
        raise MeasureError(f"nDCG cutoff must be >= 1, got {cutoff}")
    nq = rr.num_queries
    k = np.iinfo(np.int64).max if cutoff is None else cutoff
    top_down = rr.rel_levels[:, :0:-1]  # grades high to low, grade 0 left out
    gain_of = np.exp2(np.arange(rr.rel_levels.shape[1] - 1, 0, -1.0)) - 1.0
    ideal = np.repeat(np.tile(gain_of, nq), top_down.ravel())
    ideal_offsets = np.concatenate(([0], np.cumsum(top_down.sum(axis=1)))).astype(np.int64)
    ideal_rank = _local_index(ideal_offsets) + 1
    keep = ideal_rank <= k
    ideal_qi = np.repeat(np.arange(nq), np.diff(ideal_offsets))[keep]
    idcg = per_query_sum(ideal_qi, ideal[keep] / _discount(ideal_rank[keep]), nq)
    doc = np.flatnonzero(rr.rel > 0)
    qi, rank = locate(rr, doc)
    keep = rank <= k
    gain = np.exp2(rr.rel[doc][keep].astype(np.float64)) - 1.0
    dcg = per_query_sum(qi[keep], gain / _discount(rank[keep]), nq)
    return _ratio(dcg, idcg)
