"""Counting measures: runid, num_q, num_ret, num_rel, num_rel_ret,
num_nonrel_judged_ret, relstring."""

from __future__ import annotations

import numpy as np

from ragbench.core.errors import MeasureError
from ragbench.core.metrics._family import Family, register
from ragbench.core.ranking import NONPOOL, UNJUDGED, RankedRelevance


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


@register
class NumNonrelJudgedRet(Family):
    """Retrieved documents judged (grade >= 0) but below the relevance level."""

    name = "num_nonrel_judged_ret"
    explanation = "Number of non-relevant judged documents retrieved for topic."
    value_type = "int"
    average = "sum"

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        judged_nonrel = (rr.rel >= 0) & (rr.rel < rr.relevance_level)
        return rr.segment_sum(judged_nonrel.astype(np.int64))[:, None]


def _rel_chars(rel: np.ndarray) -> np.ndarray:
    """relstring's character (as a byte) for each relevance value: grade 0-9 as
    a digit, above 9 '>', NONPOOL '-', UNJUDGED '.', anything else '<'."""
    digits = ord("0") + np.clip(rel, 0, 9)
    conds = [rel > 9, rel >= 0, rel == NONPOOL, rel == UNJUDGED]
    return np.select(conds, [ord(">"), digits, ord("-"), ord(".")], ord("<")).astype(np.uint8)


@register
class RelString(Family):
    """The relevance of the top N documents (default 10) as a quoted string,
    one character per document: ``'0000011000'``. Per query only.

    With ``-c``, trec_eval 10 scores a query missing from the run as one
    unjudged document (``'-'``) and blanks the string only for the default
    parameter (the row named plain ``relstring``); this is kept.
    """

    name = "relstring"
    explanation = "The relevance values for the first N (default 10) retrieved docs."
    param_kind = "double_params"
    default_params = (10.0,)
    value_type = "str"
    average = "none"
    per_query_only = True

    def compute(self, rr: RankedRelevance, params) -> np.ndarray:
        if not np.isfinite(params[0]):
            raise MeasureError(f"measure 'relstring': length {params[0]} is not finite")
        # C casts the double parameter with (long): truncation toward zero.
        length = int(min(max(params[0], 0.0), 2.0**62))
        keep = rr.rank <= length
        text = _rel_chars(rr.rel[keep]).tobytes().decode("ascii")
        ends = np.concatenate(([0], np.cumsum(np.minimum(rr.num_ret, length))))
        out = np.empty((rr.num_queries, 1), dtype=object)
        for i in range(rr.num_queries):
            out[i, 0] = f"'{text[ends[i]:ends[i + 1]]}'"
        # Identity, not equality: -mrelstring.10 names the row relstring_10,
        # which trec_eval does not blank.
        if rr.version != 9 and length > 0 and params is not self.default_params:
            out[~rr.retrieved, 0] = "'-'"
        return out
