"""Compare systems on a dataset version with paired statistics; rank them on a leaderboard.

Both build the same body from each system's latest completed evaluation on the
dataset (:mod:`.latest`), paired on the queries they share (:mod:`.scores`), with
:func:`ragbench.core.stats.compare_systems`:

* system mean ``mean_i x_i`` over the paired queries and its t-interval
  ``mean ± t_{0.975, n-1} * sd / sqrt(n)``;
* per pair (every pair, or every system against the baseline): the paired test's raw
  two-sided p-value, the p-value corrected over all tested pairs, the mean difference
  with its interval (paired t for the t-test, BCa bootstrap otherwise), Cohen's
  ``d_z = mean(d) / sd(d)`` and win/tie/loss counts;
* significance groups: systems sharing a letter are not significantly different
  (corrected ``p > alpha``).

A comparison is stored (:class:`Comparison`) and returned identically later; a
leaderboard ranks every active system and is cached (:mod:`.cache`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ragbench.comparisons import freshness
from ragbench.comparisons.cache import cache_for
from ragbench.comparisons.latest import (LatestEvaluation, from_evaluation,
                                         newest_completions, resolve_latest)
from ragbench.comparisons.models import Comparison
from ragbench.comparisons.schemas import LeaderboardRead
from ragbench.comparisons.scores import PairedScores, paired_scores
from ragbench.config import Settings
from ragbench.core.errors import MeasureError
from ragbench.core.measures import parse
from ragbench.core.stats import compare_systems, mean_confidence_interval
from ragbench.datasets import service as datasets_service
from ragbench.errors import Conflict, NotFound, Unprocessable
from ragbench.evaluations import service as evaluations_service
from ragbench.systems.models import System

CONFIDENCE_LEVEL = 0.95
#: Leaderboards use these; a comparison may choose its own.
LEADERBOARD_RESAMPLES = 10_000
LEADERBOARD_SEED = 0


def resolve_measure(metric: str, k: int | None = None) -> str:
    """The canonical measure for ``metric`` and cutoff ``k``.

    ``metric`` is a ragbench measure (``nDCG@10``, ``AP``, ``RR@10``, ``P(rel=2)@5``) or
    a family name, case-insensitive (``ndcg``, ``map``/``ap``, ``mrr``/``rr``,
    ``precision``/``p``, ``recall``/``r``, ...), which takes ``k`` as its cutoff:
    ``("ndcg", 10) -> "nDCG@10"``, ``("map", 10) -> "AP@10"``, ``("map", None) -> "AP"``.
    Raises :class:`Unprocessable` naming ``metric`` or ``k``.
    """
    text = metric.strip()
    try:
        measure = parse(text)
    except MeasureError as exc:
        raise Unprocessable(f"metric: {exc}",
                            details={"field": "metric", "value": metric}) from None
    if k is None:
        return str(measure)
    if measure.cutoff is not None:
        if measure.cutoff != k:
            raise Unprocessable(f"metric {metric!r} has cutoff {measure.cutoff} but k is {k}",
                                details={"field": "k", "value": k})
        return str(measure)
    try:
        return str(parse(f"{text}@{k}"))
    except MeasureError as exc:
        raise Unprocessable(f"k: {exc}", details={"field": "k", "value": k}) from None


def create_comparison(session: Session, *, settings: Settings, system_ids: Sequence[int],
                      dataset_id: int, metric: str = "nDCG@10", k: int | None = None,
                      test: str = "t", correction: str = "holm", alpha: float = 0.05,
                      baseline_system_id: int | None = None, n_resamples: int = 10_000,
                      seed: int = 0) -> dict[str, Any]:
    """Compare ``system_ids`` (>= 2, distinct) on ``dataset_id`` and store the result.

    Each system contributes its latest completed evaluation on the dataset (409 naming
    the systems that have none); archived systems may be compared too. Returns the
    stored body (:func:`get_comparison`).
    """
    measure = resolve_measure(metric, k)
    datasets_service.get_dataset(session, dataset_id=dataset_id)
    system_ids = [int(s) for s in system_ids]
    if len(system_ids) < 2:
        raise Unprocessable("a comparison needs at least 2 systems",
                            details={"field": "system_ids", "value": system_ids})
    repeated = sorted({s for s in system_ids if system_ids.count(s) > 1})
    if repeated:
        raise Unprocessable(f"system_ids must be distinct; repeated: {repeated}",
                            details={"field": "system_ids", "repeated": repeated})
    if baseline_system_id is not None and baseline_system_id not in system_ids:
        raise Unprocessable(f"baseline_system_id {baseline_system_id} is not one of "
                            f"system_ids {system_ids}",
                            details={"field": "baseline_system_id"})
    names = dict(session.execute(select(System.id, System.name)
                                 .where(System.id.in_(system_ids))).all())
    unknown = [s for s in system_ids if s not in names]
    if unknown:
        raise NotFound(f"no system with id {', '.join(map(str, unknown))}",
                       details={"field": "system_ids", "missing": unknown})

    found = {}
    for system_id in system_ids:
        evaluation = evaluations_service.latest_completed(session, system_id=system_id,
                                                          dataset_id=dataset_id)
        if evaluation is not None:
            found[system_id] = from_evaluation(evaluation, system_name=names[system_id])
    without = [s for s in system_ids if s not in found]
    if without:
        listed = ", ".join(f"{names[s]!r} (id {s})" for s in without)
        raise Conflict(f"no completed evaluation on dataset {dataset_id} for {listed}",
                       details={"dataset_id": dataset_id, "system_ids": without,
                                "systems": [names[s] for s in without]})
    evaluations = [found[s] for s in system_ids]
    paired = paired_scores(session, settings=settings, dataset_id=dataset_id,
                           evaluations=evaluations, measure=measure)
    body = statistics(paired, evaluations=evaluations, test=test, correction=correction,
                      alpha=alpha, baseline_system_id=baseline_system_id,
                      n_resamples=n_resamples, seed=seed)
    result = _named(body, dataset_id=dataset_id, names=names)
    row = Comparison(dataset_id=dataset_id, measure=measure, test=test, correction=correction,
                     alpha=alpha, system_ids=system_ids,
                     evaluation_ids=[e.evaluation_id for e in evaluations], result=result)
    session.add(row)
    session.flush()
    return comparison_body(row)


def get_comparison(session: Session, *, comparison_id: int) -> dict[str, Any]:
    """The stored body of comparison ``comparison_id`` (404 if there is none)."""
    row = session.get(Comparison, comparison_id)
    if row is None:
        raise NotFound(f"no comparison with id {comparison_id}",
                       details={"comparison_id": comparison_id})
    return comparison_body(row)


def list_comparisons(session: Session, *, dataset_id: int | None = None, limit: int = 100,
                     offset: int = 0) -> list[Comparison]:
    """Stored comparisons, newest first, optionally of one dataset."""
    query = select(Comparison).order_by(Comparison.id.desc()).limit(limit).offset(offset)
    if dataset_id is not None:
        query = query.where(Comparison.dataset_id == dataset_id)
    return list(session.scalars(query))


def comparison_body(row: Comparison) -> dict[str, Any]:
    """The :class:`~ragbench.comparisons.schemas.ComparisonRead` body of a stored row."""
    return {"id": row.id, "created_at": row.created_at, **row.result}


def leaderboard(session: Session, *, settings: Settings, dataset_id: int,
                metric: str = "nDCG@10", k: int | None = None, test: str = "t",
                correction: str = "holm", alpha: float = 0.05) -> dict[str, Any]:
    """Every active system with a completed evaluation on ``dataset_id``, ranked.

    One query on a cache hit (:func:`~ragbench.comparisons.latest.newest_completions`;
    a second looks the dataset up when it finds nothing), two more on a miss (the
    evaluations behind it, and their per-query values). With one system there is
    nothing to test: its mean and interval, no pairs, one group. With none the
    ranking is empty.
    """
    _, _, newest, body = _leaderboard(
        session, settings=settings, dataset_id=dataset_id, metric=metric, k=k, test=test,
        correction=correction, alpha=alpha)
    return _named(body, dataset_id=dataset_id,
                  names={n.system_id: n.system_name for n in newest})


def leaderboard_json(session: Session, *, settings: Settings, dataset_id: int,
                     metric: str = "nDCG@10", k: int | None = None, test: str = "t",
                     correction: str = "holm", alpha: float = 0.05) -> bytes:
    """:func:`leaderboard` as UTF-8 JSON (the :class:`LeaderboardRead` shape).

    The text is cached too, per statistics and system names: validating and encoding
    a 20-system body (190 pairs, ~60 kB) costs more than the rest of a request. It is
    also kept per request for :func:`fresh_leaderboard_json`.
    """
    seen, read_at = freshness.generation(), time.monotonic()
    cache, key, newest, body = _leaderboard(
        session, settings=settings, dataset_id=dataset_id, metric=metric, k=k, test=test,
        correction=correction, alpha=alpha)
    names = {n.system_id: n.system_name for n in newest}
    text = cache.get_or_compute(
        ("json", key, tuple(names.items())),
        lambda: LeaderboardRead.model_validate(
            _named(body, dataset_id=dataset_id, names=names)).model_dump_json().encode())
    cache.keep_body(_request_key(dataset_id, metric, k, test, correction, alpha), text,
                    seen=seen, read_at=read_at)
    return text


def fresh_leaderboard_json(engine: Engine, *, dataset_id: int, metric: str = "nDCG@10",
                           k: int | None = None, test: str = "t", correction: str = "holm",
                           alpha: float = 0.05) -> bytes | None:
    """What :func:`leaderboard_json` returned for the same arguments on ``engine``'s
    database, without touching it, if nothing may have changed since: no write to
    evaluations, systems or datasets committed in this process, and at most
    :data:`~ragbench.comparisons.freshness.FRESH_S` seconds since its database read
    began (see :mod:`.cache`). None otherwise: call :func:`leaderboard_json`."""
    return cache_for(engine).fresh_body(
        _request_key(dataset_id, metric, k, test, correction, alpha))


def _request_key(dataset_id: int, metric: str, k: int | None, test: str, correction: str,
                 alpha: float) -> tuple:
    return ("request", dataset_id, metric, k, test, correction, float(alpha))


def _leaderboard(session: Session, *, settings: Settings, dataset_id: int, metric: str,
                 k: int | None, test: str, correction: str, alpha: float):
    measure = resolve_measure(metric, k)
    newest = newest_completions(session, dataset_id=dataset_id)
    if not newest:  # an empty leaderboard, or no such dataset
        datasets_service.get_dataset(session, dataset_id=dataset_id)
    key = (dataset_id, measure, test, correction, float(alpha), LEADERBOARD_RESAMPLES,
           LEADERBOARD_SEED,
           tuple((n.system_id, n.finished_at.isoformat(), n.completed) for n in newest))

    def compute() -> dict[str, Any]:
        evaluations = resolve_latest(session, dataset_id=dataset_id, newest=newest)
        paired = paired_scores(session, settings=settings, dataset_id=dataset_id,
                               evaluations=evaluations, measure=measure)
        return statistics(paired, evaluations=evaluations, test=test,
                          correction=correction, alpha=alpha, baseline_system_id=None,
                          n_resamples=LEADERBOARD_RESAMPLES, seed=LEADERBOARD_SEED)

    cache = cache_for(session.get_bind())
    return cache, key, newest, cache.get_or_compute(("statistics", key), compute)


def statistics(paired: PairedScores, *, evaluations: Sequence[LatestEvaluation], test: str,
               correction: str, alpha: float, baseline_system_id: int | None,
               n_resamples: int, seed: int) -> dict[str, Any]:
    """The comparison body of ``paired`` scores, systems by id (names come later).

    Systems tie-break by their order in ``evaluations``.
    """
    header = {"measure": paired.measure, "test": test, "correction": correction,
              "alpha": float(alpha), "confidence_level": CONFIDENCE_LEVEL,
              "n_resamples": n_resamples, "seed": seed,
              "baseline_system_id": baseline_system_id,
              "n_queries": len(paired.query_ids),
              "system_ids": [e.system_id for e in evaluations],
              "evaluation_ids": [e.evaluation_id for e in evaluations]}
    if not evaluations:
        return {**header, "ranking": [], "pairs": [], "groups": []}
    if len(paired.query_ids) < 2:
        counts = {e.system_id: len(paired.query_ids) + paired.dropped[e.system_id]
                  for e in evaluations}
        raise Conflict(f"the evaluations share {len(paired.query_ids)} scored queries; "
                       "paired statistics need at least 2",
                       details={"queries_per_system": [{"system_id": s, "queries": n}
                                                       for s, n in counts.items()]})
    evaluation_of = {e.system_id: e.evaluation_id for e in evaluations}

    def ranked(system_id: int, rank: int, mean: float, low: float, high: float,
               letters: Sequence[str]) -> dict[str, Any]:
        return {"rank": rank, "system_id": system_id, "evaluation_id": evaluation_of[system_id],
                "mean": mean, "ci_low": low, "ci_high": high, "groups": list(letters),
                "queries_dropped": paired.dropped[system_id]}

    if len(evaluations) == 1:
        (system_id, values), = paired.scores.items()
        ci = mean_confidence_interval(values, confidence_level=CONFIDENCE_LEVEL)
        return {**header, "ranking": [ranked(system_id, 1, float(values.mean()), ci.low,
                                               ci.high, ["a"])],
                "pairs": [], "groups": [{"letter": "a", "system_ids": [system_id]}]}

    board = compare_systems(
        {str(e.system_id): paired.scores[e.system_id] for e in evaluations},
        baseline=None if baseline_system_id is None else str(baseline_system_id),
        test=test, correction=correction, alpha=alpha, n_resamples=n_resamples, seed=seed,
        confidence_level=CONFIDENCE_LEVEL)
    ranking = [ranked(int(s.name), s.rank, s.mean, s.ci_low, s.ci_high, s.letters)
               for s in board.systems]
    pairs = [{"system_id": int(p.system), "other_system_id": int(p.other),
              "mean_difference": p.mean_difference, "ci_low": p.ci_low, "ci_high": p.ci_high,
              "ci_method": p.ci_method, "p_value": p.p_value,
              "p_value_corrected": p.p_value_corrected, "significant": p.significant,
              # JSON has no infinity: all differences equal and non-zero give d_z = ±inf.
              "effect_size_dz": p.effect_size_dz if math.isfinite(p.effect_size_dz) else None,
              "wins": p.wins, "ties": p.ties, "losses": p.losses}
             for p in board.pairs]
    groups = None if board.groups is None else [
        {"letter": g.letter, "system_ids": [int(s) for s in g.systems]} for g in board.groups]
    return {**header, "ranking": ranking, "pairs": pairs, "groups": groups}


def _named(body: dict[str, Any], *, dataset_id: int, names: dict[int, str]) -> dict[str, Any]:
    # A new dict: ``body`` may be a cached one, shared between requests.
    return {"dataset_id": dataset_id, **body,
            "ranking": [{**entry, "name": names[entry["system_id"]]}
                        for entry in body["ranking"]]}
