"""Measures for incomplete judgments: bpref, gm_bpref, infAP (trec_eval
``m_bpref.c``, ``m_gm_bpref.c``, ``m_infap.c``).

Both look only at judged documents: a retrieved document the qrels do not
mention (``NONPOOL``) is skipped, one in the pool with a negative grade
(``UNJUDGED``) is skipped by bpref and counted by infAP as pooled but unjudged.
A judged document is non-relevant when ``0 <= grade < relevance_level`` and
relevant otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ragbench.core.metrics._family import Family, register
from ragbench.core.metrics.average_precision import compact, segment_total
from ragbench.core.ranking import UNJUDGED, RankedRelevance

INFAP_EPSILON = 0.00001  # trec_eval.h


@dataclass(frozen=True)
class JudgedRelevant:
    """One entry per judged relevant retrieved document, grouped by query (CSR),
    with what was retrieved above it."""

    offsets: np.ndarray
    index: np.ndarray  # 0-based position in the full ranking
    rel_so_far: np.ndarray  # judged relevant at or above it (itself included)
    nonrel_above: np.ndarray  # judged non-relevant above it
    unjudged_above: np.ndarray  # in the pool but unjudged, above it


def judged_relevant(rr: RankedRelevance) -> JudgedRelevant:
    cached = rr._cache.get("judged_relevant")
    if cached is not None:
        return cached
    # Work on the judged documents only: the k-th judged document of a query
    # has k - 1 judged documents above it.
    pos, query, offsets = compact(rr, rr.rel >= 0)
    judged_above = np.arange(len(pos), dtype=np.int64) - offsets[query]
    is_rel = rr.rel[pos] >= rr.relevance_level
    rel_so_far = np.cumsum(is_rel, dtype=np.int64)
    rel_so_far -= np.repeat(np.concatenate(([0], rel_so_far))[offsets[:-1]], np.diff(offsets))
    keep = np.flatnonzero(is_rel)
    pos, query = pos[keep], query[keep]
    judged_above, rel_so_far = judged_above[keep], rel_so_far[keep]
    unjudged = np.flatnonzero(rr.rel == UNJUDGED)
    unjudged_above = (np.searchsorted(unjudged, pos)
                      - np.searchsorted(unjudged, rr.offsets[:-1])[query])
    out = JudgedRelevant(
        np.concatenate(([0], np.cumsum(np.bincount(query, minlength=rr.num_queries)))),
        pos - rr.offsets[query],
        rel_so_far,
        judged_above - (rel_so_far - 1),
        unjudged_above,
    )
    rr._cache["judged_relevant"] = out
    return out


def _num_nonrel(rr: RankedRelevance) -> np.ndarray:
    """Judged documents with grade below ``relevance_level``, retrieved or not."""
    return rr.rel_levels[:, :max(rr.relevance_level, 0)].sum(axis=1)


def _bpref(rr: RankedRelevance) -> np.ndarray:
    jr = judged_relevant(rr)
    q = np.repeat(np.arange(rr.num_queries), np.diff(jr.offsets))
    num_rel = rr.num_rel
    n = jr.nonrel_above
    den = np.minimum(_num_nonrel(rr), num_rel)[q].astype(np.float64)
    term = np.ones(len(n))
    above = np.flatnonzero(n > 0)
    term[above] = 1.0 - (np.minimum(n[above], num_rel[q[above]]).astype(np.float64)
                         / den[above])
    total = segment_total(term, jr.offsets)
    return np.divide(total, num_rel, out=total, where=num_rel > 0)


@register
class Bpref(Family):
    """bpref = (1/R) * sum over judged relevant retrieved r of
    (1 - min(n_r, R) / min(N, R)), n_r = judged non-relevant docs ranked above r,
    N = judged non-relevant docs, R = num_rel (a term is 1 when n_r = 0)."""

    name = "bpref"
    explanation = "Main binary preference measure."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return _bpref(rr)[:, None]


@register
class GMBpref(Bpref):
    """bpref per query; the ``all`` row is exp(mean(log(max(bpref, 1e-5))))."""

    name = "gm_bpref"
    explanation = "Binary preference (bpref), but using geometric mean over topics."
    average = "gm"
    summary_only = True  # trec_eval prints gm_bpref only for 'all'


@register
class InfAP(Family):
    """infAP = (1/R) * sum over judged relevant retrieved docs at 0-based
    position j of 1 if j = 0, else
    1/(j+1) + (j/(j+1)) * ((k-1+n+u)/j) * ((k-1+eps)/(k-1+n+2 eps)),
    k = judged relevant up to it, n = judged non-relevant and u = pooled
    unjudged above it, eps = 1e-5 (Yilmaz & Aslam, CIKM 2006)."""

    name = "infAP"
    explanation = "Inferred AP."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        jr = judged_relevant(rr)
        fj = jr.index.astype(np.float64)
        k1 = jr.rel_so_far - 1
        term = np.ones(len(fj))
        later = np.flatnonzero(jr.index > 0)
        fj, k1 = fj[later], k1[later]
        n = jr.nonrel_above[later]
        u = jr.unjudged_above[later]
        # Same operations in the same order as m_infap.c.
        term[later] = (1.0 / (fj + 1.0)
                       + (fj / (fj + 1.0)) * ((k1 + n + u).astype(np.float64) / fj)
                       * ((k1 + INFAP_EPSILON)
                          / ((k1 + n).astype(np.float64) + 2 * INFAP_EPSILON)))
        total = segment_total(term, jr.offsets)
        num_rel = rr.num_rel
        return np.divide(total, num_rel, out=total, where=num_rel > 0)[:, None]
