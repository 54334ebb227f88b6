"""Rank-biased precision (Moffat & Zobel 2008) as trec_eval 10 computes it:
rbp and rbp_resid, persistence ``p`` (default 0.9, ``-m rbp.p=0.8``)."""

from __future__ import annotations

import numpy as np

from ragbench.core.metrics._family import Family, register
from ragbench.core.metrics._gains import locate, per_query_sum, trec_gains
from ragbench.core.ranking import RankedRelevance

DEFAULT_P = 0.9  # m_rbp.c


def _persistence(params) -> float:
    """The last ``p=`` parameter wins, as m_rbp.c's loop leaves it."""
    p = DEFAULT_P
    for name, value in params or ():
        if name == "p":
            p = float(value)
    return p


def _powers(p: float, n: int) -> np.ndarray:
    """p**0 .. p**n by repeated multiplication, trec_eval's ``cur_p *= p``."""
    return np.concatenate(([1.0], np.cumprod(np.full(n, p))))


@register
class RBP(Family):
    """rbp = (1 - p) * sum_r gain(r) * p**(r - 1), gains scaled into [0, 1]
    when some lie outside (gain - min) / (max - min); unjudged documents gain 0.
    Gains per level as for ndcg (``-m rbp.p=0.8,2=3``)."""

    name = "rbp"
    explanation = "Rank-Biased Precision"
    param_kind = "pairs"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        p = _persistence(params)
        g = trec_gains(rr, params, rbp=True)
        powers = _powers(p, int(rr.num_ret.max(initial=0)))
        total = per_query_sum(g.qi, g.gain * powers[g.rank - 1], rr.num_queries)
        return ((1.0 - p) * total)[:, None]


@register
class RBPResid(Family):
    """rbp_resid = p**num_ret + (1 - p) * sum over unjudged retrieved d of
    p**(rank(d) - 1): how far rbp could rise if every unjudged document had
    gain 1. 0 when the ranking has no unjudged document."""

    name = "rbp_resid"
    explanation = "Rank-Biased Precision residual"
    param_kind = "pairs"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        p = _persistence(params)
        powers = _powers(p, int(rr.num_ret.max(initial=0)))
        # Unjudged mass = all ranks' mass - judged ranks' mass: judged documents
        # are the few, so this stays sparse (it may differ from trec_eval's
        # running sum in the last bits only).
        judged = np.flatnonzero(rr.rel >= 0)
        qi, rank = locate(rr, judged)
        judged_mass = per_query_sum(qi, powers[rank - 1], rr.num_queries)
        all_mass = np.concatenate(([0.0], np.cumsum(powers[:-1])))[rr.num_ret]
        resid = powers[rr.num_ret] + (1 - p) * (all_mass - judged_mass)
        has = rr.num_ret > np.bincount(qi, minlength=rr.num_queries)
        return np.where(has, resid, 0.0)[:, None]
