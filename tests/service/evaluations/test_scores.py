"""An evaluation over real HTTP scores exactly as pytrec_eval scores the ranking
the system returned; failed queries score 0 and count in the means; the run comes
back as a TREC file and a Parquet file holding the same ranking."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from fake_systems import system_app
from ragbench.core.io import read_run_parquet, read_trec_run

from .toy_collection import (MEASURES, QRELS, QUERY_IDS, QUERY_TEXTS, RANKINGS, pytrec_scores,
                             returned_run, top)

FAILING = ["q3", "q8"]


@pytest.fixture
def completed(api, serve, register, start, wait):
    """An evaluation of a system that answers every query but q3 and q8 (always
    HTTP 500), with 1 retry; returns (system app, evaluation body)."""
    app = system_app(RANKINGS, fail_queries=[QUERY_TEXTS[q] for q in FAILING])
    system = register(serve(app), name="bm25 tuned", max_concurrency=4)
    evaluation = start(system["id"], measures=MEASURES, retries=1)
    return app, wait(evaluation["id"])


def test_per_query_values_and_means_equal_pytrec_eval(completed, query_rows):
    app, done = completed
    assert done["status"] == "completed", done
    rows = query_rows(done["id"])
    assert sorted(rows) == sorted(QRELS) == sorted(QUERY_IDS)

    answered = [q for q in QUERY_IDS if q not in FAILING]
    expected = pytrec_scores(returned_run(answered))
    for q in QUERY_IDS:
        assert rows[q]["metrics"] == pytest.approx(expected[q], abs=1e-12), q
    for q in FAILING:
        assert rows[q]["status"] == "failed"
        assert rows[q]["metrics"] == {m: 0.0 for m in MEASURES}
        assert "HTTP 500" in rows[q]["error"]
        # 1 + retries requests, exactly, as the system counted them.
        assert rows[q]["attempts"] == 2
        assert app.state.calls[f"q:{QUERY_TEXTS[q]}"] == 2
    for q in answered:
        assert rows[q]["status"] == "ok" and rows[q]["attempts"] == 1
        assert rows[q]["error"] is None and rows[q]["latency_ms"] > 0

    # Means over all 12 judged queries, the two failed ones counting 0.
    for m in MEASURES:
        mean = sum(expected[q][m] for q in QUERY_IDS) / len(QUERY_IDS)
        assert done["aggregates"][m] == pytest.approx(mean, abs=1e-12), m
    assert done["aggregates"]["nDCG@10"] > 0.3  # the rankings hold relevant documents

    assert done["errors_count"] == 2
    assert sorted(done["failed_query_ids"]) == sorted(FAILING)
    assert done["progress"] == {"done": 12, "total": 12, "percent": 100.0}
    latencies = np.array([rows[q]["latency_ms"] for q in answered])
    assert done["latency"]["max"] == pytest.approx(latencies.max())
    assert done["latency"]["mean"] == pytest.approx(latencies.mean())
    assert done["latency"]["p50"] == pytest.approx(np.median(latencies))
    assert done["throughput_qps"] > 0


def test_a_repeated_document_keeps_its_first_occurrence(completed, query_rows):
    _, done = completed
    # q2's system answer lists its best document twice, the second time at 0.125.
    docs = [d for d, _ in RANKINGS[QUERY_TEXTS["q2"]]]
    assert len(docs) == len(set(docs)) + 1
    assert returned_run(["q2"])["q2"][docs[0]] == 10.0
    assert query_rows(done["id"])["q2"]["metrics"] == pytest.approx(
        pytrec_scores(returned_run(["q2"]))["q2"], abs=1e-12)


def test_trec_run_file_and_parquet_hold_the_returned_ranking(api, settings, completed,
                                                            tmp_path):
    _, done = completed
    answered = returned_run([q for q in QUERY_IDS if q not in FAILING])

    response = api.get(f"/api/v1/evaluations/{done['id']}/run")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert all(line.split()[1] == "Q0" and line.split()[5] == "ragbench-bm25_tuned"
               for line in lines)
    path = tmp_path / "run.txt"
    path.write_text(response.text)
    assert read_trec_run(path).to_dict() == answered
    # Ranks follow trec_eval's order: score descending, doc id descending on ties.
    for q, docs in answered.items():
        ranked = [line.split()[2] for line in lines if line.split()[0] == q]
        assert ranked == list(top(docs, len(docs))), q
        assert [int(line.split()[3]) for line in lines if line.split()[0] == q] == \
            list(range(1, len(docs) + 1))

    assert done["run_path"] == f"runs/evaluation-{done['id']}.parquet"
    artifact = settings.data_dir / done["run_path"]
    table = pq.read_table(artifact)
    assert table.column_names == ["query_id", "doc_id", "score", "rank"]
    assert read_run_parquet(artifact).to_dict() == answered
    rows = table.to_pylist()
    for q, docs in answered.items():
        assert [(r["doc_id"], r["rank"]) for r in rows if r["query_id"] == q] == \
            [(d, i + 1) for i, d in enumerate(top(docs, len(docs)))]
    assert not list(artifact.parent.glob(".*.tmp"))  # written atomically


def test_run_of_an_unfinished_evaluation_is_a_conflict(api, serve, register, start, wait):
    app = system_app(RANKINGS, latency_s=0.2)
    system = register(serve(app), max_concurrency=1)
    evaluation = start(system["id"])
    response = api.get(f"/api/v1/evaluations/{evaluation['id']}/run")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    api.post(f"/api/v1/evaluations/{evaluation['id']}/cancel")
