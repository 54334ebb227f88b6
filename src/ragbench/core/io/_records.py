"""JSON Lines records with a fixed set of fields (BEIR corpus/queries, run rows).

Two tiers, as for the text formats: Arrow's JSON reader for files that are
exactly one valid object per line, and a line-by-line reader (``json.loads``)
that is the only place producing errors, so that ``file:line`` and the field
are always exact. The fast tier's result is used only when the slow tier would
give the same table: the bytes are UTF-8, there are as many rows as non-blank
lines (Arrow also takes two objects on one line, or one object over several
lines; only both at once, in equal numbers, would slip through), required
fields are present, numbers finite and unique keys unique.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from ragbench.core.errors import FormatError
from ragbench.core.io._validate import has_duplicates

# kind -> Arrow type: "id" (a non-empty string, or an integer taken as its digits),
# "str" (a string), "float" (a finite number).
_TYPES = {"id": pa.string(), "str": pa.string(), "float": pa.float64()}
_BLANK_LINE = re.compile(rb"^[ \t\r\f\v]*$", re.MULTILINE)


def read_records(data: bytes, source: str, fields: dict[str, str], *,
                 optional: tuple[str, ...] = (), unique: tuple[str, ...] = ()) -> pa.Table:
    """Table with one column per entry of ``fields`` (name -> kind), one row per
    non-blank line. Fields not listed are ignored; a missing or null optional
    field is null; ``unique`` names the field(s) whose value (combination) must
    not repeat."""
    table = _fast(data, fields)
    if table is not None and _acceptable(table, data, fields, optional, unique):
        return table
    return _slow(data, source, fields, optional, unique)


def _fast(data: bytes, fields: dict[str, str]) -> pa.Table | None:
    schema = pa.schema([(name, _TYPES[kind]) for name, kind in fields.items()])
    if not is_utf8(data):
        return None  # Arrow would replace the bad bytes silently
    try:
        return pajson.read_json(
            pa.py_buffer(data),
            read_options=pajson.ReadOptions(block_size=1 << 24),
            parse_options=pajson.ParseOptions(explicit_schema=schema,
                                              unexpected_field_behavior="ignore",
                                              newlines_in_values=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def is_utf8(data: bytes) -> bool:
    """Arrow's vectorised UTF-8 validation (a few times faster than bytes.decode)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    raw = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        raw.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _acceptable(table: pa.Table, data: bytes, fields: dict[str, str],
                optional: tuple[str, ...], unique: tuple[str, ...]) -> bool:
    if table.num_rows != count_nonblank_lines(data, table.num_rows):
        return False  # two objects on a line, or one object over several lines
    for name, kind in fields.items():
        column = table[name]
        if name not in optional and column.null_count:
            return False
        if kind == "id" and len(column) and pc.min(pc.binary_length(column)).as_py() == 0:
            return False
        if kind == "float" and not np.all(np.isfinite(
                column.to_numpy(zero_copy_only=False).astype(np.float64))):
            return False
    if unique:
        columns = [table[name] for name in unique]
        if has_duplicates(*columns):
            return False
    return True


def count_nonblank_lines(data: bytes, rows: int) -> int:
    """Lines holding something other than whitespace. The regular expression is
    slow on big files, so it runs only when the plain line count disagrees
    with ``rows``."""
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if lines == rows:
        return lines
    # MULTILINE '$' also matches after the final newline: that is no line.
    return lines - (len(_BLANK_LINE.findall(data)) - data.endswith(b"\n"))


def _slow(data: bytes, source: str, fields: dict[str, str], optional: tuple[str, ...],
          unique: tuple[str, ...]) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in fields}
    seen: dict[tuple, int] = {}
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        record = parse_line(raw, source, lineno)
        for name, kind in fields.items():
            columns[name].append(_value(record.get(name), kind, name in optional,
                                        source, lineno, name))
        if unique:
            key = tuple(columns[name][-1] for name in unique)
            first = seen.setdefault(key, lineno)
            if first != lineno:
                shown = ", ".join(f"{n} {v!r}" for n, v in zip(unique, key))
                raise FormatError(f"duplicate {shown} (first at line {first})",
                                  source=source, line=lineno, field=unique[-1])
    return pa.table({name: pa.array(values, type=_TYPES[fields[name]])
                     for name, values in columns.items()})


def parse_line(raw: bytes, source: str, lineno: int) -> dict:
    """One JSON object from one line, or a FormatError saying where it breaks."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"undecodable bytes (not UTF-8) at byte {exc.start + 1}",
                          source=source, line=lineno) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc.msg} (column {exc.colno})",
                          source=source, line=lineno) from None
    if not isinstance(record, dict):
        raise FormatError(f"expected a JSON object, found {type(record).__name__}",
                          source=source, line=lineno)
    return record


def _value(value, kind: str, optional: bool, source: str, line: int, field: str):
    if value is None:
        if optional:
            return None
        raise FormatError("missing (or null)", source=source, line=line, field=field)
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
            raise FormatError(f"{value!r} is not a finite number", source=source,
                              line=line, field=field)
        raise FormatError(f"expected a number, found {json.dumps(value)[:40]}",
                          source=source, line=line, field=field)
    if kind == "id" and value == "":
        raise FormatError("empty", source=source, line=line, field=field)
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # "\ud800": valid JSON, but no character
                raise FormatError("holds a lone surrogate escape (not text)", source=source,
                                  line=line, field=field) from None
        return value
    if kind == "id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise FormatError(f"expected a string, found {json.dumps(value)[:40]}",
                      source=source, line=line, field=field)
