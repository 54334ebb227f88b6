"""SciFact (BEIR) with a real third-party run: published trec_eval numbers, pytrec_eval.

The run (``runs/kirloxious_bert-base-ner_rerank.run``) ranks all 1,109 SciFact
queries; ``qrels/test.tsv`` judges 300 of them. Its authors published
``trec_eval -m map -m P.10``: map 0.5241, P_10 0.0783. The test data's README adds
recip_rank 0.5351, ndcg_cut_10 0.5701 and recall_100 0.8523 (pytrec_eval and ranx
agree on all five). trec_eval's default semantics apply: only queries in both files
are evaluated, and the 809 run-only queries are reported, not averaged.
"""

from __future__ import annotations

import pytest
import pytrec_eval
from typer.testing import CliRunner

from ragbench.cli import app
from ragbench.core import evaluate_trec, read_trec_run
from ragbench.core.io.beir import read_beir_qrels

RUN = "runs/kirloxious_bert-base-ner_rerank.run"
QRELS = "qrels/test.tsv"
SPECS = ["map", "P.10", "recip_rank", "ndcg_cut.10", "recall.100"]
PUBLISHED = {  # the run authors' README: map, P_10; the test data's README: the rest
    "map": "0.5241", "P_10": "0.0783", "recip_rank": "0.5351", "ndcg_cut_10": "0.5701",
    "recall_100": "0.8523",
}
TOL = 1e-9


@pytest.fixture(scope="module")
def collection(scifact_dir):
    return read_beir_qrels(scifact_dir / QRELS), read_trec_run(scifact_dir / RUN)


@pytest.mark.parametrize("version", [10, 9])
def test_published_trec_eval_values(collection, version):
    qrels, run = collection
    ev = evaluate_trec(qrels, run, SPECS, version=version)
    assert {name: f"{value:.4f}" for name, value in ev.summary().items()} == PUBLISHED


def test_query_sets_and_mismatch(collection):
    qrels, run = collection
    assert len(qrels) == 339 and len(qrels.query_set()) == 300
    assert len(run.query_set()) == 1109
    ev = evaluate_trec(qrels, run, ["map"])
    assert len(ev.query_ids) == 300
    assert len(ev.mismatch.only_in_run) == 809
    assert ev.mismatch.only_in_qrels == ()
    assert set(ev.mismatch.only_in_run) == run.query_set() - qrels.query_set()


def test_per_query_values_equal_pytrec_eval(collection):
    qrels, run = collection
    ev = evaluate_trec(qrels, run, SPECS, version=9)
    expected = pytrec_eval.RelevanceEvaluator(
        qrels.to_dict(), {"map", "P.10", "recip_rank", "ndcg_cut.10", "recall.100"}
    ).evaluate(run.to_dict())
    assert set(expected) == set(ev.query_ids)
    for name in PUBLISHED:
        column = ev[name].per_query
        for i, qid in enumerate(ev.query_ids):
            assert abs(float(column[i]) - expected[qid][name]) <= TOL, (name, qid)


def test_cli_prints_trec_eval_text(scifact_dir):
    result = CliRunner().invoke(app, [
        "evaluate", str(scifact_dir / QRELS), str(scifact_dir / RUN),
        "-m", "map", "-m", "P.10", "--format", "trec_eval"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ("map                   \tall\t0.5241\n"
                             "P_10                  \tall\t0.0783\n")
    assert "809 queries in the run have no judgments" in result.stderr
