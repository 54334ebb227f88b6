"""The C accelerator (``ragbench.core._accel``) against the numpy/Arrow code it
stands in for: the same Run/Qrels columns and caches, the same judge() output,
the same FormatError text, on trec_eval's own files, SciFact, a synthetic
benchmark, malformed files and random ones.

Every comparison reads or judges twice, with ``RAGBENCH_NO_ACCEL`` unset and set.
These tests fail -- they are not skipped -- when the extension is not built.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragbench.core import _native
from ragbench.core.errors import EvaluationError, FormatError
from ragbench.core.io import read_trec_qrels, read_trec_run
from ragbench.core.io._text import QRELS, RUN, parse_accelerated
from ragbench.core.io.beir import read_beir_qrels
from ragbench.core.ranked_rows import lookup as _lookup
from ragbench.core.ranked_rows import rank_rows as _rank_rows
from ragbench.core.ranking import judge
from ragbench.core.synthetic import make_benchmark_files

C = _native._accel


@pytest.fixture(autouse=True)
def _built():
    if C is None:
        pytest.fail("ragbench.core._accel is not built: `pip install -e .` compiles "
                    "src/ragbench/core/_accel.c (needs a C compiler and Python headers)")


@contextmanager
def _accelerated(on: bool):
    old = os.environ.pop("RAGBENCH_NO_ACCEL", None)
    if not on:
        os.environ["RAGBENCH_NO_ACCEL"] = "1"
    try:
        yield
    finally:
        os.environ.pop("RAGBENCH_NO_ACCEL", None)
        if old is not None:
            os.environ["RAGBENCH_NO_ACCEL"] = old


def _both(fn, *args, **kwargs):
    """``fn(*args)`` with and without the accelerator: a value or (error type, text)."""
    out = []
    for on in (True, False):
        with _accelerated(on):
            try:
                out.append(fn(*args, **kwargs))
            except (FormatError, EvaluationError) as e:
                out.append((type(e).__name__, str(e)))
    return out


def _same_pairs(a, b) -> None:
    assert a.query_ids.equals(b.query_ids)
    assert a.doc_ids.equals(b.doc_ids)
    codes_a, dict_a = a.query_codes
    codes_b, dict_b = b.query_codes
    assert np.array_equal(codes_a, codes_b) and dict_a.equals(dict_b)
    assert codes_a.dtype == codes_b.dtype == np.int32
    if a.doc_keys is None or b.doc_keys is None:
        assert a.doc_keys is None and b.doc_keys is None
    else:
        for x, y in zip(a.doc_keys, b.doc_keys):
            assert x.dtype == y.dtype == np.uint64 and np.array_equal(x, y)


def _same(a, b) -> None:
    """Same Run, Qrels or error."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, tuple):
        assert a == b
        return
    _same_pairs(a, b)
    assert a.source == b.source
    if hasattr(a, "scores"):
        assert a.scores.dtype == b.scores.dtype == np.float64
        assert a.scores.tobytes() == b.scores.tobytes()  # bitwise
        assert a.name == b.name
    else:
        assert a.relevance.dtype == b.relevance.dtype == np.int64
        assert np.array_equal(a.relevance, b.relevance)


