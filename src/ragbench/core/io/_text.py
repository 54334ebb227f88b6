"""Shared plumbing for the whitespace-separated text formats (TREC qrels and runs).

Reading is two-tier. Well-formed files (single-space or single-tab separated, no
comments) go straight to Arrow's multithreaded CSV parser. Anything else, and any
file the fast parser rejects, is read line by line by :func:`split_lines`, which
is also the only place that produces errors: that keeps ``file:line`` exact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from ragbench.core.errors import FormatError

_IRREGULAR = re.compile(rb"[\t\r\f\v]|  |^ | $|^#", re.MULTILINE)


def read_bytes(path: str | os.PathLike) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FormatError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise FormatError("is a directory, expected a file", source=str(path)) from None
    if not data.strip():
        raise FormatError("file is empty", source=str(path))
    return data


def fast_table(data: bytes, names: list[str], types: dict[str, pa.DataType],
               keep: list[str]) -> pa.Table | None:
    """Parse single-space separated lines with Arrow; None if the file is irregular
    or Arrow rejects it (the caller then falls back to :func:`split_lines`)."""
    if _IRREGULAR.search(data) is not None:
        return None
    try:
        return pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False,
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


def split_lines(data: bytes, source: str, ncols: int,
                fields: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, columns)`` for every non-blank, non-comment line.

    Any run of spaces/tabs separates columns; a line whose first non-blank
    character is ``#`` is a comment (``#`` inside a column is kept).
    """
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        parts = raw.split()
        if not parts or parts[0].startswith(b"#"):
            continue
        if len(parts) != ncols:
            raise FormatError(
                f"expected {ncols} columns ({' '.join(fields)}), found {len(parts)}",
                source=source, line=lineno,
            )
        try:
            yield lineno, [p.decode("utf-8") for p in parts]
        except UnicodeDecodeError as exc:
            raise FormatError(
                f"undecodable bytes (not UTF-8) at byte {exc.start} of the line",
                source=source, line=lineno,
            ) from None


def parse_number(text: str, *, kind: type, source: str, line: int, field: str):
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise FormatError(f"{text!r} is not {what}", source=source, line=line,
                          field=field) from None
    if kind is float and (value != value or value in (float("inf"), float("-inf"))):
        raise FormatError(f"{text!r} is not a finite number", source=source, line=line,
                          field=field)
    return value
