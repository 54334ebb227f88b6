"""Shared plumbing for the whitespace-separated text formats (TREC qrels and runs,
BEIR qrels TSV).

Reading is three-tier. When the optional C accelerator is built, a TREC file is
read in one pass by :func:`parse_accelerated`, which gives up (None) on anything
unusual: a non-ASCII id, a repeated pair, a malformed line. Otherwise regular
files (single-space separated, no comments) go straight to Arrow's multithreaded
CSV parser; other files are first rewritten in memory to that shape by
:func:`normalise` (line numbers are kept: a comment becomes a blank line). Any
file the fast parser rejects is read line by line by :func:`split_lines`, which
is the only place that produces errors: that keeps ``file:line`` exact, and the
tiers agree because the slow one defines the format (any run of ASCII whitespace
separates columns; a line whose first column starts with ``#`` is a comment).
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ragbench.core._native import accel
from ragbench.core.errors import FormatError

_BOM = b"\xef\xbb\xbf"
# The separators bytes.split() knows besides space and newline.
_TO_SPACE = bytes.maketrans(b"\t\r\x0b\x0c", b"    ")
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NONFINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes without a UTF-8 byte-order mark; an empty file is an error."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FormatError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise FormatError("is a directory, expected a file", source=str(path)) from None
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    if not data or data.isspace():
        raise FormatError("file is empty", source=str(path))
    return data


@dataclass(frozen=True, eq=False)
class Parsed:
    """A TREC file's columns as :func:`parse_accelerated` reads them."""

    query_ids: pa.Array
    doc_ids: pa.Array
    values: np.ndarray  # float64 scores (run) or int64 grades (qrels)
    query_codes: tuple[np.ndarray, pa.Array]  # as _Pairs.query_codes
    doc_keys: tuple[np.ndarray, np.ndarray] | None  # as doc_keys.fixed_keys
    checked: bool  # (query, doc) pairs verified unique
    last_tag: str  # run: the tag column of the last line


RUN, QRELS = 0, 1


