"""Scoring a finished querying phase with ragbench.core.

The stored rankings become one :class:`ragbench.core.Run` (a failed query adds
no row) and are evaluated with ``complete=True`` against every judged query of
the dataset version, so a failed or empty query scores 0 on every measure and
the means are over all judged queries. Ties between equal scores are broken by
the core as trec_eval breaks them (document id, descending), whatever order the
system returned them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core import Qrels, Run, evaluate


@dataclass(frozen=True)
class Scores:
    """``per_query``: ``{query_id: {measure: value}}`` for every judged query;
    ``aggregates``: ``{measure: mean over those queries}`` (sums for counts)."""

    per_query: dict[str, dict[str, float]]
    aggregates: dict[str, float]


class RunBuilder:
    """Builds a :class:`Run` from stored rankings, chunk by chunk: each chunk's
    ids and scores become Arrow / numpy columns at once, so no Python object per
    document outlives its chunk."""

    def __init__(self) -> None:
        self._query_ids: list[pa.Array] = []
        self._doc_ids: list[pa.Array] = []
        self._scores: list[np.ndarray] = []
        #: Every query id added, with or without documents.
        self.query_ids: set[str] = set()

    def add(self, rankings: Iterable[tuple[str, Sequence[Sequence[object]] | None]]) -> None:
        """``(query_id, [[doc_id, score], ...])`` pairs; None or ``[]`` adds nothing.
        A ranking must hold each document once (the runner keeps a repeated
        document's first occurrence)."""
        qids: list[str] = []
        dids: list[str] = []
        scores: list[float] = []
        for query_id, ranking in rankings:
            self.query_ids.add(query_id)
            if not ranking:
                continue
            docs, values = zip(*ranking)
            qids.extend([query_id] * len(docs))
            dids.extend(docs)
            scores.extend(values)
        if qids:
            self._query_ids.append(pa.array(qids, type=pa.string()))
            self._doc_ids.append(pa.array(dids, type=pa.string()))
            self._scores.append(np.asarray(scores, dtype=np.float64))

    def build(self, *, name: str = "run", keep: set[str] | None = None) -> Run:
        """The Run of everything added; with ``keep``, of those queries only."""
        if not self._query_ids:
            return Run(pa.array([], type=pa.string()), pa.array([], type=pa.string()),
                       np.zeros(0, dtype=np.float64), name=name)
        query_ids = pa.concat_arrays(self._query_ids)
        doc_ids = pa.concat_arrays(self._doc_ids)
        scores = np.concatenate(self._scores)
        if keep is not None:
            mask = pc.is_in(query_ids, value_set=pa.array(list(keep), type=pa.string()))
            query_ids, doc_ids = query_ids.filter(mask), doc_ids.filter(mask)
            scores = scores[mask.to_numpy(zero_copy_only=False)]
        return Run(query_ids, doc_ids, scores, name=name)


def build_run(rankings: Iterable[tuple[str, Sequence[Sequence[object]] | None]], *,
              name: str = "run") -> Run:
    """A Run from ``(query_id, [[doc_id, score], ...])`` pairs (see :class:`RunBuilder`)."""
    builder = RunBuilder()
    builder.add(rankings)
    return builder.build(name=name)


def score_run(qrels: Qrels, run: Run, measures: Sequence[str]) -> Scores:
    """Evaluate ``run`` on every query of ``qrels`` (``complete=True``: a query
    missing from the run scores 0)."""
    evaluation = evaluate(qrels, run, list(measures), complete=True)
    return Scores(per_query=evaluation.per_query(), aggregates=evaluation.summary())


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    """``{"p50", "p95", "p99", "mean", "max"}`` in ms over successful queries
    (percentiles by linear interpolation, numpy's default); ``{}`` if none."""
    values = np.asarray([v for v in latencies_ms if v is not None], dtype=np.float64)
    if values.size == 0:
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99),
            "mean": float(values.mean()), "max": float(values.max())}
