"""End to end on BEIR SciFact: the BM25 reference system served over real HTTP,
registered and evaluated through the API; the stored run, exported as a TREC file,
scored by pytrec_eval gives exactly the values the service stored."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
import pytrec_eval

from tests.servers import serve_app

MEASURES = {"nDCG@10": "ndcg_cut_10", "AP": "map", "RR@10": None, "R@100": "recall_100",
            "P@10": "P_10"}


@pytest.fixture(scope="module")
def bm25_url(scifact_dir):
    from ragbench.reference.server import build_retriever, create_system_app

    with serve_app(create_system_app(build_retriever("bm25", dataset=scifact_dir))) as url:
        yield url


def _scifact_zip(folder) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
            zf.write(folder / name, f"scifact/{name}")
    return buf.getvalue()


def _wait(api, evaluation_id: int, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/evaluations/{evaluation_id}").json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.2)
    raise TimeoutError(f"evaluation {evaluation_id} did not finish")


def test_bm25_over_http_equals_pytrec_eval_on_the_stored_run(api, bm25_url, scifact_dir):
    ds = api.post("/api/v1/datasets", data={"name": "scifact", "split": "test"},
                  files={"archive": ("scifact.zip", _scifact_zip(scifact_dir),
                                     "application/zip")})
    assert ds.status_code == 201, ds.text
    ds = ds.json()
    assert ds["num_queries"] == 300 and ds["num_documents"] == 5183

    system = api.post("/api/v1/systems", json={"name": "bm25", "base_url": bm25_url,
                                               "adapter": "ragbench"})
    assert system.status_code == 201, system.text

    ev = api.post("/api/v1/evaluations", json={
        "system_id": system.json()["id"], "dataset_id": ds["id"], "top_k": 100,
        "concurrency": 8, "measures": list(MEASURES)})
    assert ev.status_code == 202, ev.text
    done = _wait(api, ev.json()["id"])
    assert done["status"] == "completed", done
    assert done["errors_count"] == 0
    assert done["queries_total"] == 300

    run_text = api.get(f"/api/v1/evaluations/{done['id']}/run")
    assert run_text.status_code == 200
    run: dict[str, dict[str, float]] = {}
    for line in run_text.text.splitlines():
        qid, _, doc, _rank, score, _tag = line.split()
        run.setdefault(qid, {})[doc] = float(score)
    # BM25 returns only documents sharing a term with the query: at most top_k.
    assert len(run) == 300 and all(0 < len(docs) <= 100 for docs in run.values())

    qrels: dict[str, dict[str, int]] = {}
    for line in (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, grade = line.split("\t")
        qrels.setdefault(qid, {})[doc] = int(grade)
    names = {v for v in MEASURES.values() if v}
    oracle = pytrec_eval.RelevanceEvaluator(qrels, names).evaluate(run)

    per_query = api.get(f"/api/v1/evaluations/{done['id']}/queries",
                        params={"limit": 1000}).json()["items"]
    assert len(per_query) == 300
    for ours, theirs in MEASURES.items():
        if theirs is None:
            continue
        expected = {q: oracle[q][theirs] for q in oracle}
        got = {row["query_id"]: row["metrics"][ours] for row in per_query}
        assert got == pytest.approx(expected, abs=1e-12), ours
        assert done["aggregates"][ours] == pytest.approx(
            sum(expected.values()) / len(expected), abs=1e-12)
    # BM25 on SciFact lands where published BM25 results are (BEIR: 0.665).
    assert 0.6 < done["aggregates"]["nDCG@10"] < 0.75
