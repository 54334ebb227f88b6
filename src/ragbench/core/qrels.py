"""Columnar relevance judgments (no I/O: see :mod:`ragbench.core.io`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.doc_keys import equality_keys, first_repeat, fixed_keys
from ragbench.core.errors import FormatError


def _string_array(values, name: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if pa.types.is_large_string(values.type):
            values = values.cast(pa.string())
        if not pa.types.is_string(values.type):
            raise FormatError(f"must be strings, got {values.type}", field=name)
        if values.null_count:
            raise FormatError("must not contain nulls", field=name)
        return values
    return pa.array([str(v) for v in values], type=pa.string())


class _Pairs:
    """What Qrels and Run share: (query, doc) rows, unique, with cached encodings
    that ranking reuses instead of hashing the ids again."""

    query_ids: pa.Array
    doc_ids: pa.Array
    source: str | None
    _repeat_message = "appears more than once for query"
    _value_attr = "values"  # the third column's attribute ("relevance", "scores")
    _value_column = "value"  # and its name in tables ("relevance", "score")

    @staticmethod
    def _columns_from_dict(nested: Mapping[str, Mapping[str, object]], kind: type):
        """``{query_id: {doc_id: value}}`` -> three lists (ids as strings)."""
        qids, dids, values = [], [], []
        for qid, docs in nested.items():
            for did, value in docs.items():
                qids.append(str(qid))
                dids.append(str(did))
                values.append(kind(value))
        return qids, dids, values

    def to_dict(self) -> dict[str, dict[str, object]]:
        """``{query_id: {doc_id: value}}``."""
        out: dict[str, dict[str, object]] = {}
        values = getattr(self, self._value_attr).tolist()
        for q, d, v in zip(self.query_ids.to_pylist(), self.doc_ids.to_pylist(), values):
            out.setdefault(q, {})[d] = v
        return out

    def to_table(self) -> pa.Table:
        return pa.table({"query_id": self.query_ids, "doc_id": self.doc_ids,
                         self._value_column: getattr(self, self._value_attr)})

    def __len__(self) -> int:
        return len(self.query_ids)

    def query_set(self) -> set[str]:
        return set(self.query_ids.unique().to_pylist())

    @cached_property
    def query_codes(self) -> tuple[np.ndarray, pa.Array]:
        """``(codes, distinct)``: each row's query as an index into ``distinct``."""
        enc = pc.dictionary_encode(self.query_ids)
        return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary  # int32

    @cached_property
    def doc_keys(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Byte-order keys of the doc ids (see :mod:`ragbench.core.doc_keys`), or
        None when an id is longer than 16 bytes."""
        return fixed_keys(self.doc_ids)

    @classmethod
    def _trusted(cls, *, query_codes: tuple[np.ndarray, pa.Array],
                 doc_keys: tuple[np.ndarray, np.ndarray] | None, checked: bool, **fields):
        """For readers only: an instance from columns the reader has already
        validated -- string ids without nulls, columns of one length, finite
        float64 scores or int64 grades -- with the ``query_codes`` and
        ``doc_keys`` caches filled from the reader's own pass over the file
        (they must equal what the properties would compute). ``checked``: the
        reader has verified that no (query, doc) pair repeats; otherwise the
        usual check runs here (FormatError on a repeat)."""
        obj = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            if f.name in fields:
                value = fields.pop(f.name)
            elif f.default is not dataclasses.MISSING:
                value = f.default
            else:
                raise TypeError(f"{cls.__name__}._trusted: missing {f.name}")
            object.__setattr__(obj, f.name, value)
        if fields:
            raise TypeError(f"{cls.__name__}._trusted: unknown {sorted(fields)}")
        obj.__dict__["query_codes"] = query_codes  # cached_property storage
        obj.__dict__["doc_keys"] = doc_keys
        if not checked:
            obj._check_unique()
        return obj

    def _check_unique(self) -> None:
        keys = self.doc_keys or equality_keys(self.doc_ids)
        repeat = first_repeat(self.query_codes[0], *keys)
        if repeat is not None:
            row, first = repeat
            raise FormatError(
                f"row {row + 1}: document {self.doc_ids[row].as_py()!r} {self._repeat_message} "
                f"{self.query_ids[row].as_py()!r} (first at row {first + 1})",
                source=self.source, field="doc_id")


@dataclass(frozen=True, eq=False)
class Qrels(_Pairs):
    """Graded relevance judgments, one row per (query, document).

    ``relevance`` follows trec_eval: a non-negative integer grade, or a negative
    value for a document that is in the pool but was not judged.
    """

    query_ids: pa.Array
    doc_ids: pa.Array
    relevance: np.ndarray
    source: str | None = None
    _repeat_message = "is judged more than once for query"
    _value_attr = _value_column = "relevance"

    def __post_init__(self) -> None:
        object.__setattr__(self, "query_ids", _string_array(self.query_ids, "query_id"))
        object.__setattr__(self, "doc_ids", _string_array(self.doc_ids, "doc_id"))
        rel = np.asarray(self.relevance)
        if rel.dtype.kind not in "iu":
            if rel.dtype.kind == "f" and np.all(np.isfinite(rel)) and np.all(rel == np.round(rel)):
                rel = rel.astype(np.int64)
            elif len(rel):
                raise FormatError("must be integers", source=self.source, field="relevance")
        object.__setattr__(self, "relevance", rel.astype(np.int64, copy=False))
        n = len(self.query_ids)
        if len(self.doc_ids) != n or len(self.relevance) != n:
            raise FormatError(
                f"columns differ in length: query_id {n}, doc_id {len(self.doc_ids)}, "
                f"relevance {len(self.relevance)}",
                source=self.source,
            )
        self._check_unique()

    @classmethod
    def from_dict(cls, judgments: Mapping[str, Mapping[str, int]]) -> Qrels:
        """``{query_id: {doc_id: grade}}`` -> Qrels."""
        qids, dids, rels = cls._columns_from_dict(judgments, int)
        return cls(qids, dids, np.asarray(rels, dtype=np.int64))
