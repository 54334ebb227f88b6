"""TREC qrels and run files: trec_eval's own test inputs, every malformed-input
error with its exact file:line, and the fast/normalised/slow readers agreeing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragbench.core.errors import FormatError
from ragbench.core.evaluate import evaluate_trec
from ragbench.core.io import (
    format_trec_eval,
    read_trec_qrels,
    read_trec_run,
    write_trec_qrels,
    write_trec_run,
)
from ragbench.core.io._text import is_regular
from ragbench.core.io.trec import _read_qrels_slow, _read_run_slow
from ragbench.core.qrels import Qrels
from ragbench.core.run import Run

QRELS = "301 0 d1 1\n301 0 d2 0\n302 0 d1 2\n"
RUN = "301 Q0 d1 1 2.5 tagA\n301 Q0 d2 2 1.25 tagA\n302 Q0 d3 1 -0.5 tagA\n"


def _write(tmp_path, text: str | bytes, name: str = "f.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _same_qrels(a: Qrels, b: Qrels) -> None:
    assert a.query_ids.equals(b.query_ids)
    assert a.doc_ids.equals(b.doc_ids)
    assert np.array_equal(a.relevance, b.relevance)
    assert a.relevance.dtype == b.relevance.dtype == np.int64


def _same_run(a: Run, b: Run) -> None:
    assert a.query_ids.equals(b.query_ids)
    assert a.doc_ids.equals(b.doc_ids)
    assert np.array_equal(a.scores, b.scores)  # bit-identical floats
    assert a.name == b.name


def _error(reader, path) -> FormatError:
    with pytest.raises(FormatError) as info:
        reader(path)
    return info.value


# -- trec_eval's own test inputs ------------------------------------------------------

@pytest.mark.parametrize("name, rows, queries", [
    ("qrels.test", 3681, 3),
    ("qrels.test.with-comments", 3681, 3),  # 3 '#' comment lines, docno 'CR#93E-1860'
    ("qrels.rel_level", 3681, 3),
    ("qrels.comment.test", 5890, 31),       # MS MARCO docnos holding '#'
    ("qrels-302.test", 1061, 1),
])
def test_trec_eval_qrels_files_parse(trec_eval_dir, name, rows, queries):
    qrels = read_trec_qrels(trec_eval_dir / name)
    assert len(qrels) == rows
    assert len(qrels.query_set()) == queries
    assert qrels.source == str(trec_eval_dir / name)


def test_qrels_with_comments_keeps_hash_in_docno(trec_eval_dir):
    plain = read_trec_qrels(trec_eval_dir / "qrels.test")
    commented = read_trec_qrels(trec_eval_dir / "qrels.test.with-comments")
    docs = commented.doc_ids.to_pylist()
    assert "CR#93E-1860" in docs and "CR93E-1860" not in docs
    # Everything else is the same judgment, in the same order.
    assert docs[:4] + docs[5:] == plain.doc_ids.to_pylist()[:4] + plain.doc_ids.to_pylist()[5:]
    assert np.array_equal(commented.relevance, plain.relevance)


def test_comment_docnos_in_msmarco_files(trec_eval_dir):
    qrels = read_trec_qrels(trec_eval_dir / "qrels.comment.test")
    assert qrels.doc_ids[0].as_py() == "msmarco_v2.1_doc_00_880019750#4_1633802806"
    run = read_trec_run(trec_eval_dir / "results.comment.test")
    assert run.doc_ids[0].as_py() == "msmarco_v2.1_doc_50_2286987788#13_3087841662"


@pytest.mark.parametrize("name, rows, queries, tag", [
    ("results.test", 1500, 3, "STANDARD"),       # tabs and runs of spaces
    ("results.trunc", 584, 2, "STANDARD"),       # words after the tag (ignored)
    ("results.comment.test", 30100, 301, "comment.test"),
    ("results-302.test", 500, 1, "STANDARD"),
    ("prefs.results.test", 480, 24, "STANDARD"),
])
def test_trec_eval_run_files_parse(trec_eval_dir, name, rows, queries, tag):
    run = read_trec_run(trec_eval_dir / name)
    assert (len(run), len(run.query_set()), run.name) == (rows, queries, tag)


def test_results_test_first_rows(trec_eval_dir):
    # results.test line 1: "301\tQ0\tFR940202-2-00150\t104\t  2.129133\tSTANDARD"
    run = read_trec_run(trec_eval_dir / "results.test")
    assert run.query_ids[0].as_py() == "301"
    assert run.doc_ids[0].as_py() == "FR940202-2-00150"
    assert run.scores[0] == 2.129133


def test_commented_qrels_give_trec_eval_output(trec_eval_dir):
    # trec_eval's Makefile checks both qrels files against the same out.test.
    expected = (trec_eval_dir / "out.test").read_text()
    run = read_trec_run(trec_eval_dir / "results.test")
    for name in ("qrels.test", "qrels.test.with-comments"):
        ev = evaluate_trec(read_trec_qrels(trec_eval_dir / name), run)
        assert format_trec_eval(ev) == expected


@pytest.mark.parametrize("name, line", [
    ("qrels.123", 3682),            # qrels_jg: the same pair in another judgment group
    ("qrels.comments.123", 3685),   # same, 3 comment lines earlier
])
def test_qrels_jg_files_are_rejected_as_qrels(trec_eval_dir, name, line):
    err = _error(read_trec_qrels, trec_eval_dir / name)
    assert (err.line, err.field) == (line, "doc_id")
    assert "duplicate judgment for query '301', document 'CR93E-10279' (first at line" in str(err)


def test_prefs_file_is_not_qrels(trec_eval_dir):
    err = _error(read_trec_qrels, trec_eval_dir / "prefs.comment.test")
    assert str(err) == (f"{trec_eval_dir / 'prefs.comment.test'}:2: expected 4 columns "
                        "(query_id iteration doc_id relevance), found 5")


# -- layout variants all read the same -----------------------------------------------

@pytest.mark.parametrize("text", [
    QRELS,
    QRELS.rstrip("\n"),                                    # no final newline
    QRELS.replace("\n", "\r\n"),                           # CRLF
    QRELS.replace(" ", "\t"),                              # tabs
    QRELS.replace(" ", " \t  "),                           # mixed runs
    "  " + QRELS.replace("\n", "   \n"),                   # leading/trailing blanks
    "# header\n\n" + QRELS + "\n\n  # indented comment\n",  # comments, blank lines
    "\ufeff" + QRELS,                                      # UTF-8 byte-order mark
    QRELS.replace(" ", "\x0b").replace("\n", "\x0c\n"),     # vertical tab, form feed
])
def test_qrels_layouts(tmp_path, text):
    expected = Qrels(["301", "301", "302"], ["d1", "d2", "d1"], np.array([1, 0, 2]))
    _same_qrels(read_trec_qrels(_write(tmp_path, text)), expected)


@pytest.mark.parametrize("text", [
    RUN,
    RUN.rstrip("\n"),
    RUN.replace("\n", "\r\n"),
    RUN.replace(" ", "\t"),
    RUN.replace(" ", "\t  "),
    "\n\n" + RUN + "\n\n",
    "#c\n" + RUN.replace("\n", " extra words\n"),
])
def test_run_layouts(tmp_path, text):
    expected = Run(["301", "301", "302"], ["d1", "d2", "d3"], np.array([2.5, 1.25, -0.5]),
                   name="tagA")
    _same_run(read_trec_run(_write(tmp_path, text)), expected)


def test_run_name_argument_and_blank_first_line(tmp_path):
    path = _write(tmp_path, "\n" + RUN)
    assert read_trec_run(path).name == "tagA"
    assert read_trec_run(path, name="mine").name == "mine"


def test_docno_with_hash_is_not_a_comment(tmp_path):
    qrels = read_trec_qrels(_write(tmp_path, "1 0 a#b 1\n#1 0 c 1\n1 0 #d 0\n"))
    assert qrels.doc_ids.to_pylist() == ["a#b", "#d"]


# -- the three reading tiers agree ---------------------------------------------------

def _regular(text: str) -> str:
    return "".join(" ".join(line.split()) + "\n" for line in text.splitlines()
                   if line.strip() and not line.startswith("#"))


@pytest.mark.parametrize("name", ["results.test", "results.comment.test", "results-302.test"])
def test_run_tiers_identical(trec_eval_dir, tmp_path, name):
    original = (trec_eval_dir / name).read_bytes()
    regular = _write(tmp_path, _regular(original.decode()), "regular.run")
    tabbed = _write(tmp_path, _regular(original.decode()).replace(" ", "\t"), "tabbed.run")
    assert is_regular(regular.read_bytes()) and not is_regular(tabbed.read_bytes())
    fast = read_trec_run(regular)                 # Arrow, as is
    normalised = read_trec_run(tabbed)            # rewritten in memory, then Arrow
    slow = _read_run_slow(original, "x", None)    # line by line
    for other in (normalised, slow, read_trec_run(trec_eval_dir / name)):
        _same_run(fast, other)


@pytest.mark.parametrize("name", ["qrels.test", "qrels.comment.test", "qrels.rel_level"])
def test_qrels_tiers_identical(trec_eval_dir, tmp_path, name):
    original = (trec_eval_dir / name).read_bytes()
    regular = _write(tmp_path, _regular(original.decode()), "regular.qrels")
    tabbed = _write(tmp_path, "# c\n" + _regular(original.decode()).replace(" ", " \t"))
    assert is_regular(regular.read_bytes()) and not is_regular(tabbed.read_bytes())
    fast = read_trec_qrels(regular)
    for other in (read_trec_qrels(tabbed), _read_qrels_slow(original, "x")):
        _same_qrels(fast, other)


# -- errors, each with its exact place -----------------------------------------------

def test_missing_and_empty_files(tmp_path):
    assert str(_error(read_trec_qrels, tmp_path / "nope")) == f"{tmp_path / 'nope'}: no such file"
    assert str(_error(read_trec_run, tmp_path)) == f"{tmp_path}: is a directory, expected a file"
    for text in ("", "\n\n", "  \r\n"):
        path = _write(tmp_path, text)
        assert str(_error(read_trec_qrels, path)) == f"{path}: file is empty"
        assert str(_error(read_trec_run, path)) == f"{path}: file is empty"


def test_only_comments(tmp_path):
    path = _write(tmp_path, "# one\n\n# two\n")
    assert str(_error(read_trec_qrels, path)) == (
        f"{path}: no judgments (only comments or blank lines)")
    assert str(_error(read_trec_run, path)) == f"{path}: no results (only comments or blank lines)"


@pytest.mark.parametrize("text, line, message", [
    ("1 0 a 1\n1 0 b\n", 2, "expected 4 columns (query_id iteration doc_id relevance), found 3"),
    ("# c\n1 0 a 1\n\n1 0 b 1 x\n", 4,
     "expected 4 columns (query_id iteration doc_id relevance), found 5"),
    ("1 0 a 1\r\n1 0 b 1 1\r\n", 2,
     "expected 4 columns (query_id iteration doc_id relevance), found 5"),
])
def test_qrels_column_count(tmp_path, text, line, message):
    path = _write(tmp_path, text)
    err = _error(read_trec_qrels, path)
    assert (err.source, err.line, err.field) == (str(path), line, None)
    assert str(err) == f"{path}:{line}: {message}"


@pytest.mark.parametrize("value, message", [
    ("x", "'x' is not an integer"),
    ("1.5", "'1.5' is not an integer"),
    ("1_0", "'1_0' is not an integer"),            # Python's int() would take it
    ("99999999999999999999", "'99999999999999999999' is out of the 64-bit integer range"),
])
def test_qrels_bad_relevance(tmp_path, value, message):
    path = _write(tmp_path, f"1 0 a 1\n1 0 b 0\n\n1 0 c {value}\n")
    err = _error(read_trec_qrels, path)
    assert str(err) == f"{path}:4: relevance: {message}"


@pytest.mark.parametrize("value, message", [
    ("abc", "'abc' is not a number"),
    ("nan", "'nan' is not a finite number"),
    ("-inf", "'-inf' is not a finite number"),
    ("Infinity", "'Infinity' is not a finite number"),
    ("1e999", "'1e999' is not a finite number"),
    ("0x10", "'0x10' is not a number"),
    ("1_000", "'1_000' is not a number"),
])
def test_run_bad_score(tmp_path, value, message):
    path = _write(tmp_path, f"1 Q0 a 1 3 t\n1 Q0 b 2 {value} t\n")
    err = _error(read_trec_run, path)
    assert (err.line, err.field) == (2, "score")
    assert str(err) == f"{path}:2: score: {message}"


@pytest.mark.parametrize("text, line", [
    ("1 Q0 a 1 3 t\n1 Q0 b 1\n", 2),
    ("#\n\n1 Q0 a 1 3\n", 3),
])
def test_run_too_few_columns(tmp_path, text, line):
    path = _write(tmp_path, text)
    assert str(_error(read_trec_run, path)) == (
        f"{path}:{line}: expected at least 6 columns (query_id Q0 doc_id rank score tag), "
        f"found {len(text.splitlines()[line - 1].split())}")


def test_duplicate_judgment(tmp_path):
    path = _write(tmp_path, "1 0 a 1\n2 0 a 1\n# c\n1 0 b 0\n1 0 a 0\n")
    err = _error(read_trec_qrels, path)
    assert str(err) == (f"{path}:5: doc_id: duplicate judgment for query '1', "
                        "document 'a' (first at line 1)")


def test_duplicate_document_in_run(tmp_path):
    path = _write(tmp_path, "1 Q0 a 1 3 t\n2 Q0 a 1 3 t\n1 Q0 b 2 2 t\n1 Q0 a 3 1 t\n")
    err = _error(read_trec_run, path)
    assert str(err) == (f"{path}:4: doc_id: document 'a' appears twice for query '1' "
                        "(first at line 1)")


def test_undecodable_bytes(tmp_path):
    path = _write(tmp_path, b"1 0 a 1\n1 0 b\xff\xfe 1\n")
    err = _error(read_trec_qrels, path)
    assert str(err) == f"{path}:2: doc_id: undecodable bytes (not UTF-8)"
    path = _write(tmp_path, b"1 Q0 a 1 3 t\n\n\xe9 Q0 b 2 2 t\n")
    assert str(_error(read_trec_run, path)) == f"{path}:3: query_id: undecodable bytes (not UTF-8)"


def test_non_ascii_ids_are_fine(tmp_path):
    run = read_trec_run(_write(tmp_path, "q\u00e9 Q0 d\u4e2d 1 1 t\nq\u00e9 Q0 e 2 0 t\n"))
    assert run.query_ids.to_pylist() == ["q\u00e9", "q\u00e9"]
    assert run.doc_ids[0].as_py() == "d\u4e2d"


# -- writers ---------------------------------------------------------------------------

def test_write_run_ranks_as_trec_eval(tmp_path):
    # Ties (2.0, 2.0) are broken by doc id descending: 'b' before 'a'.
    run = Run(["2", "10", "10", "10"], ["x", "a", "b", "c"], np.array([1.0, 2.0, 2.0, 3.0]),
              name="sys")
    path = tmp_path / "out.run"
    write_trec_run(run, path)
    assert path.read_text() == ("10 Q0 c 1 3 sys\n10 Q0 b 2 2 sys\n10 Q0 a 3 2 sys\n"
                                "2 Q0 x 1 1 sys\n")
    write_trec_run(run, path, tag="other", depth=2)
    assert path.read_text() == ("10 Q0 c 1 3 other\n10 Q0 b 2 2 other\n"
                                "2 Q0 x 1 1 other\n")


def test_write_qrels_text(tmp_path):
    path = tmp_path / "q.txt"
    write_trec_qrels(Qrels(["1", "1"], ["b", "a"], np.array([2, -1])), path)
    assert path.read_text() == "1 0 b 2\n1 0 a -1\n"


def test_round_trip_trec_eval_files(trec_eval_dir, tmp_path):
    qrels = read_trec_qrels(trec_eval_dir / "qrels.comment.test")
    write_trec_qrels(qrels, tmp_path / "q")
    _same_qrels(read_trec_qrels(tmp_path / "q"), qrels)
    run = read_trec_run(trec_eval_dir / "results.test")
    write_trec_run(run, tmp_path / "r")
    back = read_trec_run(tmp_path / "r")
    assert run.to_dict() == back.to_dict() and back.name == "STANDARD"


def test_writers_refuse_whitespace_and_leave_nothing(tmp_path):
    path = tmp_path / "r.run"
    path.write_text("old\n")
    run = Run(["1", "1"], ["a", "b c"], np.array([1.0, 2.0]))
    with pytest.raises(FormatError) as info:
        write_trec_run(run, path)
    assert str(info.value) == (f"{path}: doc_id: row 2: 'b c' is empty or contains "
                               "whitespace, which a whitespace-separated file cannot hold")
    with pytest.raises(FormatError, match="run tag 'a b'"):
        write_trec_run(Run(["1"], ["a"], np.array([1.0])), path, tag="a b")
    with pytest.raises(FormatError, match="query_id: row 1: ''"):
        write_trec_qrels(Qrels([""], ["a"], np.array([1])), path)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.run"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "r.run"
    path.write_text("old\n")

    def broken(self, data):
        with open(self, "wb") as fh:
            fh.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        write_trec_run(Run(["1"], ["a"], np.array([1.0])), path)
    monkeypatch.undo()
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.run"]


_ids = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc", "Zl", "Zp")),
               min_size=1, max_size=6).filter(lambda s: not s.startswith("#")
                                              and not any(c.isspace() for c in s))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.tuples(_ids, _ids),
                       st.floats(allow_nan=False, allow_infinity=False, width=64),
                       min_size=1, max_size=30))
def test_run_round_trip_property(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("prop") / "r.run"
    (qids, dids), scores = zip(*rows.keys()), list(rows.values())
    run = Run(list(qids), list(dids), np.array(scores), name="p")
    write_trec_run(run, path)
    back = read_trec_run(path)
    assert back.to_dict() == run.to_dict()
    slow = _read_run_slow(path.read_bytes(), str(path), None)
    _same_run(back, slow)


def test_large_regular_run_uses_arrow_and_matches_slow_reader(tmp_path):
    rng = np.random.default_rng(1)
    n = 20_000
    qids = pa.array([str(q) for q in rng.integers(0, 300, n)])
    dids = pa.array([f"D{i}" for i in range(n)])
    scores = np.round(rng.normal(size=n), 3)  # many ties
    path = tmp_path / "big.run"
    write_trec_run(Run(qids, dids, scores, name="big"), path)
    data = path.read_bytes()
    assert is_regular(data)
    _same_run(read_trec_run(path), _read_run_slow(data, str(path), None))


@pytest.mark.parametrize("data, expected", [
    (b"#a\n#b\nx\n#c", b"\n\nx\n"),
    (b"x\n#\n\n#y\nz", b"x\n\n\n\nz"),
    (b"#", b""),
    (b"a#b\n#c#\n", b"a#b\n\n"),
])
def test_blank_comments_keeps_line_numbers(data, expected):
    from ragbench.core.io._text import _blank_comments

    assert _blank_comments(data) == expected
