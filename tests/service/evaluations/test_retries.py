"""Retries against misbehaving systems (registered while well-behaved, then
switched): only retryable failures are retried, and every request is counted by
the system itself."""

from __future__ import annotations

from fake_systems import system_app

from .switch import Switch
from .toy_collection import MEASURES, QUERY_IDS, QUERY_TEXTS, RANKINGS


def _misbehaving(serve, register, *, max_concurrency: int = 4, **behaviour):
    """A registered system that then behaves as ``system_app(RANKINGS, **behaviour)``."""
    switch = Switch(system_app(RANKINGS))
    system = register(serve(switch), max_concurrency=max_concurrency)
    switch.app = system_app(RANKINGS, **behaviour)
    return system, switch.app


def test_flaky_system_with_retries_answers_every_query(serve, register, start, wait,
                                                       query_rows):
    # Seeded: 20% of the calls answer 503; the draws of seed 3 fail 2 of the first 12.
    system, app = _misbehaving(serve, register, mode="flaky", fail_rate=0.2, seed=3)
    done = wait(start(system["id"], retries=4)["id"])
    assert done["status"] == "completed" and done["errors_count"] == 0
    rows = query_rows(done["id"])
    assert all(r["status"] == "ok" for r in rows.values())
    assert app.state.calls["retrieve"] == sum(r["attempts"] for r in rows.values())
    assert app.state.calls["retrieve"] > len(QUERY_IDS)  # some were retried
    for row in rows.values():
        # A retried query keeps the message of its last failed attempt.
        assert (row["error"] is None) == (row["attempts"] == 1), row
        assert row["attempts"] == 1 or "HTTP 503" in row["error"]
    assert done["aggregates"]["nDCG@10"] > 0


def test_timeouts_fail_the_query_with_a_timeout_error(serve, register, start, wait,
                                                      query_rows):
    system, app = _misbehaving(serve, register, mode="timeout", max_concurrency=12)
    # 1.5 s, not less: every attempt must reach the system before its deadline (the
    # count below) even when the whole suite loads both cores.
    done = wait(start(system["id"], timeout_s=1.5, retries=1)["id"])
    assert done["status"] == "completed"
    assert done["errors_count"] == len(QUERY_IDS)
    assert done["aggregates"] == {m: 0.0 for m in MEASURES}
    assert done["latency"] == {} and done["throughput_qps"] is None
    for row in query_rows(done["id"]).values():
        assert row["status"] == "failed" and row["attempts"] == 2
        assert "timeout" in row["error"] and "1.5 s" in row["error"], row["error"]
    assert app.state.calls["retrieve"] == 2 * len(QUERY_IDS)


def test_malformed_json_is_not_retried(serve, register, start, wait, query_rows):
    system, app = _misbehaving(serve, register, mode="malformed")
    done = wait(start(system["id"], retries=3)["id"])
    assert done["errors_count"] == len(QUERY_IDS)
    for row in query_rows(done["id"], status="failed").values():
        assert row["attempts"] == 1 and "JSON" in row["error"], row
    assert all(app.state.calls[f"q:{QUERY_TEXTS[q]}"] == 1 for q in QUERY_IDS)
    assert app.state.calls["retrieve"] == len(QUERY_IDS)
