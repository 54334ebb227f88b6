"""Precision-style measures at document cutoffs."""

from __future__ import annotations

import numpy as np

from ragbench.core.metrics._family import Family, register
from ragbench.core.ranking import RankedRelevance


@register
class Precision(Family):
    """P_k = (relevant in top k) / k; a ranking shorter than k counts its
    missing ranks as non-relevant."""

    name = "P"
    explanation = "Precision after X docs retrieved."
    param_kind = "long_cutoffs"
    default_params = (5, 10, 15, 20, 30, 100, 200, 500, 1000)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        cum = rr.cum_rel
        return np.stack([rr.at_rank(cum, k) / k for k in params], axis=1)