def _same_judgment(a, b) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    assert a.query_ids == b.query_ids
    for name in ("offsets", "rel", "rel_levels", "retrieved"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert (a.relevance_level, a.run_name, a.version) == (b.relevance_level, b.run_name,
                                                          b.version)
    assert (a.mismatch.only_in_qrels, a.mismatch.only_in_run) == \
        (b.mismatch.only_in_qrels, b.mismatch.only_in_run)


def _accepted(path, kind) -> bool:
    """The accelerated reader reads ``path`` itself (no fall back to the reference)."""
    with _accelerated(True):
        return parse_accelerated(path, kind) is not None


def _check_read(reader, path):
    fast, slow = _both(reader, path)
    _same(fast, slow)
    return fast


def _check_judge(qrels, run, **options):
    fast, slow = _both(judge, qrels, run, **options)
    _same_judgment(fast, slow)
    return fast


JUDGE_OPTIONS = [{}, {"complete": True}, {"max_docs": 100, "complete": True},
                 {"relevance_level": 2}, {"version": 9}, {"max_docs": 3}]


# -- real files ----------------------------------------------------------------------

def test_extension_is_built():
    assert C is not None
    with _accelerated(True):
        assert _native.accel() is C
    with _accelerated(False):
        assert _native.accel() is None


def test_every_trec_eval_file_reads_the_same(trec_eval_dir):
    files = sorted(p for p in trec_eval_dir.iterdir() if p.is_file() and p.suffix != ".md")
    assert len(files) > 20
    for path in files:
        _check_read(read_trec_run, path)
        _check_read(read_trec_qrels, path)


@pytest.mark.parametrize("qrels, run", [
    ("qrels.test", "results.test"), ("qrels.test", "results.trunc"),
    ("qrels.test.with-comments", "results.test"), ("qrels.comment.test", "results.comment.test"),
    ("qrels.rel_level", "results.test"),
    ("qrels-302.test", "results-302.test")])
def test_trec_eval_judgments(trec_eval_dir, qrels, run):
    # The accelerated reader really reads these (no silent fall back to the reference).
    assert _accepted(trec_eval_dir / run, RUN)
    with _accelerated(True):
        q, r = read_trec_qrels(trec_eval_dir / qrels), read_trec_run(trec_eval_dir / run)
    for options in JUDGE_OPTIONS:
        _check_judge(q, r, **options)


def test_scifact(scifact_dir):
    run_path = scifact_dir / "runs" / "kirloxious_bert-base-ner_rerank.run"
    assert _accepted(run_path, RUN)
    run = _check_read(read_trec_run, run_path)
    qrels = read_beir_qrels(scifact_dir / "qrels" / "test.tsv")
    for options in JUDGE_OPTIONS:
        _check_judge(qrels, run, **options)


def test_synthetic_benchmark(tmp_path):
    qrels_path, run_path = make_benchmark_files(tmp_path, num_queries=200, depth=300)
    assert _accepted(run_path, RUN)
    assert _accepted(qrels_path, QRELS)
    run = _check_read(read_trec_run, run_path)
    qrels = _check_read(read_trec_qrels, qrels_path)
    assert len(run) == 200 * 300
    for options in JUDGE_OPTIONS:
        _check_judge(qrels, run, **options)
    # The same rows shuffled: queries no longer contiguous, rankings to sort.
    lines = run_path.read_bytes().splitlines(keepends=True)
    order = np.random.default_rng(1).permutation(len(lines))
    shuffled = tmp_path / "shuffled.txt"
    shuffled.write_bytes(b"".join(lines[i] for i in order))
    run2 = _check_read(read_trec_run, shuffled)
    for options in JUDGE_OPTIONS:
        _check_judge(qrels, run2, **options)


# -- malformed and unusual files -----------------------------------------------------

RUN_LINE = "q1 Q0 d1 1 2.5 tag\n"
LONG = "abcdefghijklmnopqrstuvwxyz"  # a doc id over 16 bytes: no fixed keys
RUNS = {
    "plain": "q1 Q0 d1 1 2.5 tagA\nq1 Q0 d2 2 1.25 tagA\nq2 Q0 d3 1 -0.5 tagB\n",
    "duplicate doc": "q1 Q0 d1 1 2 t\nq1 Q0 d1 2 1 t\n",
    "duplicate doc, split query": "q1 Q0 d1 1 2 t\nq2 Q0 d1 1 2 t\nq1 Q0 d1 2 1 t\n",
    "split query": "q1 Q0 d1 1 2 t\nq2 Q0 d1 1 2 t\nq1 Q0 d2 2 1 t\n",
    "duplicate long doc": f"q Q0 {LONG} 1 2 t\nq Q0 {LONG} 2 1 t\n",
    "long docs": f"q Q0 {LONG}1 1 2 t\nq Q0 {LONG}2 2 1 t\nq Q0 {LONG[:17]} 3 1 t\n",
    "16 and 9 byte docs": "q Q0 abcdefghijklmnop 1 2 t\nq Q0 abcdefghi 2 1 t\nq Q0 a 3 0 t\n",
    "tabs": "q1\tQ0\td1\t1\t2.5\ttag\nq1\t\tQ0 \t d2  1\t1.5\ttag\n",
    "crlf": "q1 Q0 d1 1 2.5 tag\r\nq1 Q0 d2 2 1.5 tag\r\n",
    "vt ff": "q1\x0bQ0\x0cd1 1 2.5 tag\n",
    "bom": "\ufeffq1 Q0 d1 1 2.5 tag\n",
    "bom then comment": "\ufeff# c\nq1 Q0 d1 1 2.5 tag\n",
    "blank lines": "\n\n   \nq1 Q0 d1 1 2.5 tag\n\n \t\nq1 Q0 d2 1 2.5 tag\n\n",
    "no final newline": "q1 Q0 d1 1 2.5 tag\nq1 Q0 d2 2 1.5 tag",
    "comments": "# header\nq1 Q0 d1 1 2.5 tag\n   # indented\n#q1 Q0 d2 1 1 t\n",
    "hash inside": "q#1 Q0 d#1 1 2.5 t#g\n",
    "extra columns": "q1 Q0 d1 1 2.5 tag extra more\nq1 Q0 d2 1 2.4 tag x\n",
    "extra non-ascii columns": "q1 Q0 d1 1 2.5 tag \xe9t\xe9 \xff\n",
    "five columns": "q1 Q0 d1 1 2.5\n",
    "one column": "q1\n",
    "empty": "",
    "whitespace only": " \n\t\n",
    "comments only": "# a\n# b\n",
    "non-ascii ids": "q\u00e9 Q0 d\u00fc 1 2.5 tag\n",
    "invalid utf-8": b"q1 Q0 d\xff 1 2.5 tag\n",
    "invalid utf-8 tag": b"q1 Q0 d1 1 2.5 t\xff\n",
    "nul in id": b"q1 Q0 d\x001 1 2.5 tag\n",
    "control byte in id": b"q1 Q0 d\x011 1 2.5 tag\n",
    "long line": "q1 Q0 " + "d" * 70 + " 1 2.5 " + "t" * 40 + "\n" + RUN_LINE,
    "long tag": RUN_LINE + "q1 Q0 d2 1 2.5 " + "t" * 200 + "\n",
    "unsorted": "q1 Q0 a 1 1 t\nq1 Q0 b 2 3 t\nq1 Q0 c 3 3 t\nq1 Q0 d 4 2 t\n",
    "ties": "q Q0 a 1 1 t\nq Q0 c 2 1 t\nq Q0 b 3 1 t\nq Q0 e 4 1.0000001 t\n",
    "float32 ties": "q Q0 a 1 1.00000001 t\nq Q0 b 2 1.00000002 t\nq Q0 c 3 1 t\n",
    "negative zero": "q Q0 a 1 -0 t\nq Q0 b 2 0 t\nq Q0 c 3 -0.0 t\n",
    "float32 overflow": "q Q0 a 1 3.4028235677973366e+38 t\nq Q0 b 2 3.4028235677973362e+38 t\n"
                        "q Q0 c 3 1e39 t\nq Q0 d 4 3.4028234663852886e+38 t\nq Q0 e 5 -1e39 t\n",
}
# What the C parser leaves to the reference reader (padded: a BOM mid-file is
# part of an id, and the padding makes "empty" files valid).
LEFT_TO_REFERENCE = {"duplicate doc", "duplicate long doc", "five columns", "one column",
                     "empty", "whitespace only", "comments only", "non-ascii ids",
                     "invalid utf-8", "invalid utf-8 tag", "nul in id", "bom",
                     "bom then comment"}
SCORES = ["1e", "e5", "inf", "-inf", "nan", "NaN", "1e400", "-1e400", "0x10", "1_000",
          "\u0661", ".", "+", "-", "1.5.2", "--1", "1e+", "1e-", "1.e5", ".5e-3", "+.5",
          "5.", "-0.0", "1E5", "1e-400", "4.9e-324", "2.2250738585072014e-308",
          "0.1234567890123456789012345", "9007199254740993", "123456789012345678901234",
          "1" * 140, "0." + "3" * 200, "1e00000000000000000000000000001", "00012.5000",
          "179769313486231570000000000000000000000000000000000000000000000000000000000000"
          "0000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "0000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "0000000000000000000000000000000000000000000000000000000000000000000000000"]
QRELS_FILES = {
    "plain": "q1 0 d1 1\nq1 0 d2 0\nq2 0 d1 2\n",
    "duplicate": "q1 0 d1 1\nq1 0 d1 0\n",
    "duplicate, split query": "q1 0 d1 1\nq2 0 d1 0\nq1 0 d1 2\n",
    "split query": "q1 0 d1 1\nq2 0 d1 0\nq1 0 d2 2\n",
    "three columns": "q1 0 d1\n",
    "five columns": "q1 0 d1 1 x\n",
    "crlf tabs comments": "# c\r\nq1\t0\td1\t1\r\n\r\nq1 0 d2 -1\r\n",
    "long ids": "q1 0 " + "x" * 30 + " 1\nq1 0 " + "x" * 31 + " 1\n",
}
GRADES = ["+1", "-1", "01", "-0", "9223372036854775807", "-9223372036854775808",
          "9223372036854775808", "-9223372036854775809", "1.0", "1e2", "", "x",
          "0" * 40 + "7"]


def _file(tmp_path, content, name="f.txt"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _padded(content, line: str) -> str | bytes:
    """``content`` between well-formed lines: the parser sees it mid-file, where it
    classifies 64 bytes at a time, not only near the end of the buffer."""
    before = "".join(line.format(i) for i in range(4))
    after = "".join(line.format(i) for i in range(4, 8))
    if isinstance(content, bytes):
        return before.encode() + content + b"\n" + after.encode()
    return before + content + "\n" + after


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("name", sorted(RUNS))
def test_malformed_runs(tmp_path, name, padded):
    content = _padded(RUNS[name], "pad Q0 x{} 1 1.5 t\n") if padded else RUNS[name]
    path = _file(tmp_path, content)
    left = LEFT_TO_REFERENCE - ({"empty", "whitespace only", "comments only"} if padded
                                else {"bom", "bom then comment"})
    assert _accepted(path, RUN) == (name not in left)  # the C parser reads the rest itself
    run = _check_read(read_trec_run, path)
    _check_read(read_trec_qrels, path)
    if not isinstance(run, tuple):
        with _accelerated(True):
            qrels = read_trec_qrels(_file(tmp_path, "q 0 a 1\nq 0 c -1\nq1 0 d1 2\n", "q"))
        for options in JUDGE_OPTIONS:
            _check_judge(qrels, run, **options)


@pytest.mark.parametrize("score", SCORES)
def test_scores(tmp_path, score):
    _check_read(read_trec_run, _file(tmp_path, f"q1 Q0 d1 1 {score} tag\n"))
    _check_read(read_trec_run, _file(tmp_path, f"q1 Q0 d0 1 1 t\nq1 Q0 d1 1 {score} tag"))
    _check_read(read_trec_run, _file(tmp_path, _padded(f"q1 Q0 d1 1 {score} tag",
                                                       "q1 Q0 p{} 1 1 t\n")))


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("name", sorted(QRELS_FILES))
def test_malformed_qrels(tmp_path, name, padded):
    content = QRELS_FILES[name]
    _check_read(read_trec_qrels, _file(tmp_path, _padded(content, "pad 0 x{} 1\n")
                                       if padded else content))


@pytest.mark.parametrize("grade", GRADES)
def test_grades(tmp_path, grade):
    _check_read(read_trec_qrels, _file(tmp_path, f"q1 0 d0 1\nq1 0 d1 {grade}\n"))
    _check_read(read_trec_qrels, _file(tmp_path, _padded(f"q1 0 d1 {grade}", "q1 0 p{} 1\n")))


def test_directory_and_missing_file(tmp_path):
    for reader in (read_trec_run, read_trec_qrels):
        fast, slow = _both(reader, tmp_path)
        assert fast == slow and fast[0] == "FormatError"
        fast, slow = _both(reader, tmp_path / "missing")
        assert fast == slow and fast[0] == "FormatError"


def test_queries_in_byte_order(tmp_path):
    """judge() orders queries as C strcmp does (UTF-8 bytes), on both paths."""
    ids = ["b", "a", "\u00e9", "Z", "10", "9", "\U0001f600", "\uff41", "ac"]
    with _accelerated(True):
        qrels = read_trec_qrels(_file(tmp_path, "".join(f"{q} 0 d 1\n" for q in ids), "q"))
        run = read_trec_run(_file(tmp_path, "".join(f"{q} Q0 d 1 1 t\n" for q in ids)))
    fast = _check_judge(qrels, run, complete=True)
    assert list(fast.query_ids) == sorted(ids, key=lambda q: q.encode("utf-8"))


def test_columns_are_writable_arrays(tmp_path):
    """The accelerated columns are ordinary (writable) numpy arrays."""
    with _accelerated(True):
        run = read_trec_run(_file(tmp_path, RUNS["plain"]))
    assert run.scores.flags.writeable and run.query_codes[0].flags.writeable


# -- random files ------------------------------------------------------------------

_IDS = st.sampled_from(["1", "2", "10", "q", "d", "D0000001", "abcdefgh", "abcdefghi",
                        "abcdefghijklmnop", "abcdefghijklmnopq", "#x", "x#", "\u00e9"])
_SEPS = st.sampled_from([" ", "  ", "\t", " \t ", "\x0b", "\x0c", "\r ", " \r"])
_NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["1", "1.5", "-0", ".5", "5.", "1e3", "1E-3", "+2", "nan", "x", "1e999"]))


