"""The command line end to end: evaluate/compare on trec_eval's test files, with
expected values taken from trec_eval's own outputs and scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from ragbench.cli import app

runner = CliRunner()


def _trec_values(path, measure):
    """{query: value} for ``measure`` from a trec_eval -q output file."""
    out = {}
    for line in path.read_text().splitlines():
        name, qid, value = line.split()
        if name == measure and qid != "all":
            out[qid] = float(value)
    return out


def test_compare_two_runs_matches_scipy_on_trec_eval_values(trec_eval_dir):
    # results.trunc lacks query 302; compare pairs over all judged queries (-c), so
    # its per-query AP comes from out.test.aqc and results.test's from out.test.aq.
    a = _trec_values(trec_eval_dir / "out.test.aq", "map")
    b = _trec_values(trec_eval_dir / "out.test.aqc", "map")
    qids = sorted(a)
    expected = stats.ttest_rel([a[q] for q in qids], [b[q] for q in qids])
    result = runner.invoke(app, ["compare", str(trec_eval_dir / "qrels.test"),
                                 str(trec_eval_dir / "results.test"),
                                 str(trec_eval_dir / "results.trunc"),
                                 "-m", "AP", "--format", "json"])
    assert result.exit_code == 0, result.output
    board = json.loads(result.stdout)[0]
    assert board["measure"] == "AP" and board["num_queries"] == 3
    (pair,) = board["pairs"]
    assert {pair["system"], pair["other"]} == {"results.test", "results.trunc"}
    # trec_eval prints 4 decimals, so the means agree to that precision only.
    assert pair["p_value"] == pytest.approx(expected.pvalue, abs=2e-3)
    means = {s["name"]: s["mean"] for s in board["systems"]}
    assert means["results.test"] == pytest.approx(np.mean([a[q] for q in qids]), abs=1e-4)
    assert means["results.trunc"] == pytest.approx(np.mean([b[q] for q in qids]), abs=1e-4)
    assert "1 judged queries have no results" in result.stderr


def test_evaluate_json_matches_trec_eval(trec_eval_dir):
    result = runner.invoke(app, ["evaluate", str(trec_eval_dir / "qrels.test"),
                                 str(trec_eval_dir / "results.test"), "-m", "AP", "-m", "P@10",
                                 "-q", "--format", "json"])
    assert result.exit_code == 0, result.output
    (ev,) = json.loads(result.stdout)
    expected_map = _trec_values(trec_eval_dir / "out.test.aq", "map")
    for qid, value in expected_map.items():
        assert f"{ev['per_query'][qid]['AP']:.4f}" == f"{value:.4f}"
    assert f"{ev['summary']['P@10']:.4f}" == "0.3000"  # out.test: P_10 all 0.3000


def test_evaluate_reports_query_mismatch(trec_eval_dir):
    result = runner.invoke(app, ["evaluate", str(trec_eval_dir / "qrels.comment.test"),
                                 str(trec_eval_dir / "results.comment.test"), "-m", "AP"])
    assert result.exit_code == 0, result.output
    # results.comment.test covers 301 topics, 31 of them judged (README of the suite).
    assert "270 queries in the run have no judgments" in result.stderr


@pytest.mark.parametrize(("content", "fragment"), [
    ("301 Q0 d1 1 0.5 r\n301 Q0 d2 2 high r\n", ":2: score: 'high' is not a number"),
    ("301 Q0 d1 1 0.5\n", ":1: expected"),
    ("301 Q0 d1 1 0.5 r\n301 Q0 d1 2 0.4 r\n", ":2: doc_id:"),
    ("", "file is empty"),
])
def test_bad_run_exits_nonzero_naming_file_and_line(trec_eval_dir, tmp_path, content, fragment):
    run = tmp_path / "bad.run"
    run.write_text(content)
    result = runner.invoke(app, ["evaluate", str(trec_eval_dir / "qrels.test"), str(run)])
    assert result.exit_code == 2
    assert "bad.run" in result.stderr and fragment in result.stderr, result.stderr


def test_unknown_measure_is_a_clear_error(trec_eval_dir):
    result = runner.invoke(app, ["evaluate", str(trec_eval_dir / "qrels.test"),
                                 str(trec_eval_dir / "results.test"), "-m", "nDGC@10"])
    assert result.exit_code == 2
    assert "unknown measure 'nDGC'" in result.stderr


def test_runs_in_jsonl_and_parquet_and_a_beir_folder(trec_eval_dir, tmp_path):
    from ragbench.core.io import (read_results_parquet, read_trec_qrels, read_trec_run,
                                  write_beir_qrels, write_run_jsonl, write_run_parquet)

    run = read_trec_run(trec_eval_dir / "results.test")
    write_run_jsonl(run, tmp_path / "a.jsonl")
    write_run_parquet(run, tmp_path / "b.parquet")
    (tmp_path / "beir" / "qrels").mkdir(parents=True)
    write_beir_qrels(read_trec_qrels(trec_eval_dir / "qrels.test"),
                     tmp_path / "beir" / "qrels" / "test.tsv")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "beir"), str(tmp_path / "a.jsonl"),
                                 str(tmp_path / "b.parquet"), "-m", "AP", "-f", "csv",
                                 "--save", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
    # out.test: map all 0.1785, whichever format the run came in.
    assert [f"{float(r[2]):.4f}" for r in rows] == ["0.1785", "0.1785"]
    saved = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(saved) == 2 and all(n.endswith(".parquet") for n in saved)
    table = read_results_parquet(tmp_path / "out" / saved[0])
    expected = _trec_values(trec_eval_dir / "out.test.aq", "map")
    assert {q: f"{v:.4f}" for q, v in zip(table["query_id"].to_pylist(),
                                           table["AP"].to_pylist())} == \
        {q: f"{v:.4f}" for q, v in expected.items()}
