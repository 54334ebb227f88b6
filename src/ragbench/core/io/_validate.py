"""Row checks shared by the readers and writers of every format."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ragbench.core.errors import FormatError


def _codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, int]:
    enc = pc.dictionary_encode(values)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks() if enc.num_chunks != 1 else enc.chunk(0)
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(enc.dictionary)


def _pair_keys(query_ids, doc_ids) -> np.ndarray:
    qi, _ = _codes(query_ids)
    di, nd = _codes(doc_ids)
    return qi * max(nd, 1) + di


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _string_hashes(values: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """A 64-bit hash of each (non-null) string, or None for strings too long
    for this method (over 64 bytes).

    The strings are padded to one width ``w`` (a no-op for fixed-format ids), so
    the data buffer is an ``n x w/8`` matrix of uint64 words, hashed with
    vectorised mixing: no per-string work, unlike a hash table of strings."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.uint64)
    shortest, longest = int(lengths.min()), int(lengths.max())
    if longest > 64:
        return None
    width = max(8, -(-longest // 8) * 8)
    if not shortest == longest == width:
        values = pc.utf8_rpad(values, width, " ")  # pads characters, not bytes:
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset:
                                                                 values.offset + n + 1]
    if int(offsets[-1]) - int(offsets[0]) != width * n:  # so non-ASCII may not fit
        return None
    raw = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    words = raw.view(np.uint64).reshape(n, width // 8)
    h = _mix(words[:, 0] ^ lengths)
    for j in range(1, width // 8):
        h = _mix(h ^ words[:, j])
    return h


def has_duplicates(query_ids, doc_ids=None) -> bool:
    """True if a (query, doc) pair, or a single id when ``doc_ids`` is None, repeats.

    Hashes first (fast, see :func:`_string_hashes`); only equal hashes, a real
    repeat or a rare collision, pay for the exact check with a hash table."""
    columns = [query_ids] if doc_ids is None else [query_ids, doc_ids]
    hashes = [_string_hashes(c) for c in columns]
    if all(h is not None for h in hashes):
        key = hashes[0] if len(hashes) == 1 else _mix(hashes[0] ^ _mix(hashes[1] + np.uint64(1)))
        key = np.sort(key)
        if not np.any(key[1:] == key[:-1]):
            return False
    key = _codes(query_ids)[0] if doc_ids is None else _pair_keys(query_ids, doc_ids)
    return len(pc.unique(pa.array(key))) != len(key)


def first_duplicate(query_ids, doc_ids=None) -> tuple[int, int] | None:
    """``(row, first_row)``, 0-based, of the earliest row that repeats an earlier
    (query, doc) pair (or id), or None."""
    key = _codes(query_ids)[0] if doc_ids is None else _pair_keys(query_ids, doc_ids)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    repeats = np.flatnonzero(first[inverse] != np.arange(len(key)))
    if not len(repeats):
        return None
    row = int(repeats[0])
    return row, int(first[inverse[row]])


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