@st.composite
def _run_texts(draw):
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row"] * 8 + ["blank", "comment", "short", "long"]))
        sep = draw(_SEPS)
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", "\t", "\r"])))
        elif kind == "comment":
            lines.append(draw(st.sampled_from(["", " "])) + "# " + draw(_IDS))
        else:
            cols = [draw(_IDS), "Q0", draw(_IDS), str(draw(st.integers(0, 99))),
                    draw(_NUMBERS), draw(_IDS)]
            if kind == "short":
                cols = cols[:draw(st.integers(1, 5))]
            elif kind == "long":
                cols += [draw(_IDS)] * draw(st.integers(1, 3))
            lines.append(draw(st.sampled_from(["", " "])) + sep.join(cols)
                         + draw(st.sampled_from(["", " ", "\r"])))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines) + draw(st.sampled_from(["", end]))
    return draw(st.sampled_from(["", "\ufeff"])) + text


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_run_texts())
def test_random_runs(tmp_path, text):
    path = _file(tmp_path, text)
    run = _check_read(read_trec_run, path)
    _check_read(read_trec_qrels, path)
    if not isinstance(run, tuple):
        with _accelerated(True):
            qrels = read_trec_qrels(_file(tmp_path, "1 0 d 1\n1 0 q -1\nq 0 abcdefghi 2\n"
                                                    "10 0 D0000001 0\n", "q"))
        for options in ({}, {"complete": True}, {"version": 9, "max_docs": 2}):
            _check_judge(qrels, run, **options)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), kind=st.sampled_from([RUN, QRELS]))
