"""Read the files of one test collection and check that they make a usable whole.

Formats (the reader is chosen from the content, not trusted from the name):

* qrels: TREC (``qid iter docno rel``) or BEIR TSV (with its
  ``query-id<TAB>corpus-id<TAB>score`` header);
* queries: BEIR ``queries.jsonl`` or TSV ``qid<TAB>text``;
* corpus (optional for TREC uploads): BEIR ``corpus.jsonl`` or TSV
  ``docid<TAB>text``.

Each file is parsed completely before anything is stored. Errors are
:class:`~ragbench.errors.Unprocessable` with ``details = {file, line, field}``,
where ``file`` is the name the client knows (the uploaded file's name, or the
member path inside a zip), never the server's temporary path.

Checks across files: every judged query must have a non-empty text; when a
corpus is given, at least one judged document must be in it. Judged documents
missing from the corpus are *not* an error -- BEIR's own collections have a few
(documents dropped from the corpus after judging) -- they are counted in the
stats instead (``missing_documents``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.errors import FormatError
from ragbench.core.io import read_beir_corpus, read_beir_qrels, read_beir_queries, read_trec_qrels
from ragbench.core.io.beir import BeirDataset, Corpus, Queries
from ragbench.core.qrels import Qrels
from ragbench.errors import Unprocessable

_BOM = b"\xef\xbb\xbf"
_SNIFF_BYTES = 4096

QrelsFormat = Literal["beir", "trec", "auto"]
RecordFormat = Literal["jsonl", "tsv", "auto"]


@dataclass(frozen=True)
class InputFile:
    """A file on the server's disk and the name errors call it by."""

    path: Path
    name: str


@dataclass(frozen=True, eq=False)
class Collection:
    """A checked collection: ``dataset.queries`` holds only the judged queries."""

    dataset: BeirDataset
    #: Queries in the uploaded queries file, judged or not.
    queries_in_file: int
    has_corpus: bool


def read_collection(*, qrels: InputFile, queries: InputFile, corpus: InputFile | None,
                    split: str, qrels_format: QrelsFormat = "auto",
                    record_format: RecordFormat = "auto") -> Collection:
    """Parse and cross-check the files of one split (422 on the first problem)."""
    qrels_format = _qrels_format(qrels) if qrels_format == "auto" else qrels_format
    with _named(qrels):
        judgments = (read_beir_qrels if qrels_format == "beir" else read_trec_qrels)(qrels.path)
    all_queries = _read_queries(queries, record_format)
    documents = _read_corpus(corpus, record_format) if corpus is not None else _empty_corpus()

    judged = judgments.query_ids.unique()
    known = pc.is_in(judged, value_set=all_queries.ids)
    if not pc.all(known).as_py():
        missing = pc.filter(judged, pc.invert(known))
        qid = _first_in_file_order(judgments, missing)
        line = _line_of(qrels, qid, qrels_format)
        raise Unprocessable(
            f"{qrels.name}:{line}: query_id: query {qid!r} is judged but has no text in "
            f"{queries.name} ({len(missing)} judged queries have none)",
            details={"file": qrels.name, "line": line, "field": "query_id", "query_id": qid,
                     "queries_without_text": len(missing)})
    selected = all_queries.select(judged)
    blank = pc.equal(pc.utf8_trim_whitespace(selected.texts), "")
    if pc.any(blank).as_py():
        qid = pc.filter(selected.ids, blank)[0].as_py()
        line = _line_of(queries, qid, "queries")
        raise Unprocessable(
            f"{queries.name}:{line}: text: query {qid!r} is judged but its text is empty",
            details={"file": queries.name, "line": line, "field": "text", "query_id": qid})

    if corpus is not None:
        in_corpus = pc.is_in(judgments.doc_ids, value_set=documents.ids)
        if not pc.any(in_corpus).as_py():
            raise Unprocessable(
                f"none of the {len(judgments)} judged documents of {qrels.name} is in "
                f"{corpus.name}: is it the corpus of this collection?",
                details={"file": corpus.name, "field": "doc_id"})
    return Collection(BeirDataset(documents, selected, judgments, split),
                      queries_in_file=len(all_queries), has_corpus=corpus is not None)


