"""BEIR test collections: a folder holding ``corpus.jsonl``, ``queries.jsonl`` and
``qrels/<split>.tsv``.

* ``corpus.jsonl``: one object per line, ``{"_id", "title", "text", "metadata"}``
  (``title`` may be missing or null: read as ``""``);
* ``queries.jsonl``: ``{"_id", "text", "metadata"}``;
* ``qrels/<split>.tsv``: the header ``query-id<TAB>corpus-id<TAB>score``, then one
  tab-separated judgment per line (integer score).

Everything is columnar (Arrow string arrays), never a dict per document.
``metadata`` is not read. Errors carry ``file:line`` and the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.errors import FormatError
from ragbench.core.io._atomic import atomic_write_bytes
from ragbench.core.io._records import read_records
from ragbench.core.io._text import fast_table, parse_number, read_bytes
from ragbench.core.qrels import Qrels, _string_array

QRELS_HEADER = ("query-id", "corpus-id", "score")


@dataclass(frozen=True, eq=False)
class Corpus:
    """Documents: ``ids[i]`` has ``titles[i]`` and ``texts[i]`` (Arrow strings)."""

    ids: pa.Array
    titles: pa.Array
    texts: pa.Array
    source: str | None = None

    def __post_init__(self) -> None:
        _columns(self, {"ids": "_id", "titles": "title", "texts": "text"})

    def __len__(self) -> int:
        return len(self.ids)

    def to_table(self) -> pa.Table:
        return pa.table({"_id": self.ids, "title": self.titles, "text": self.texts})


@dataclass(frozen=True, eq=False)
class Queries:
    """Queries: ``ids[i]`` has ``texts[i]`` (Arrow strings)."""

    ids: pa.Array
    texts: pa.Array
    source: str | None = None

    def __post_init__(self) -> None:
        _columns(self, {"ids": "_id", "texts": "text"})

    def __len__(self) -> int:
        return len(self.ids)

    def to_table(self) -> pa.Table:
        return pa.table({"_id": self.ids, "text": self.texts})

    def select(self, ids) -> Queries:
        """The queries whose id is in ``ids`` (in this object's order)."""
        keep = pc.is_in(self.ids, value_set=_string_array(ids, "_id"))
        return Queries(pc.filter(self.ids, keep), pc.filter(self.texts, keep), self.source)


@dataclass(frozen=True, eq=False)
class BeirDataset:
    """A corpus, its queries and the judgments of one split."""

    corpus: Corpus
    queries: Queries
    qrels: Qrels
    split: str = "test"

    def judged_queries(self) -> Queries:
        """The queries of this split: those with at least one judgment (BEIR's
        ``queries.jsonl`` usually holds every split's queries)."""
        return self.queries.select(self.qrels.query_ids.unique())


def _columns(obj, names: dict[str, str]) -> None:
    n = None
    for attr, field in names.items():
        values = _string_array(getattr(obj, attr), field)
        object.__setattr__(obj, attr, values)
        if n is not None and len(values) != n:
            raise FormatError(f"columns differ in length ({n} ids, {len(values)} values)",
                              source=obj.source, field=field)
        n = len(values)


def read_beir(folder: str | os.PathLike, split: str = "test") -> BeirDataset:
    """Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""
    root = Path(folder)
    if not root.is_dir():
        raise FormatError("no such folder", source=str(root))
    return BeirDataset(read_beir_corpus(root / "corpus.jsonl"),
                       read_beir_queries(root / "queries.jsonl"),
                       read_beir_qrels(root / "qrels" / f"{split}.tsv"), split)


def read_beir_corpus(path: str | os.PathLike) -> Corpus:
    """``corpus.jsonl``: ``_id`` (required, unique; an integer is read as its
    digits), ``text`` (required), ``title`` (optional, ``""`` when absent)."""
    source = str(path)
    table = read_records(read_bytes(path), source,
                         {"_id": "id", "title": "str", "text": "str"},
                         optional=("title",), unique=("_id",))
    titles = pc.fill_null(table["title"], "")
    return Corpus(table["_id"], titles, table["text"], source=source)


def read_beir_queries(path: str | os.PathLike) -> Queries:
    """``queries.jsonl``: ``_id`` (required, unique) and ``text`` (required)."""
    source = str(path)
    table = read_records(read_bytes(path), source, {"_id": "id", "text": "str"},
                         unique=("_id",))
    return Queries(table["_id"], table["text"], source=source)


def read_beir_qrels(path: str | os.PathLike) -> Qrels:
    """BEIR qrels TSV. The header line is required (BEIR's loader skips the
    first line whatever it holds, so a file without one would lose a judgment).
    Columns are tab-separated; spaces around a value are ignored. Duplicate
    (query, doc) pairs are an error."""
    source = str(path)
    data = read_bytes(path)
    start = _check_header(data, source)
    body = b"\n" * data.count(b"\n", 0, start) + data[start:]  # keeps line numbers
    if _regular_tsv(body):
        table = fast_table(body, ["query_id", "doc_id", "relevance"],
                           {"query_id": pa.string(), "doc_id": pa.string(),
                            "relevance": pa.int64()},
                           ["query_id", "doc_id", "relevance"], delimiter="\t")
        if table is not None and table.num_rows:
            shortest = min(pc.min(pc.binary_length(table[c])).as_py()
                           for c in ("query_id", "doc_id"))
            if shortest > 0:
                try:
                    return Qrels(table["query_id"], table["doc_id"],
                                 table["relevance"].to_numpy(), source=source)
                except FormatError:
                    pass  # the line-by-line reader says where
    return _read_qrels_slow(body, source)


def _check_header(data: bytes, source: str) -> int:
    """Offset just past the header line (the first non-blank one)."""
    start, lineno = 0, 1
    while True:
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        line = data[start:end]
        if line.strip():
            break
        start, lineno = end + 1, lineno + 1
    if tuple(part.strip() for part in line.split(b"\t")) != tuple(
            h.encode() for h in QRELS_HEADER):
        raise FormatError(
            f"expected the header 'query-id<TAB>corpus-id<TAB>score', found "
            f"{line[:60].decode('utf-8', 'replace')!r}", source=source, line=lineno)
    return end


def _regular_tsv(data: bytes) -> bool:
    """No space next to a tab or a line end: then Arrow's values need no stripping."""
    return not any(s in data for s in (b" \t", b"\t ", b" \n", b"\n ", b" \r", b"\x0b",
                                       b"\x0c")) and not data.endswith(b" ")


def _read_qrels_slow(data: bytes, source: str) -> Qrels:
    qids, dids, rels = [], [], []
    seen: dict[tuple[str, str], int] = {}
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        parts = [p.strip() for p in raw.split(b"\t")]
        if len(parts) != 3:
            raise FormatError(f"expected 3 tab-separated columns ({' '.join(QRELS_HEADER)}),"
                              f" found {len(parts)}", source=source, line=lineno)
        try:
            qid, did, score = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            raise FormatError("undecodable bytes (not UTF-8)", source=source,
                              line=lineno) from None
        for field, value in (("query-id", qid), ("corpus-id", did)):
            if not value:
                raise FormatError("empty", source=source, line=lineno, field=field)
        rels.append(parse_number(score, kind=int, source=source, line=lineno, field="score"))
        first = seen.setdefault((qid, did), lineno)
        if first != lineno:
            raise FormatError(f"duplicate judgment for query {qid!r}, document {did!r} "
                              f"(first at line {first})", source=source, line=lineno,
                              field="corpus-id")
        qids.append(qid)
        dids.append(did)
    if not qids:
        raise FormatError("no judgments after the header", source=source)
    return Qrels(qids, dids, np.asarray(rels, dtype=np.int64), source=source)


def write_beir(folder: str | os.PathLike, dataset: BeirDataset) -> None:
    """Write ``dataset`` as a BEIR folder (``qrels/<dataset.split>.tsv``).

    JSON is written as Python's ``json.dumps`` writes it by default (ASCII, with
    ``metadata: {}``), the form BEIR's own files use, so a corpus read from
    such a file writes back byte for byte. Each file is written atomically."""
    root = Path(folder)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    write_beir_corpus(dataset.corpus, root / "corpus.jsonl")
    write_beir_queries(dataset.queries, root / "queries.jsonl")
    write_beir_qrels(dataset.qrels, root / "qrels" / f"{dataset.split}.tsv")


def write_beir_corpus(corpus: Corpus, path: str | os.PathLike) -> None:
    rows = zip(corpus.ids.to_pylist(), corpus.titles.to_pylist(), corpus.texts.to_pylist())
    atomic_write_bytes(path, "".join(
        json.dumps({"_id": i, "title": t, "text": x, "metadata": {}}) + "\n"
        for i, t, x in rows).encode("ascii"))


def write_beir_queries(queries: Queries, path: str | os.PathLike) -> None:
    rows = zip(queries.ids.to_pylist(), queries.texts.to_pylist())
    atomic_write_bytes(path, "".join(
        json.dumps({"_id": i, "text": x, "metadata": {}}) + "\n"
        for i, x in rows).encode("ascii"))


def write_beir_qrels(qrels: Qrels, path: str | os.PathLike) -> None:
    """Header, then ``query-id<TAB>corpus-id<TAB>score`` lines in row order.

    Lines end in CRLF, as Python's ``csv`` writer (which made BEIR's published
    files) ends them; readers, ours included, take either."""
    for field, values in (("query-id", qrels.query_ids), ("corpus-id", qrels.doc_ids)):
        bad = pc.match_substring_regex(values, r"^\s|\s$|[\t\n\r]|^$")
        if pc.any(bad).as_py():
            row = pc.index(bad, True).as_py()
            raise FormatError(f"row {row + 1}: {values[row].as_py()!r} cannot be written "
                              "in a TSV file (empty, tab, line break or edge spaces)",
                              source=str(path), field=field)
    lines = pc.binary_join_element_wise(
        qrels.query_ids, qrels.doc_ids, pa.array(qrels.relevance).cast(pa.string()), "\t")
    text = "".join(line + "\r\n" for line in ["\t".join(QRELS_HEADER), *lines.to_pylist()])
    atomic_write_bytes(path, text.encode("utf-8"))
