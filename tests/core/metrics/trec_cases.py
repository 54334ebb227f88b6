"""Evaluate small hand-written collections given as dicts (shared by the
metric tests; the expected values stay in each test, computed by hand)."""

from __future__ import annotations

from ragbench.core.evaluate import evaluate_trec
from ragbench.core.qrels import Qrels
from ragbench.core.run import Run


def evaluate_dicts(qrels: dict, run: dict, specs, **kw) -> tuple[dict, dict]:
    """``(per_query, summary)`` of trec_eval ``specs`` on ``{q: {doc: value}}`` dicts."""
    ev = evaluate_trec(Qrels.from_dict(qrels), Run.from_dict(run), specs, **kw)
    return ev.per_query(), ev.summary()


def per_query(qrels: dict, run: dict, specs, **kw) -> dict:
    """Only the per-query values of :func:`evaluate_dicts`."""
    return evaluate_dicts(qrels, run, specs, **kw)[0]
