"""Runs -> paired per-query scores -> a statistically tested leaderboard.

Queries are paired by id over every judged query: a query a run did not answer
scores 0 for that run (trec_eval ``-c``), so all systems are compared on the
same query set and a system cannot gain by skipping hard queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragbench.core.errors import EvaluationError
from ragbench.core.evaluate import evaluate
from ragbench.core.measures import parse
from ragbench.core.qrels import Qrels
from ragbench.core.ranking import QueryMismatch
from ragbench.core.run import Run
from ragbench.core.stats import Leaderboard, compare_systems


@dataclass(frozen=True, eq=False)
class MeasureLeaderboard:
    measure: str
    query_ids: tuple[str, ...]
    scores: dict[str, np.ndarray]
    board: Leaderboard
    mismatches: dict[str, QueryMismatch]


def unique_names(names: Sequence[str], fallbacks: Sequence[str]) -> list[str]:
    """Run names, made unique with ``fallbacks`` (e.g. file names) where they clash."""
    names = list(names)
    out = []
    for i, name in enumerate(names):
        if names.count(name) > 1:
            name = fallbacks[i]
        if name in out:
            name = f"{name}#{i + 1}"
        out.append(name)
    return out


def paired_scores(qrels: Qrels, runs: Sequence[Run], names: Sequence[str], measure: str, *,
                  version: int = 10):
    """``(query_ids, {name: per-query values}, {name: mismatch})`` over all judged queries."""
    if len(runs) < 2:
        raise EvaluationError(f"a comparison needs at least 2 runs, got {len(runs)}")
    m = parse(measure)
    scores: dict[str, np.ndarray] = {}
    mismatches: dict[str, QueryMismatch] = {}
    query_ids = None
    for name, run in zip(names, runs):
        ev = evaluate(qrels, run, [m], complete=True, version=version)
        if query_ids is None:
            query_ids = ev.query_ids
        elif ev.query_ids != query_ids:  # cannot happen with complete=True
            raise EvaluationError(f"run {name}: evaluated a different query set")
        scores[name] = np.asarray(ev.columns[0].per_query, dtype=np.float64)
        mismatches[name] = ev.mismatch
    return query_ids, scores, mismatches


def compare_runs(qrels: Qrels, runs: Sequence[Run], measures: Sequence[str], *,
                 names: Sequence[str] | None = None, baseline: str | None = None,
                 test: str = "t", correction: str = "holm", alpha: float = 0.05,
                 n_resamples: int = 10_000, seed: int = 0,
                 version: int = 10) -> list[MeasureLeaderboard]:
    """One leaderboard per measure (see :func:`ragbench.core.stats.compare_systems`)."""
    names = list(names) if names is not None else unique_names(
        [r.name for r in runs], [f"{r.name}-{i + 1}" for i, r in enumerate(runs)])
    out = []
    for measure in measures:
        qids, scores, mismatches = paired_scores(qrels, runs, names, measure, version=version)
        board = compare_systems(scores, baseline=baseline, test=test, correction=correction,
                                alpha=alpha, n_resamples=n_resamples, seed=seed)
        out.append(MeasureLeaderboard(str(parse(measure)), qids, scores, board, mismatches))
    return out
