"""JSON as the service reads and writes it: orjson, with the standard library for
what orjson refuses, so that nothing the standard library accepts is refused.

orjson is about 10x the standard library's speed on what the runner moves (a
retrieval answer, a stored ranking, per-query values). It refuses integers beyond
64 bits when writing, and NaN, Infinity and such integers when reading; those go
to the standard library, whose error messages are also the ones reported for text
that is not JSON at all.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def dumpb(value: Any) -> bytes:
    """``value`` as UTF-8 JSON bytes."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value).encode()


def dumps(value: Any) -> str:
    """``value`` as JSON text."""
    return dumpb(value).decode()


def loads(data: str | bytes) -> Any:
    """The value of JSON ``data``; raises ``ValueError`` (the standard library's,
    saying where) or ``UnicodeDecodeError`` when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