def test_any_bytes_are_safe(data, kind):
    """The parser returns None or well-formed columns on any input, never crashes."""
    out = C.parse_trec(data, kind)
    if out is not None:
        rows, doc_off = out[0], np.frombuffer(out[1], dtype=np.int32)
        assert rows >= 1 and len(doc_off) == rows + 1 and doc_off[-1] == len(out[2])
        assert np.all(np.diff(doc_off) > 0)


# -- the judging kernel on its own ----------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 60), nq=st.integers(1, 5),
       version=st.sampled_from([9, 10]), wide=st.booleans(), grouped=st.booleans())
def test_judge_rows_matches_lookup_and_rank(seed, n, nq, version, wide, grouped):
    rng = np.random.default_rng(seed)
    r_map = rng.integers(-1, nq, size=nq + 1).astype(np.int32)  # code -> query, -1: skipped
    codes = rng.integers(0, nq + 1, size=n).astype(np.int32)
    if grouped:
        codes = np.sort(codes)
    hi = rng.integers(0, 6, size=n).astype(np.uint64)
    lo = rng.integers(0, 3, size=n).astype(np.uint64) if wide else None
    # unique (query code, doc) rows, as in a Run
    key = codes.astype(np.int64) * 100 + hi.astype(np.int64) * 5 + (0 if lo is None else lo)
    _, first = np.unique(key, return_index=True)
    keep = np.sort(first)
    codes, hi = codes[keep], hi[keep]
    lo = lo[keep] if wide else None
    scores = rng.choice([1.0, 1.00000001, 2.0, -0.0, 0.0, 3.5], size=len(codes))
    j_qi = rng.integers(0, nq, size=12).astype(np.int32)
    j_hi = rng.integers(0, 6, size=12).astype(np.uint64)
    j_lo = rng.integers(0, 3, size=12).astype(np.uint64) if wide else None
    jkey = j_qi.astype(np.int64) * 100 + j_hi.astype(np.int64) * 5 + (0 if j_lo is None else j_lo)
    _, jfirst = np.unique(jkey, return_index=True)
    j_qi, j_hi = j_qi[jfirst], j_hi[jfirst]
    j_lo = j_lo[jfirst] if wide else None
    j_rel = rng.integers(-2, 4, size=len(j_qi)).astype(np.int64)

    rel = np.empty(len(codes), dtype=np.int64)
    num_ret = np.empty(nq, dtype=np.int64)
    count = C.judge_rows(codes, r_map, scores, hi, lo, j_qi, j_hi, j_lo, j_rel, version,
                         rel, num_ret)

    zeros = np.zeros(len(codes), dtype=np.uint64)
    r_qi = r_map[codes]
    sel = r_qi >= 0
    s_lo = (zeros if lo is None else lo)[sel]
    r_qi, s_hi, s_scores = r_qi[sel], hi[sel], scores[sel]
    j_lo0 = np.zeros(len(j_qi), dtype=np.uint64) if j_lo is None else j_lo
    want = _lookup(r_qi, s_hi, s_lo, j_qi, j_hi, j_lo0, j_rel)
    order = _rank_rows(r_qi, s_scores, s_hi, s_lo, version)
    if order is not None:
        r_qi, want = r_qi[order], want[order]
    assert count == len(want)
    assert np.array_equal(rel[:count], want)
    assert np.array_equal(num_ret, np.bincount(r_qi, minlength=nq))


def test_judge_rows_rejects_bad_input():
    one = np.zeros(1, dtype=np.int32)
    u = np.zeros(1, dtype=np.uint64)
    f = np.zeros(1, dtype=np.float64)
    i64 = np.zeros(1, dtype=np.int64)
    out, nr = np.empty(1, dtype=np.int64), np.empty(1, dtype=np.int64)
    ok = (one, one, f, u, None, one, u, None, i64, 10, out, nr)
    assert C.judge_rows(*ok) == 1
    for i, bad in [(0, np.array([5], np.int32)), (1, np.array([3], np.int32)),
                   (5, np.array([-1], np.int32)), (2, np.zeros(2)),
                   (3, np.zeros(3, np.uint8)), (9, 8)]:
        args = list(ok)
        args[i] = bad
        with pytest.raises(ValueError):
            C.judge_rows(*args)
    twice = (one, one, f, u, None, np.zeros(2, np.int32), np.zeros(2, np.uint64), None,
             np.zeros(2, np.int64), 10, out, nr)
    with pytest.raises(ValueError):
        C.judge_rows(*twice)
    with pytest.raises(BufferError):  # rel must be writable
        C.judge_rows(one, one, f, u, None, one, u, None, i64, 10, b"12345678", nr)
