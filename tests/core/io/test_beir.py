"""BEIR folders: SciFact as published (read in place, never copied), and small
malformed files with their exact file:line errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pytest

from ragbench.core.errors import FormatError
from ragbench.core.io import (
    BeirDataset,
    Corpus,
    Queries,
    read_beir,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_queries,
    write_beir,
)
from ragbench.core.io._records import _slow
from ragbench.core.qrels import Qrels


def _write(tmp_path, text: str | bytes, name: str = "f.jsonl"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _error(reader, path) -> FormatError:
    with pytest.raises(FormatError) as info:
        reader(path)
    return info.value


# -- SciFact ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scifact(scifact_dir) -> BeirDataset:
    return read_beir(scifact_dir)


def test_scifact_counts(scifact):
    # Counts from the data's README: 5,183 docs, 1,109 queries, 339 test judgments
    # over 300 queries, all with score 1.
    assert len(scifact.corpus) == 5183
    assert len(scifact.queries) == 1109
    assert len(scifact.qrels) == 339
    assert len(scifact.qrels.query_set()) == 300
    assert set(scifact.qrels.relevance.tolist()) == {1}
    assert len(scifact.judged_queries()) == 300
    assert scifact.split == "test"


def test_scifact_is_columnar(scifact):
    for arr in (scifact.corpus.ids, scifact.corpus.titles, scifact.corpus.texts,
                scifact.queries.ids, scifact.queries.texts, scifact.qrels.doc_ids):
        assert isinstance(arr, pa.Array) and arr.type == pa.string()


def test_scifact_first_records(scifact, scifact_dir):
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    assert scifact.corpus.ids[0].as_py() == first["_id"] == "4983"
    assert scifact.corpus.titles[0].as_py() == first["title"]
    assert scifact.corpus.texts[0].as_py() == first["text"]
    assert scifact.queries.ids[0].as_py() == "0"
    assert scifact.queries.texts[0].as_py() == (
        "0-dimensional biomaterials lack inductive properties.")
    # qrels/test.tsv line 2 (CRLF line ends): "1\t31715818\t1"
    assert (scifact.qrels.query_ids[0].as_py(), scifact.qrels.doc_ids[0].as_py()) == (
        "1", "31715818")


def test_scifact_references_are_consistent(scifact):
    # README: every test query id is in queries.jsonl, every judged doc in the corpus.
    assert scifact.qrels.query_set() <= set(scifact.queries.ids.to_pylist())
    assert set(scifact.qrels.doc_ids.to_pylist()) <= set(scifact.corpus.ids.to_pylist())


def test_scifact_train_split(scifact_dir):
    data = read_beir(scifact_dir, split="train")
    assert (len(data.qrels), len(data.qrels.query_set())) == (919, 809)


def test_scifact_fast_and_slow_readers_agree(scifact_dir):
    data = (scifact_dir / "queries.jsonl").read_bytes()
    slow = _slow(data, "q", {"_id": "id", "text": "str"}, (), ("_id",))
    fast = read_beir_queries(scifact_dir / "queries.jsonl")
    assert fast.ids.equals(slow["_id"].combine_chunks())
    assert fast.texts.equals(slow["text"].combine_chunks())


def test_scifact_write_back_is_byte_identical(scifact, scifact_dir, tmp_path):
    # corpus.jsonl is json.dumps with defaults and metadata {}; qrels TSV is what
    # Python's csv writer makes (CRLF). queries.jsonl is not: its metadata is dropped.
    write_beir(tmp_path, scifact)
    for name in ("corpus.jsonl", "qrels/test.tsv"):
        ours = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        theirs = hashlib.sha256((scifact_dir / name).read_bytes()).hexdigest()
        assert ours == theirs, name
    back = read_beir(tmp_path)
    assert back.queries.ids.equals(scifact.queries.ids)
    assert back.queries.texts.equals(scifact.queries.texts)


# -- small files -----------------------------------------------------------------------

def test_corpus_optional_title_integer_ids_blank_lines(tmp_path):
    path = _write(tmp_path, '{"_id": "a", "text": "x"}\n\n{"_id": 7, "title": null, '
                            '"text": "y", "metadata": {"k": [1]}}\r\n  \n')
    corpus = read_beir_corpus(path)
    assert corpus.ids.to_pylist() == ["a", "7"]
    assert corpus.titles.to_pylist() == ["", ""]
    assert corpus.texts.to_pylist() == ["x", "y"]


def test_corpus_fast_path_result(tmp_path):
    rows = [{"_id": f"d{i}", "title": f"t{i}", "text": "caf\u00e9 \"q\"", "extra": i}
            for i in range(100)]
    path = _write(tmp_path, "".join(json.dumps(r) + "\n" for r in rows))
    corpus = read_beir_corpus(path)
    assert corpus.ids.to_pylist() == [r["_id"] for r in rows]
    assert corpus.texts[5].as_py() == "caf\u00e9 \"q\""


@pytest.mark.parametrize("text, line, field, message", [
    ('{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"\n', 2, None,
     "invalid JSON: Expecting ',' delimiter (column 25)"),
    ('{"_id": "a", "text": "x"}\n\n{"text": "y"}\n', 3, "_id", "missing (or null)"),
    ('{"_id": "a", "text": "x"}\n{"_id": null, "text": "y"}\n', 2, "_id", "missing (or null)"),
    ('{"_id": "a"}\n', 1, "text", "missing (or null)"),
    ('{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"}\n{"_id": "a", "text": "z"}\n', 3,
     "_id", "duplicate _id 'a' (first at line 1)"),
    ('{"_id": 1, "text": "x"}\n{"_id": "1", "text": "y"}\n', 2, "_id",
     "duplicate _id '1' (first at line 1)"),
    ('{"_id": "a", "text": 5}\n', 1, "text", "expected a string, found 5"),
    ('{"_id": "a", "text": "x"}\n{"_id": "", "text": "y"}\n', 2, "_id", "empty"),
    ('{"_id": 1.5, "text": "x"}\n', 1, "_id", "expected a string, found 1.5"),
    ('{"_id": "a", "text": "x", "title": ["t"]}\n', 1, "title", 'expected a string, found ["t"]'),
    ('["a", "x"]\n', 1, None, "expected a JSON object, found list"),
    ('{"_id": "a", "text": "\\ud800"}\n', 1, "text", "holds a lone surrogate escape (not text)"),
    ('{"_id": "a", "text": "x"}{"_id": "b", "text": "y"}\n', 1, None,
     "invalid JSON: Extra data (column 26)"),
    ('{"_id": "a",\n "text": "x"}\n', 1, None,
     "invalid JSON: Expecting property name enclosed in double quotes (column 13)"),
])
def test_corpus_errors(tmp_path, text, line, field, message):
    path = _write(tmp_path, text)
    err = _error(read_beir_corpus, path)
    assert (err.source, err.line, err.field) == (str(path), line, field)
    assert err.message == message


def test_undecodable_jsonl(tmp_path):
    path = _write(tmp_path, b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": "\xff"}\n')
    assert str(_error(read_beir_queries, path)) == (
        f"{path}:2: undecodable bytes (not UTF-8) at byte 23")


def test_empty_and_missing(tmp_path):
    assert str(_error(read_beir_queries, _write(tmp_path, "\n"))) == (
        f"{tmp_path / 'f.jsonl'}: file is empty")
    with pytest.raises(FormatError, match="no such folder"):
        read_beir(tmp_path / "nope")
    with pytest.raises(FormatError, match=r"corpus.jsonl: no such file"):
        read_beir(tmp_path)


# -- BEIR qrels TSV --------------------------------------------------------------------

HEADER = "query-id\tcorpus-id\tscore\n"


@pytest.mark.parametrize("text", [
    HEADER + "q1\td1\t1\nq1\td2\t0\nq2\td1\t2\n",
    (HEADER + "q1\td1\t1\nq1\td2\t0\nq2\td1\t2").replace("\n", "\r\n"),   # CRLF, no final
    "\n" + HEADER + "q1\td1\t1\n\nq1\td2\t 0 \nq2 \td1\t2\n",             # blanks, spaces
    "\ufeff" + HEADER + "q1\td1\t1\nq1\td2\t0\nq2\td1\t2\n",             # byte-order mark
])
def test_qrels_tsv_layouts(tmp_path, text):
    qrels = read_beir_qrels(_write(tmp_path, text, "q.tsv"))
    assert qrels.query_ids.to_pylist() == ["q1", "q1", "q2"]
    assert qrels.doc_ids.to_pylist() == ["d1", "d2", "d1"]
    assert qrels.relevance.tolist() == [1, 0, 2]


def test_qrels_tsv_ids_may_hold_spaces(tmp_path):
    qrels = read_beir_qrels(_write(tmp_path, HEADER + "q 1\tdoc a\t1\n", "q.tsv"))
    assert (qrels.query_ids[0].as_py(), qrels.doc_ids[0].as_py()) == ("q 1", "doc a")


@pytest.mark.parametrize("text, line, field, message", [
    ("q1\td1\t1\n", 1, None,
     "expected the header 'query-id<TAB>corpus-id<TAB>score', found 'q1\\td1\\t1'"),
    (HEADER + "q1\td1\t1\nq1\td2\n", 3, None,
     "expected 3 tab-separated columns (query-id corpus-id score), found 2"),
    (HEADER + "q1 d1 1\n", 2, None,
     "expected 3 tab-separated columns (query-id corpus-id score), found 1"),
    (HEADER + "q1\td1\t1\n\nq1\td2\tyes\n", 4, "score", "'yes' is not an integer"),
    (HEADER + "q1\td1\t1.0\n", 2, "score", "'1.0' is not an integer"),
    (HEADER + "q1\td1\t1\nq2\td1\t1\nq1\td1\t0\n", 4, "corpus-id",
     "duplicate judgment for query 'q1', document 'd1' (first at line 2)"),
    (HEADER + "q1\t\t1\n", 2, "corpus-id", "empty"),
    (HEADER + "q1\td1\t1\n \td2\t1\n", 3, "query-id", "empty"),
])
def test_qrels_tsv_errors(tmp_path, text, line, field, message):
    path = _write(tmp_path, text, "q.tsv")
    err = _error(read_beir_qrels, path)
    assert (err.source, err.line, err.field, err.message) == (str(path), line, field, message)


def test_qrels_tsv_only_header(tmp_path):
    path = _write(tmp_path, HEADER + "\n", "q.tsv")
    assert str(_error(read_beir_qrels, path)) == f"{path}: no judgments after the header"


def test_qrels_tsv_undecodable(tmp_path):
    path = _write(tmp_path, HEADER.encode() + b"q1\td\xe91\t1\n", "q.tsv")
    assert str(_error(read_beir_qrels, path)) == f"{path}:2: undecodable bytes (not UTF-8)"


# -- writing ---------------------------------------------------------------------------

def test_write_and_read_back(tmp_path):
    data = BeirDataset(
        Corpus(["d1", "d\u00e92"], ["T", ""], ["caf\u00e9 \"x\"\nnew line", "y"]),
        Queries(["q1"], ["what?"]),
        Qrels(["q1", "q1"], ["d1", "d\u00e92"], np.array([2, 0])),
        split="dev",
    )
    write_beir(tmp_path, data)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                  if p.is_file()) == ["corpus.jsonl", "qrels/dev.tsv", "queries.jsonl"]
    assert (tmp_path / "qrels" / "dev.tsv").read_bytes() == (
        "query-id\tcorpus-id\tscore\r\nq1\td1\t2\r\nq1\td\u00e92\t0\r\n".encode())
    assert (tmp_path / "queries.jsonl").read_text() == (
        '{"_id": "q1", "text": "what?", "metadata": {}}\n')
    back = read_beir(tmp_path, split="dev")
    for a, b in ((back.corpus.ids, data.corpus.ids), (back.corpus.texts, data.corpus.texts),
                 (back.corpus.titles, data.corpus.titles), (back.queries.ids, data.queries.ids),
                 (back.qrels.doc_ids, data.qrels.doc_ids)):
        assert a.equals(b)
    assert back.qrels.relevance.tolist() == [2, 0]


def test_write_refuses_unwritable_ids(tmp_path):
    data = BeirDataset(Corpus(["d1"], [""], ["x"]), Queries(["q1"], ["x"]),
                       Qrels(["q1"], ["d\t1"], np.array([1])))
    with pytest.raises(FormatError, match=r"corpus-id: row 1: 'd\\t1' cannot be written"):
        write_beir(tmp_path, data)
    assert not (tmp_path / "qrels" / "test.tsv").exists()


def test_corpus_columns_must_agree():
    with pytest.raises(FormatError, match="columns differ in length"):
        Corpus(["a", "b"], ["", ""], ["x"])
