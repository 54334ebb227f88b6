"""Precision- and recall-style measures: at document cutoffs (``P``, ``recall``,
``relative_P``, ``success``), at cutoffs relative to R (``Rprec``,
``Rprec_mult``), and over the whole retrieved set (``set_P``, ``set_recall``,
``set_relative_P``, ``set_F``, ``utility``).

Notation, per query: ``rel(k)`` relevant documents in the top k (the ranking
padded with non-relevant documents beyond ``num_ret``), ``R = num_rel``,
``ret = num_ret``, ``relret = num_rel_ret``. Every formula follows trec_eval
10.0's ``m_<name>.c``, including which degenerate case gives 0.
"""

from __future__ import annotations

import numpy as np

from ragbench.core.errors import MeasureError
from ragbench.core.metrics._family import Family, register
from ragbench.core.ranking import RankedRelevance


def _rel_at(rr: RankedRelevance, k) -> np.ndarray:
    """Per query: rel(k), relevant documents in the top ``k`` (a scalar or one
    cutoff per query); 0 for k <= 0 or an empty ranking."""
    return rr.rel_in_top(k)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den as float64, 0 where den == 0 (trec_eval leaves the value unset)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.broadcast_to(np.asarray(den, dtype=np.float64), num.shape)
    return np.divide(num, den, out=np.zeros(num.shape), where=den != 0)


# ---- cutoffs in documents ---------------------------------------------------
@register
class Precision(Family):
    """P_k = rel(k) / k; a ranking shorter than k counts its missing ranks as
    non-relevant."""

    name = "P"
    explanation = "Precision after X docs retrieved."
    param_kind = "long_cutoffs"
    default_params = (5, 10, 15, 20, 30, 100, 200, 500, 1000)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return np.stack([_rel_at(rr, k) / k for k in params], axis=1)


@register
class Recall(Family):
    """recall_k = rel(k) / R; 0 when R == 0."""

    name = "recall"
    explanation = "Recall after X docs retrieved."
    param_kind = "long_cutoffs"
    default_params = (5, 10, 15, 20, 30, 100, 200, 500, 1000)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return np.stack([_ratio(_rel_at(rr, k), rr.num_rel) for k in params], axis=1)


@register
class RelativePrecision(Family):
    """relative_P_k = rel(k) / min(k, R): precision up to R, recall after it;
    0 when R == 0."""

    name = "relative_P"
    explanation = "Relative Precision at cutoffs."
    param_kind = "long_cutoffs"
    default_params = (5, 10, 15, 20, 30, 100, 200, 500, 1000)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return np.stack([_ratio(_rel_at(rr, k), np.minimum(rr.num_rel, k))
                         for k in params], axis=1)


@register
class Success(Family):
    """success_k = 1 if rel(k) > 0 else 0."""

    name = "success"
    explanation = "Success (a relevant doc retrieved) at cutoffs."
    param_kind = "long_cutoffs"
    default_params = (1, 5, 10)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return np.stack([(_rel_at(rr, k) > 0).astype(np.float64) for k in params], axis=1)


# ---- cutoffs relative to R --------------------------------------------------
@register
class RPrecision(Family):
    """Rprec = rel(R) / R, with rel(R) counted in the top min(R, ret) only;
    0 when R == 0 or ret == 0."""

    name = "Rprec"
    explanation = "Precision after R docs retrieved (R = num_rel)."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return _ratio(_rel_at(rr, rr.num_rel), rr.num_rel)[:, None]


@register
class RPrecisionMultiple(Family):
    """Rprec_mult_p = rel(c) / c with c = (long)(p * R + 0.9) documents;
    0 when c <= 0. Past the end of the ranking rel(c) = relret."""

    name = "Rprec_mult"
    explanation = "Precision measured at multiples of R (num_rel)."
    param_kind = "double_cutoffs"
    default_params = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        num_rel = rr.num_rel.astype(np.float64)
        cols = []
        for p in params:
            # C's (long) cast truncates toward zero; same double arithmetic.
            cut = np.trunc(p * num_rel + 0.9).astype(np.int64)
            cols.append(_ratio(_rel_at(rr, cut), np.maximum(cut, 0)))
        return np.stack(cols, axis=1)


