"""trec_eval 10's ``unj``: the share of unjudged documents at rank cutoffs."""

from __future__ import annotations

import numpy as np

from ragbench.core.metrics._family import Family, register
from ragbench.core.metrics._gains import locate
from ragbench.core.ranking import RankedRelevance


@register
class Unjudged(Family):
    """unj_k = (documents in the top k that the qrels do not judge) / k, a
    document being unjudged when it is absent from the qrels or has a negative
    grade there; a ranking shorter than k counts its missing ranks as judged."""

    name = "unj"
    explanation = "Unjudged at cutoffs"
    param_kind = "long_cutoffs"
    default_params = (5, 10, 20)

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        # Judged documents are the few: count them and take the rest.
        judged = np.flatnonzero(rr.rel >= 0)
        qi, rank = locate(rr, judged)
        cols = []
        for k in params:
            top = rank <= k
            judged_k = np.bincount(qi[top], minlength=rr.num_queries)
            cols.append((np.minimum(rr.num_ret, k) - judged_k) / k)
        return np.stack(cols, axis=1)
