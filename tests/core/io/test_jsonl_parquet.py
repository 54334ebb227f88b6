"""JSON Lines and Parquet runs and per-query results: round trips, and errors
naming file:line (JSONL) or file, row and column (Parquet)."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ragbench.core.errors import FormatError
from ragbench.core.evaluate import evaluate_trec
from ragbench.core.io import (
    read_results_jsonl,
    read_results_parquet,
    read_run_jsonl,
    read_run_parquet,
    read_trec_qrels,
    read_trec_run,
    write_results_jsonl,
    write_results_parquet,
    write_run_jsonl,
    write_run_parquet,
)
from ragbench.core.io._records import _slow
from ragbench.core.io.jsonl import RUN_FIELDS
from ragbench.core.run import Run


def _write(tmp_path, text: str | bytes, name: str = "run.jsonl"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _error(call, *args) -> FormatError:
    with pytest.raises(FormatError) as info:
        call(*args)
    return info.value


def _same_run(a: Run, b: Run) -> None:
    assert a.query_ids.equals(b.query_ids)
    assert a.doc_ids.equals(b.doc_ids)
    assert np.array_equal(a.scores, b.scores)


@pytest.fixture(scope="module")
def trec_run(trec_eval_dir) -> Run:
    return read_trec_run(trec_eval_dir / "results.test")


@pytest.fixture(scope="module")
def evaluation(trec_eval_dir, trec_run):
    qrels = read_trec_qrels(trec_eval_dir / "qrels.test")
    return evaluate_trec(qrels, trec_run, ["official", "relstring"])


# -- JSONL runs ------------------------------------------------------------------------

def test_run_jsonl_round_trip(tmp_path, trec_run):
    path = tmp_path / "sys.jsonl"
    write_run_jsonl(trec_run, path)
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {"query_id": "301", "doc_id": "FR940202-2-00150", "score": 2.129133}
    back = read_run_jsonl(path)
    _same_run(back, trec_run)
    assert back.name == "sys"
    assert read_run_jsonl(path, name="x").name == "x"
    # The line-by-line reader gives the very same arrays.
    slow = _slow(path.read_bytes(), "s", RUN_FIELDS, (), ("query_id", "doc_id"))
    assert slow["doc_id"].combine_chunks().equals(back.doc_ids)
    assert np.array_equal(slow["score"].to_numpy(), back.scores)


def test_run_jsonl_escapes_and_exact_floats(tmp_path):
    run = Run(['q"1', "q\\2", "\u00e9", "t"], ["a\nb", "x", "y", "z\u0001"],
              np.array([1e-5, 2.0, -0.0, 0.1 + 0.2]))
    path = tmp_path / "r.jsonl"
    write_run_jsonl(run, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    assert [json.loads(line)["query_id"] for line in lines] == ['q"1', "q\\2", "\u00e9", "t"]
    back = read_run_jsonl(path)
    _same_run(back, run)
    assert back.scores[3] == 0.30000000000000004


def test_run_jsonl_accepts_integer_ids_and_extra_fields(tmp_path):
    path = _write(tmp_path, '{"query_id": 1, "doc_id": "a", "score": 3, "rank": 1}\n\n'
                            '{"query_id": "1", "doc_id": 22, "score": -1.5e2}\n')
    run = read_run_jsonl(path)
    assert run.query_ids.to_pylist() == ["1", "1"]
    assert run.doc_ids.to_pylist() == ["a", "22"]
    assert run.scores.tolist() == [3.0, -150.0]


@pytest.mark.parametrize("text, line, field, message", [
    ('{"query_id": "1", "doc_id": "a", "score": 1}\nnot json\n', 2, None,
     "invalid JSON: Expecting value (column 1)"),
    ('{"query_id": "1", "doc_id": "a", "score": 1}\n\n{"query_id": "1", "score": 1}\n', 3,
     "doc_id", "missing (or null)"),
    ('{"query_id": "1", "doc_id": "a", "score": "1.5"}\n', 1, "score",
     'expected a number, found "1.5"'),
    ('{"query_id": "1", "doc_id": "a", "score": true}\n', 1, "score",
     "expected a number, found true"),
    ('{"query_id": "1", "doc_id": "a", "score": 1}\n{"query_id": "1", "doc_id": "b", '
     '"score": NaN}\n', 2, "score", "nan is not a finite number"),
    ('{"query_id": "1", "doc_id": "a", "score": 1}\n{"query_id": "2", "doc_id": "a", '
     '"score": 1}\n{"query_id": "1", "doc_id": "a", "score": 0}\n', 3, "doc_id",
     "duplicate query_id '1', doc_id 'a' (first at line 1)"),
    ('{"query_id": "1", "doc_id": "a", "score": 1} {"query_id": "1", "doc_id": "b", '
     '"score": 1}\n', 1, None, "invalid JSON: Extra data (column 46)"),
])
def test_run_jsonl_errors(tmp_path, text, line, field, message):
    path = _write(tmp_path, text)
    err = _error(read_run_jsonl, path)
    assert (err.source, err.line, err.field, err.message) == (str(path), line, field, message)


def test_run_jsonl_undecodable_and_empty(tmp_path):
    path = _write(tmp_path, b'{"query_id": "1", "doc_id": "a", "score": 1}\n'
                            b'{"query_id": "\xc3", "doc_id": "a", "score": 1}\n')
    assert str(_error(read_run_jsonl, path)) == (
        f"{path}:2: undecodable bytes (not UTF-8) at byte 15")
    path = _write(tmp_path, "")
    assert str(_error(read_run_jsonl, path)) == f"{path}: file is empty"


# -- JSONL per-query results ----------------------------------------------------------

def test_results_jsonl_round_trip(tmp_path, evaluation):
    path = tmp_path / "res.jsonl"
    write_results_jsonl(evaluation, path)
    table = evaluation.to_table()
    assert read_results_jsonl(path).equals(table)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["query_id"] for r in rows] == ["301", "302", "303"]
    # out.test.aq: "map 301 0.0324" (printed to 4 places; the file keeps every digit).
    assert f"{rows[0]['map']:.4f}" == "0.0324"
    assert isinstance(rows[0]["num_ret"], int) and rows[0]["num_ret"] == 500
    assert set(rows[0]) == set(table.column_names)


def test_results_jsonl_non_finite_become_null(tmp_path):
    table = pa.table({"query_id": ["a", "b"], "m": [math.nan, 0.5], "k": [1, 2]})
    path = tmp_path / "r.jsonl"
    write_results_jsonl(table, path)
    assert path.read_text() == ('{"query_id": "a", "m": null, "k": 1}\n'
                                '{"query_id": "b", "m": 0.5, "k": 2}\n')
    back = read_results_jsonl(path)
    assert back["m"].to_pylist() == [None, 0.5]
    assert back.schema.field("k").type == pa.int64()


@pytest.mark.parametrize("text, line, field, message", [
    ('{"query_id": "a", "m": 1}\n{"m": 2}\n', 2, "query_id", "missing, or not a string"),
    ('{"query_id": "a", "m": 1}\n\n{"query_id": "a", "m": 2}\n', 3, "query_id",
     "query 'a' again (first at line 1)"),
    ('{"query_id": "a", "m": 1}\n{"query_id": "b", "m": "x"}\n', 2, "m",
     "string here, but number at line 1"),
    ('{"query_id": "a", "m": [1]}\n', 1, "m", "expected a number or a string, found [1]"),
    ('{"query_id": "a", "m": 1}\n{"query_id": "b", "m": 1\n', 2, None,
     "invalid JSON: Expecting ',' delimiter (column 25)"),
    ('{"query_id": ["a"], "m": 1}\n', 1, "query_id", 'expected a string, found ["a"]'),
])
def test_results_jsonl_errors(tmp_path, text, line, field, message):
    path = _write(tmp_path, text, "r.jsonl")
    err = _error(read_results_jsonl, path)
    assert (err.source, err.line, err.field, err.message) == (str(path), line, field, message)


def test_results_jsonl_integer_query_ids(tmp_path):
    path = _write(tmp_path, '{"query_id": 301, "m": 0.5}\n', "r.jsonl")
    assert read_results_jsonl(path)["query_id"].to_pylist() == ["301"]


# -- Parquet runs ----------------------------------------------------------------------

def test_run_parquet_round_trip(tmp_path, trec_run):
    path = tmp_path / "sys.parquet"
    write_run_parquet(trec_run, path)
    back = read_run_parquet(path)
    _same_run(back, trec_run)
    assert back.name == "STANDARD"  # kept in the schema metadata
    assert read_run_parquet(path, name="other").name == "other"


def test_run_parquet_from_other_tools(tmp_path):
    # Integer and dictionary-encoded ids, float32 scores, no metadata: name = stem.
    table = pa.table({"query_id": pa.array([1, 1, 2]),
                      "doc_id": pa.array(["a", "b", "a"]).dictionary_encode(),
                      "score": pa.array([0.5, 0.25, 1.0], type=pa.float32()),
                      "rank": [1, 2, 1]})
    path = tmp_path / "theirs.parquet"
    pq.write_table(table, path)
    run = read_run_parquet(path)
    assert run.query_ids.to_pylist() == ["1", "1", "2"]
    assert run.doc_ids.to_pylist() == ["a", "b", "a"]
    assert run.scores.tolist() == [0.5, 0.25, 1.0] and run.scores.dtype == np.float64
    assert run.name == "theirs"


@pytest.mark.parametrize("columns, field, message", [
    ({"query_id": ["1"], "score": [1.0]}, "doc_id",
     "missing column (the file has: query_id, score)"),
    ({"query_id": ["1", "1", "2"], "doc_id": ["a", None, "b"], "score": [1.0, 2.0, 3.0]},
     "doc_id", "row 2: missing (null)"),
    ({"query_id": ["1", "1"], "doc_id": ["a", "b"], "score": [1.0, math.inf]},
     "score", "row 2: inf is not a finite number"),
    ({"query_id": ["1", "1"], "doc_id": ["a", "b"], "score": [1.0, None]},
     "score", "row 2: missing (null)"),
    ({"query_id": ["1", "2", "1"], "doc_id": ["a", "a", "a"], "score": [1.0, 2.0, 3.0]},
     "doc_id", "row 3: document 'a' appears twice for query '1' (first at row 1)"),
    ({"query_id": ["1"], "doc_id": ["a"], "score": ["high"]}, "score",
     "expected numbers, found string"),
    ({"query_id": [1.5], "doc_id": ["a"], "score": [1.0]}, "query_id",
     "expected strings, found double"),
])
def test_run_parquet_errors(tmp_path, columns, field, message):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(columns), path)
    err = _error(read_run_parquet, path)
    assert (err.source, err.line, err.field, err.message) == (str(path), None, field, message)
    assert str(err) == f"{path}: {field}: {message}"


def test_not_parquet(tmp_path):
    path = _write(tmp_path, "hello\n", "x.parquet")
    err = _error(read_run_parquet, path)
    assert err.source == str(path) and err.message.startswith("not a Parquet file")
    assert str(_error(read_results_parquet, tmp_path / "none.parquet")) == (
        f"{tmp_path / 'none.parquet'}: no such file")


# -- Parquet per-query results --------------------------------------------------------

def test_results_parquet_round_trip(tmp_path, evaluation):
    path = tmp_path / "res.parquet"
    write_results_parquet(evaluation, path)
    back = read_results_parquet(path)
    assert back.equals(evaluation.to_table())
    assert back.schema.metadata[b"ragbench.run_name"] == b"STANDARD"
    assert back["relstring"].type == pa.string()


def test_results_parquet_checks(tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"query_id": ["a", "b", "a"], "m": [1.0, 2.0, 3.0]}), path)
    assert str(_error(read_results_parquet, path)) == (
        f"{path}: query_id: row 3: query 'a' again (first at row 1)")
    pq.write_table(pa.table({"q": ["a"]}), path)
    assert str(_error(read_results_parquet, path)) == f"{path}: query_id: missing column"
    pq.write_table(pa.table({"query_id": ["a"], "m": [[1]]}), path)
    assert str(_error(read_results_parquet, path)) == (
        f"{path}: m: expected numbers or strings, found list<element: int64>")
    with pytest.raises(FormatError, match="query_id: row 2: missing"):
        write_results_parquet(pa.table({"query_id": ["a", None]}), path)


# -- atomic writes ---------------------------------------------------------------------

@pytest.mark.parametrize("writer, module, attr", [
    (write_run_parquet, pq, "write_table"),
    (write_results_parquet, pq, "write_table"),
])
def test_failed_parquet_write_leaves_old_file(tmp_path, monkeypatch, writer, module, attr):
    path = tmp_path / "out.parquet"
    path.write_text("old")

    def broken(table, where, *args, **kwargs):
        with open(where, "w") as fh:
            fh.write("half")
        raise OSError("disk full")

    monkeypatch.setattr(module, attr, broken)
    value = Run(["1"], ["a"], np.array([1.0]))
    if writer is write_results_parquet:
        value = pa.table({"query_id": ["1"], "m": [1.0]})
    with pytest.raises(OSError, match="disk full"):
        writer(value, path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
