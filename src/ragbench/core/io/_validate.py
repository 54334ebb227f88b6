"""Row checks shared by the readers and writers of every format."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.doc_keys import _plain, equality_keys, first_repeat
from ragbench.core.errors import FormatError


def _keys(query_ids, doc_ids=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(qi, hi, lo) keys of each row for :func:`~ragbench.core.doc_keys.first_repeat`."""
    if doc_ids is None:
        hi, lo = equality_keys(query_ids)
        return np.zeros(len(hi), dtype=np.int64), hi, lo
    enc = pc.dictionary_encode(_plain(query_ids))
    qi = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return (qi, *equality_keys(doc_ids))


def has_duplicates(query_ids, doc_ids=None) -> bool:
    """True if a (query, doc) pair, or a single id when ``doc_ids`` is None, repeats."""
    return first_repeat(*_keys(query_ids, doc_ids)) is not None


def first_duplicate(query_ids, doc_ids=None) -> tuple[int, int] | None:
    """``(row, first_row)``, 0-based, of the earliest row that repeats an earlier
    (query, doc) pair (or id), or None."""
    return first_repeat(*_keys(query_ids, doc_ids))


def first_with_whitespace(values: pa.Array) -> int | None:
    """Row of the first empty value or value containing ASCII whitespace (which
    the whitespace-separated formats cannot represent), or None.

    A value holds whitespace only if the array's data buffer does, and a byte
    search over the buffer is much faster than a regular expression per value:
    the expression runs only to find the row once the buffer has a hit."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    n = len(values)
    if n == 0:
        return None
    empty = pc.min(pc.binary_length(values)).as_py() == 0
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset:
                                                                 values.offset + n + 1]
    raw = values.buffers()[2]
    data = raw.to_pybytes()[int(offsets[0]):int(offsets[-1])] if raw is not None else b""
    if not empty and not any(c in data for c in (b" ", b"\t", b"\n", b"\r", b"\x0b",
                                                  b"\x0c")):
        return None
    bad = pc.or_(pc.match_substring_regex(values, r"[ \t\n\r\x0b\x0c]"),
                 pc.equal(pc.binary_length(values), 0))
    return int(pc.index(bad, True).as_py())


def id_column(values, source: str, field: str) -> pa.Array:
    """``values`` as a non-null string array; integer ids become their digits."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    t = values.type
    if pa.types.is_dictionary(t):
        values, t = values.cast(t.value_type), t.value_type
    if pa.types.is_integer(t) or pa.types.is_large_string(t):
        values = values.cast(pa.string())
    elif not pa.types.is_string(values.type):
        raise FormatError(f"expected strings, found {t}", source=source, field=field)
    if values.null_count:
        row = int(pc.index(pc.is_null(values), True).as_py())
        raise FormatError(f"row {row + 1}: missing (null)", source=source, field=field)
    return values


def check_results_table(table: pa.Table, source: str) -> pa.Table:
    """Per-query results: a unique, non-null ``query_id`` (strings; integers are
    taken as their digits) and number or string columns. Returns the table
    with ``query_id`` as strings."""
    if "query_id" not in table.column_names:
        raise FormatError("missing column", source=source, field="query_id")
    qids = id_column(table["query_id"], source, "query_id")
    dup = first_duplicate(qids)
    if dup is not None:
        row, first = dup
        raise FormatError(f"row {row + 1}: query {qids[row].as_py()!r} again "
                          f"(first at row {first + 1})", source=source, field="query_id")
    for name, t in zip(table.column_names, table.schema.types):
        if name != "query_id" and not (pa.types.is_integer(t) or pa.types.is_floating(t)
                                       or pa.types.is_string(t) or pa.types.is_null(t)
                                       or pa.types.is_large_string(t)):
            raise FormatError(f"expected numbers or strings, found {t}", source=source,
                              field=name)
    return table.set_column(table.column_names.index("query_id"), "query_id", qids)
