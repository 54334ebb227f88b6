"""Average precision and its relatives."""

from __future__ import annotations

import numpy as np

from ragbench.core.metrics._family import Family, register
from ragbench.core.ranking import RankedRelevance


def _precision_at_relevant(rr: RankedRelevance) -> np.ndarray:
    """Per document: precision at its rank if it is relevant, else 0."""
    return np.where(rr.is_rel, rr.cum_rel / rr.rank, 0.0)


@register
class MAP(Family):
    """AP = sum over relevant retrieved d of P@rank(d), divided by num_rel
    (0 when the query has no relevant document)."""

    name = "map"
    explanation = "Mean Average Precision."

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        total = rr.segment_sum(_precision_at_relevant(rr))
        num_rel = rr.num_rel
        return np.divide(total, num_rel, out=np.zeros(rr.num_queries),
                         where=num_rel > 0)[:, None]


@register
class GMMAP(MAP):
    name = "gm_map"
    explanation = "Geometric Mean Average Precision."
    average = "gm"
