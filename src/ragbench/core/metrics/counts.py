"""Counting measures: runid, num_q, num_ret, num_rel, num_rel_ret,
num_nonrel_judged_ret, relstring."""

from __future__ import annotations

import numpy as np

from ragbench.core.metrics._family import Family, register
from ragbench.core.ranking import RankedRelevance


@register
class RunId(Family):
    name = "runid"
    explanation = "Runid given by results input file."
    value_type = "str"
    average = "none"
    summary_only = True

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return np.full((rr.num_queries, 1), rr.run_name, dtype=object)


@register
class NumQ(Family):
    name = "num_q"
    explanation = "Number of topics results averaged over."
    value_type = "int"
    average = "sum"
    summary_only = True

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return np.ones((rr.num_queries, 1), dtype=np.int64)


@register
class NumRet(Family):
    name = "num_ret"
    explanation = "Number of documents retrieved for topic."
    value_type = "int"
    average = "sum"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return rr.num_ret[:, None]


@register
class NumRel(Family):
    name = "num_rel"
    explanation = "Number of relevant documents for topic."
    value_type = "int"
    average = "sum"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return rr.num_rel[:, None]


@register
class NumRelRet(Family):
    name = "num_rel_ret"
    explanation = "Number of relevant documents retrieved for topic."
    value_type = "int"
    average = "sum"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        return rr.num_rel_ret[:, None]
