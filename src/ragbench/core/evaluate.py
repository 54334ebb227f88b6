"""Evaluate runs against qrels: per-query values and their summary.

Two doors into the same engine:

* :func:`evaluate` takes ragbench measures (``"nDCG@10"``, ``"P(rel=2)@5"``);
* :func:`evaluate_trec` takes trec_eval ``-m`` specs (``"all_trec"``, ``"P.5,10"``)
  and trec_eval's switches, for byte-exact trec_eval output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ragbench.core.metrics import TrecMeasure
from ragbench.core.qrels import Qrels
from ragbench.core.ranking import QueryMismatch, RankedRelevance, judge
from ragbench.core.run import Run
from ragbench.core.trec_spec import parse_trec_specs


@dataclass(frozen=True, eq=False)
class Column:
    """One reported value: its name, per-query values and summary."""

    name: str
    value_type: str  # "float" | "int" | "str"
    per_query: np.ndarray | None  # None: summary only (runid, num_q)
    summary: object  # None: per query only (relstring)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Per-query values and summaries of one run, columns in report order."""

    run_name: str
    query_ids: tuple[str, ...]
    columns: tuple[Column, ...]
    mismatch: QueryMismatch

    def __getitem__(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def summary(self) -> dict[str, object]:
        return {c.name: _py(c.summary) for c in self.columns if c.summary is not None}

    def per_query(self) -> dict[str, dict[str, object]]:
        """``{query_id: {measure: value}}``."""
        cols = [c for c in self.columns if c.per_query is not None]
        names = [c.name for c in cols]
        # tolist() gives Python numbers (what _py gives for one value), a column at a time.
        rows = zip(*(c.per_query.tolist() for c in cols)) if cols else ((),) * len(self.query_ids)
        return {q: dict(zip(names, values)) for q, values in zip(self.query_ids, rows)}

    def to_table(self) -> pa.Table:
        """Per-query values as an Arrow table (``query_id`` then one column each)."""
        data = {"query_id": pa.array(self.query_ids, type=pa.string())}
        for c in self.columns:
            if c.per_query is not None:
                data[c.name] = pa.array(c.per_query.tolist() if c.value_type == "str"
                                        else c.per_query)
        return pa.table(data)


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def evaluate_trec(qrels: Qrels, run: Run, specs: Iterable[str] | None = None, *,
                  relevance_level: int = 1, max_docs: int | None = None,
                  complete: bool = False, version: int = 10) -> Evaluation:
    """trec_eval semantics: ``specs`` as ``-m``, ``relevance_level`` as ``-l``,
    ``max_docs`` as ``-M``, ``complete`` as ``-c``, ``version`` 9 or 10."""
    measures = parse_trec_specs(specs)
    rr = judge(qrels, run, relevance_level=relevance_level, max_docs=max_docs,
               complete=complete, version=version)
    return evaluate_ranked(rr, measures)


def evaluate_ranked(rr: RankedRelevance, measures: Sequence[TrecMeasure]) -> Evaluation:
    columns: list[Column] = []
    for m in measures:
        fam = m.family
        values = m.compute(rr)
        if fam.per_query_only:
            summary = None
        elif fam.value_type == "str":
            summary = rr.run_name
        else:
            summary = fam.summarise(values)
        for j, name in enumerate(m.names):
            per_q = None if fam.summary_only else values[:, j]
            s = None if summary is None else (summary if fam.value_type == "str"
                                              else summary[j])
            if fam.value_type == "int" and s is not None:
                s = int(s)
            columns.append(Column(name, fam.value_type, per_q, s))
    return Evaluation(rr.run_name, rr.query_ids, tuple(columns), rr.mismatch)


def evaluate(qrels: Qrels, run: Run, measures: Iterable[str | object], *,
             max_docs: int | None = None, complete: bool = False,
             version: int = 10) -> Evaluation:
    """Evaluate ragbench measures (``"nDCG@10"``, ``"P(rel=2)@5"``, see
    :mod:`ragbench.core.measures`). Documents are ranked and judged once per
    distinct ``rel`` threshold. Columns are named by the canonical measure string;
    summaries are means over the evaluated queries (sums for counts)."""
    from ragbench.core.measures import parse_all

    parsed = parse_all(measures)
    if not parsed:
        from ragbench.core.errors import MeasureError
        raise MeasureError("no measure given")
    judged: dict[int, RankedRelevance] = {}
    columns = []
    rr = None
    for m in parsed:
        level = m.relevance_level
        if level not in judged:
            judged[level] = judge(qrels, run, relevance_level=level, max_docs=max_docs,
                                  complete=complete, version=version)
        rr = judged[level]
        values = m.compute(rr)
        if m.aggregate == "sum":
            values = values.astype(np.int64)
            summary = int(values.sum())
            vtype = "int"
        else:
            summary = float(values.mean()) if len(values) else 0.0
            vtype = "float"
        columns.append(Column(str(m), vtype, values, summary))
    return Evaluation(rr.run_name, rr.query_ids, tuple(columns), rr.mismatch)