def parse_accelerated(path: str | os.PathLike, kind: int) -> Parsed | None:
    """Read a TREC run (``kind=RUN``) or qrels (``QRELS``) file with the C
    accelerator, or None when it is off, the file cannot be mapped, or the
    file holds anything the accelerator leaves to the readers below.

    The file is memory-mapped, not read: no copy of a file that can be
    hundreds of megabytes (the result does not refer to the mapping). As with
    any mapping, a file truncated by another process while it is being read
    ends the process (SIGBUS) instead of raising an error."""
    c = accel()
    if c is None:
        return None
    try:
        with open(path, "rb") as f, \
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped, \
                memoryview(mapped) as whole:
            start = len(_BOM) if whole[:len(_BOM)] == _BOM else 0
            with whole[start:] as body:
                res = c.parse_trec(body, kind)
                if res is None:
                    return None
                tag = bytes(body[res[12]:res[12] + res[13]]).decode("utf-8", "replace")
    except (OSError, ValueError, MemoryError):  # no such file, a directory, empty..
        return None  # the readers below report it, or manage it
    (n, doc_off, doc_chars, q_off, q_chars, values, hi, lo, codes, first, longest,
     checked) = res[:12]
    query_ids = _strings(n, q_off, q_chars)
    # (pa.array() on a numpy array would import pandas: 0.2 s)
    first_rows = pa.Array.from_buffers(pa.int32(), len(first) // 4, [None, pa.py_buffer(first)])
    distinct = query_ids.take(first_rows)
    keys = None
    if longest <= 16:
        lo = (np.frombuffer(lo, dtype=np.uint64) if lo is not None
              else np.broadcast_to(np.uint64(0), (n,)))  # as fixed_keys: ids <= 8 bytes
        keys = np.frombuffer(hi, dtype=np.uint64), lo
    return Parsed(query_ids, _strings(n, doc_off, doc_chars),
                  np.frombuffer(values, dtype=np.float64 if kind == RUN else np.int64),
                  (np.frombuffer(codes, dtype=np.int32), distinct), keys, bool(checked), tag)


def _strings(n: int, offsets: bytearray, chars: bytearray) -> pa.Array:
    return pa.Array.from_buffers(pa.string(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def has_other_separators(data: bytes) -> bool:
    """True if ``data`` holds a separator other than the single space and newline
    that Arrow is told about. Single-byte searches run at memchr speed; runs of
    spaces, leading spaces and comment lines are caught after parsing instead
    (see :func:`fast_table`), where they cost nothing on a regular file."""
    return any(c in data for c in (b"\t", b"\r", b"\x0b", b"\x0c"))


def is_regular(data: bytes) -> bool:
    """True if ``data`` needs no normalising: single spaces between columns, no
    comment lines. (Diagnostics and tests; :func:`fast_table` finds this out more
    cheaply by parsing.)"""
    if has_other_separators(data) or data.startswith((b" ", b"#")) or data.endswith(b" "):
        return False
    return not any(c in data for c in (b"\n#", b"  ", b"\n ", b" \n"))


def normalise(data: bytes) -> bytes:
    """Rewrite ``data`` to single-space separated lines without comments, keeping every line where
    it was: separators become single spaces, comment lines become blank."""
    data = data.translate(_TO_SPACE)
    while b"  " in data:
        data = data.replace(b"  ", b" ")
    data = data.replace(b"\n ", b"\n").replace(b" \n", b"\n")
    if data.startswith(b" "):
        data = data[1:]
    if data.endswith(b" "):
        data = data[:-1]
    if data.startswith(b"#") or b"\n#" in data:
        data = _blank_comments(data)
    return data


def _blank_comments(data: bytes) -> bytes:
    """Empty every line that starts with ``#``, keeping its newline. Jumps from
    comment to comment with ``find``: a regular expression substitution takes
    seconds on a few hundred megabytes even when there is one comment."""
    pieces, pos = [], 0
    start = 0 if data.startswith(b"#") else _next_comment(data, 0)
    while start >= 0:
        pieces.append(data[pos:start])
        end = data.find(b"\n", start)
        if end < 0:
            return b"".join(pieces)
        pos = end
        start = _next_comment(data, end)
    pieces.append(data[pos:])
    return b"".join(pieces)


def _next_comment(data: bytes, pos: int) -> int:
    i = data.find(b"\n#", pos)
    return i + 1 if i >= 0 else -1


def fast_table(data: bytes, names: list[str], types: dict[str, pa.DataType],
               keep: list[str], *, delimiter: str = " ") -> pa.Table | None:
    """Parse ``data`` with Arrow; None if Arrow rejects it (the caller then falls
    back to :func:`split_lines`, which says what is wrong and where).

    With the default ``delimiter`` a file is first tried as it is. A run of
    spaces or a leading space shows up as an empty value (or a wrong column
    count), a comment line as a first column starting with ``#``: then the file
    is normalised and parsed again."""
    if delimiter != " ":
        return _arrow_table(data, names, types, keep, delimiter)
    if not has_other_separators(data):
        table = _arrow_table(data, names, types, keep, delimiter)
        if table is not None and _plainly_parsed(table, names[0]):
            return table
    return _arrow_table(normalise(data), names, types, keep, delimiter)


def _plainly_parsed(table: pa.Table, first: str) -> bool:
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_string(column.type) and len(column) and \
                pc.min(pc.binary_length(column)).as_py() == 0:
            return False
    return not (first in table.column_names and
                pc.any(pc.starts_with(table[first], "#")).as_py())


def _arrow_table(data: bytes, names, types, keep, delimiter) -> pa.Table | None:
    try:
        return pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False,
                                             double_quote=False, escape_char=False,
                                             newlines_in_values=False,
                                             ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=keep,
                                                 strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False,
                                                 null_values=[]),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    finally:
        # Hand the parser's scratch memory back to the system now, for the numpy
        # arrays that follow; Arrow's allocator would otherwise keep it.
        pa.default_memory_pool().release_unused()


def split_lines(data: bytes, source: str, ncols: int, fields: tuple[str, ...], *,
                rest_ignored: bool = False) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, columns)`` for every non-blank, non-comment line.

    Any run of ASCII whitespace separates columns; a line whose first column
    starts with ``#`` is a comment (``#`` anywhere else is kept). With
    ``rest_ignored``, columns after the ``ncols``-th are dropped (trec_eval
    ignores the rest of a run line after the tag).
    """
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        parts = raw.split()
        if not parts or parts[0].startswith(b"#"):
            continue
        if len(parts) != ncols:
            if rest_ignored and len(parts) > ncols:
                parts = parts[:ncols]
            else:
                least = "at least " if rest_ignored else ""
                raise FormatError(
                    f"expected {least}{ncols} columns ({' '.join(fields)}), "
                    f"found {len(parts)}", source=source, line=lineno)
        try:
            yield lineno, [p.decode("utf-8") for p in parts]
        except UnicodeDecodeError:
            column = next(i for i, p in enumerate(parts) if not _is_utf8(p))
            raise FormatError("undecodable bytes (not UTF-8)", source=source,
                              line=lineno, field=fields[column]) from None


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_number(text: str, *, kind: type, source: str, line: int | None, field: str):
    """``int`` or finite ``float`` written in plain ASCII decimal; Python's own
    parsers also take ``1_000``, other scripts' digits and ``inf``, which no
    other tool reading these files would."""
    if kind is int:
        if _INT.fullmatch(text):
            value = int(text)
            if -(2**63) <= value < 2**63:
                return value
            raise FormatError(f"{text!r} is out of the 64-bit integer range",
                              source=source, line=line, field=field)
        raise FormatError(f"{text!r} is not an integer", source=source, line=line,
                          field=field)
    if _FLOAT.fullmatch(text):
        value = float(text)
        if value not in (float("inf"), float("-inf")):
            return value
    if _FLOAT.fullmatch(text) or _NONFINITE.fullmatch(text):
        raise FormatError(f"{text!r} is not a finite number", source=source, line=line,
                          field=field)
    raise FormatError(f"{text!r} is not a number", source=source, line=line, field=field)


def constant_strings(text: str, n: int) -> pa.Array:
    """A large_string column holding ``text`` n times, built from buffers."""
    raw = text.encode("utf-8")
    offsets = np.arange(n + 1, dtype=np.int64) * len(raw)
    return pa.Array.from_buffers(pa.large_string(), n,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)])


def joined_lines(columns: list, sep: str, end: str = "\n") -> pa.Buffer:
    """Row ``i`` of every column joined by ``sep`` and ended by ``end``, all rows
    back to back: Arrow string kernels, no Python loop per row. Numbers are
    formatted by Arrow's cast (floats in the shortest form that reads back to
    the same float64). The result can be written to a file as it is."""
    n = len(columns[0])
    if n == 0:
        return pa.py_buffer(b"")
    strings = [c.cast(pa.large_string()) for c in columns]
    lines = pc.binary_join_element_wise(*strings, pa.scalar(sep, pa.large_string()))
    lines = pc.binary_join_element_wise(lines, constant_strings(end, n),
                                        pa.scalar("", pa.large_string()))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    # A string array's data buffer is all its values back to back.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:]
    lo, hi = int(offsets[0]), int(offsets[n])
    return lines.buffers()[2].slice(lo, hi - lo)
