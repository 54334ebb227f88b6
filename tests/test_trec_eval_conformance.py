"""``ragbench evaluate --format trec_eval`` reproduces trec_eval 10.0's own test
suite byte for byte (expected outputs and command lines from
../shared/testdata/trec_eval/README.md)."""

from __future__ import annotations

import shlex

import pytest
from typer.testing import CliRunner

from ragbench.cli import app

CASES = [
    ("out.test", "qrels.test results.test"),
    ("out.test", "qrels.test.with-comments results.test"),
    ("out.comment.test", "qrels.comment.test results.comment.test"),
    ("out.test.a", "-m all_trec qrels.test results.test"),
    ("out.test.aq", "-m all_trec -q qrels.test results.test"),
    ("out.test.aqc", "-m all_trec -q -c qrels.test results.trunc"),
    ("out.test.aqcM", "-m all_trec -q -c -M100 qrels.test results.trunc"),
    ("out.test.aql", "-m all_trec -mrelstring.20 -q -l2 qrels.rel_level results.test"),
    ("out.test.meas_params",
     "-q -miprec_at_recall..10,.20,.25,.75,.50 -m P.5,7,3 -m recall.20,2000 "
     "-m Rprec_mult.5.0,0.2,0.35 -mutility.2,-1,0,0 -m 11pt_avg..25,.5,.75 "
     "-mndcg.1=3,2=9,4=4.5 -mndcg_cut.10,20,23.4 -msuccess.2,5,20 qrels.test results.test"),
]


@pytest.mark.parametrize(("expected", "command"), CASES,
                         ids=[f"{e}:{c.split()[-2]}" for e, c in CASES])
def test_byte_exact(trec_eval_dir, monkeypatch, expected, command):
    monkeypatch.chdir(trec_eval_dir)
    args = shlex.split(command)
    files = args[-2:]
    result = CliRunner().invoke(app, ["evaluate", *files, *args[:-2], "--format", "trec_eval"])
    assert result.exit_code == 0, result.output
    want = (trec_eval_dir / expected).read_bytes()
    got = result.stdout.encode("utf-8")
    if got != want:
        diff = [f"{g!r} != {w!r}" for g, w in zip(got.splitlines(), want.splitlines()) if g != w]
        pytest.fail(f"{len(diff)} differing lines (of {len(want.splitlines())}), "
                    f"lengths {len(got)} vs {len(want)}; first: {diff[:5]}")