@contextmanager
def _named(file: InputFile) -> Iterator[None]:
    """Re-raise a reader's FormatError under the name the client knows."""
    try:
        yield
    except FormatError as exc:
        where = file.name + (f":{exc.line}" if exc.line is not None else "")
        field = f"{exc.field}: " if exc.field else ""
        raise Unprocessable(f"{where}: {field}{exc.message}",
                            details={"file": file.name, "line": exc.line,
                                     "field": exc.field}) from None


def _head(file: InputFile) -> bytes:
    with open(file.path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    return head.removeprefix(_BOM).lstrip()


def _qrels_format(file: InputFile) -> Literal["beir", "trec"]:
    return "beir" if _head(file).startswith(b"query-id") else "trec"


def _is_jsonl(file: InputFile, record_format: RecordFormat) -> bool:
    if record_format != "auto":
        return record_format == "jsonl"
    return _head(file).startswith(b"{")


def _read_queries(file: InputFile, record_format: RecordFormat) -> Queries:
    with _named(file):
        if _is_jsonl(file, record_format):
            return read_beir_queries(file.path)
        ids, texts = _read_tsv(file.path, ("query_id", "text"))
        return Queries(ids, texts)


def _read_corpus(file: InputFile, record_format: RecordFormat) -> Corpus:
    with _named(file):
        if _is_jsonl(file, record_format):
            return read_beir_corpus(file.path)
        ids, texts = _read_tsv(file.path, ("doc_id", "text"))
        return Corpus(ids, pa.array([""] * len(ids), pa.string()), texts)


def _empty_corpus() -> Corpus:
    empty = pa.array([], pa.string())
    return Corpus(empty, empty, empty)


def _read_tsv(path: Path, fields: tuple[str, str]) -> tuple[pa.Array, pa.Array]:
    """``id<TAB>text`` lines (the text may itself hold tabs: only the first one
    separates). Blank lines are skipped; ids must be non-empty and unique."""
    data = path.read_bytes().removeprefix(_BOM)
    if not data.strip():
        raise FormatError("file is empty")
    id_field, text_field = fields
    ids, texts = [], []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"undecodable bytes (not UTF-8) at byte {exc.start + 1}",
                              line=lineno) from None
        key, tab, text = line.partition("\t")
        key = key.strip()
        if not tab:
            raise FormatError(f"expected '{id_field}<TAB>{text_field}', found no tab",
                              line=lineno, field=text_field)
        if not key:
            raise FormatError("empty", line=lineno, field=id_field)
        first = seen.setdefault(key, lineno)
        if first != lineno:
            raise FormatError(f"duplicate {id_field} {key!r} (first at line {first})",
                              line=lineno, field=id_field)
        ids.append(key)
        texts.append(text.strip())
    return pa.array(ids, pa.string()), pa.array(texts, pa.string())


def _first_in_file_order(qrels: Qrels, wanted: pa.Array) -> str:
    rows = pc.is_in(qrels.query_ids, value_set=wanted)
    return qrels.query_ids[pc.index(rows, True).as_py()].as_py()


def _line_of(file: InputFile, key: str, kind: str) -> int | None:
    """1-based line of the first record of ``key`` (only called to report an error).

    ``kind``: ``beir``/``trec`` (qrels: the first column) or ``queries``."""
    data = file.path.read_bytes().removeprefix(_BOM)
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            continue
        if text.startswith("{"):
            try:
                record = json.loads(text)
            except ValueError:
                continue
            if isinstance(record, dict) and str(record.get("_id")) == key:
                return lineno
            continue
        first = (text.split("\t", 1) if kind in ("beir", "queries") else text.split(None, 1))[0]
        if first.strip() == key:
            return lineno
    return None