# ---- the whole retrieved set ------------------------------------------------
@register
class SetPrecision(Family):
    """set_P = relret / ret; 0 when nothing is retrieved."""

    name = "set_P"
    explanation = "Set Precision: num_relevant_retrieved / num_retrieved."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return _ratio(rr.num_rel_ret, rr.num_ret)[:, None]


@register
class SetRelativePrecision(Family):
    """set_relative_P = relret / min(ret, R); 0 when ret == 0 or R == 0."""

    name = "set_relative_P"
    explanation = "Relative Set Precision: P / (max possible P for this size set)."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return _ratio(rr.num_rel_ret, np.minimum(rr.num_ret, rr.num_rel))[:, None]


@register
class SetRecall(Family):
    """set_recall = relret / R; 0 when R == 0."""

    name = "set_recall"
    explanation = "Set Recall: num_relevant_retrieved / num_relevant."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return _ratio(rr.num_rel_ret, rr.num_rel)[:, None]


@register
class SetF(Family):
    """set_F = (x + 1) * P * R / (x * P + R) with P = set_P, R = set_recall and
    x = the first parameter (weight of recall, default 1); 0 when relret == 0."""

    name = "set_F"
    explanation = "Set F measure: weighted harmonic mean of recall and precision."
    param_kind = "double_params"
    default_params = (1.0,)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        x = params[0]
        has = rr.num_rel_ret > 0
        relret = rr.num_rel_ret[has].astype(np.float64)
        prec = relret / rr.num_ret[has]
        rec = relret / rr.num_rel[has]
        out = np.zeros(rr.num_queries)
        # A negative x can make the denominator 0: C then yields inf/nan too.
        with np.errstate(divide="ignore", invalid="ignore"):
            out[has] = (x + 1.0) * prec * rec / (x * prec + rec)
        return out[:, None]


@register
class Utility(Family):
    """utility = p1 * a + p2 * b + p3 * c + p4 * d over the contingency table
    a = relret, b = ret - relret, c = R - relret, d = N + relret - ret - R,
    where N (trec_eval ``-N``, documents in the collection) is 0 here.
    Defaults (p1, p2, p3, p4) = (1, -1, 0, 0).

    With ``-c``, trec_eval 10 scores a query missing from the run as a ranking
    of one unjudged document and then resets the value to 0 only for the
    default parameters (the column named plain ``utility``); this is kept.
    """

    name = "utility"
    explanation = "Set utility measure: p1*a + p2*b + p3*c + p4*d."
    param_kind = "double_params"
    default_params = (1.0, -1.0, 0.0, 0.0)

    def parse_params(self, text):
        params, printable = super().parse_params(text)
        if len(params) != 4:
            raise MeasureError(f"measure 'utility' takes 4 coefficients, got {text!r}")
        return params, printable

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        p1, p2, p3, p4 = params
        num_docs_in_coll = 0
        relret, ret, rel = rr.num_rel_ret, rr.num_ret.copy(), rr.num_rel
        missing = ~rr.retrieved
        if rr.version != 9:
            ret[missing] = 1  # trec_eval 10's stand-in ranking (see class doc)
        out = (p1 * relret + p2 * (ret - relret) + p3 * (rel - relret)
               + p4 * (num_docs_in_coll + relret - ret - rel)).astype(np.float64)
        # Identity, not equality: -mutility.1,-1,0,0 names the column
        # utility_1,-1,0,0, which trec_eval does not reset.
        if rr.version == 9 or params is self.default_params:
            out[missing] = 0.0
        return out[:, None]
