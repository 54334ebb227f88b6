"""The trec_eval measure family: one named measure with optional parameters.

A :class:`Family` is what trec_eval calls a measure (``P``, ``ndcg_cut``,
``utility`` ...). Its parameters come in one of trec_eval's five shapes and
decide the printed names (``P_5``, ``iprec_at_recall_0.10``, ``utility_2,-1,0,0``).
``compute`` returns one column per printed name and one row per query of a
:class:`~ragbench.core.ranking.RankedRelevance`; ``average`` says how the
``all`` row summarises it.

Families register themselves in :data:`FAMILIES` with :func:`register`, which
:mod:`ragbench.core.metrics` calls for each module in a fixed list (no import
side effects beyond that list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from ragbench.core.errors import MeasureError
from ragbench.core.ranking import RankedRelevance

ParamKind = Literal["none", "long_cutoffs", "double_cutoffs", "double_params", "pairs"]
Average = Literal["mean", "sum", "gm", "none"]
ValueType = Literal["float", "int", "str"]

MIN_GEO_MEAN = 1e-5  # trec_eval floors values at this before a geometric mean


class Family:
    """Base class: subclasses set the class attributes and implement ``compute``."""

    name: ClassVar[str]
    explanation: ClassVar[str] = ""
    param_kind: ClassVar[ParamKind] = "none"
    default_params: ClassVar[tuple | None] = None
    value_type: ClassVar[ValueType] = "float"
    average: ClassVar[Average] = "mean"
    per_query_only: ClassVar[bool] = False  # relstring: no 'all' row
    summary_only: ClassVar[bool] = False  # runid, num_q: no per-query rows

    def compute(self, rr: RankedRelevance, params: tuple | None) -> np.ndarray:
        """(num_queries, len(output_names)) values for every evaluated query."""
        raise NotImplementedError

    def summarise(self, values: np.ndarray) -> np.ndarray:
        """The ``all`` row from per-query ``values`` (one column per output)."""
        if self.average == "sum":
            return values.sum(axis=0)
        if self.average == "gm":
            if len(values) == 0:
                return np.zeros(values.shape[1])
            logs = np.log(np.maximum(values, MIN_GEO_MEAN))
            return np.exp(np.cumsum(logs, axis=0)[-1] / len(values))
        if len(values) == 0:
            return np.zeros(values.shape[1])
        # trec_eval adds query by query; a pairwise sum can differ in the last bit,
        # which shows when a mean sits on a 4th-decimal rounding boundary.
        return np.cumsum(values, axis=0, dtype=np.float64)[-1] / len(values)

    # ---- parameters -------------------------------------------------------
    def parse_params(self, text: str | None) -> tuple[tuple | None, str | None]:
        """trec_eval's parameter string -> (params, printable); None -> defaults."""
        if text is None:
            return self.default_params, None
        kind = self.param_kind
        if kind == "none":
            raise MeasureError(f"measure {self.name!r} takes no parameters, got {text!r}")
        if text == "":
            raise MeasureError(f"measure {self.name!r}: empty parameter list")
        parts = text.split(",")
        if kind == "long_cutoffs":
            values = sorted(_c_long(p, self.name) for p in parts)
            if values[0] <= 0:
                raise MeasureError(f"measure {self.name!r}: cutoffs must be > 0, got {text!r}")
            if len(set(values)) != len(values):
                raise MeasureError(f"measure {self.name!r}: duplicate cutoffs in {text!r}")
            return tuple(values), text
        if kind == "double_cutoffs":
            values = sorted(_c_double(p, self.name) for p in parts)
            if len(set(values)) != len(values):
                raise MeasureError(f"measure {self.name!r}: duplicate cutoffs in {text!r}")
            return tuple(values), text
        if kind == "double_params":
            return tuple(_c_double(p, self.name) for p in parts), text
        pairs = []
        for p in parts:
            key, sep, value = p.partition("=")
            if not sep or not key:
                raise MeasureError(
                    f"measure {self.name!r}: malformed name=value parameters in {text!r}")
            pairs.append((key, _c_double(value, self.name)))
        return tuple(pairs), text

    def output_names(self, params: tuple | None, printable: str | None) -> list[str]:
        kind = self.param_kind
        if kind == "long_cutoffs":
            return [f"{self.name}_{c}" for c in params]
        if kind == "double_cutoffs":
            return [f"{self.name}_{c:3.2f}" for c in params]
        if kind in ("double_params", "pairs") and printable is not None:
            return [f"{self.name}_{printable}"]
        return [self.name]


def _c_long(text: str, name: str) -> int:
    """C ``atol``-like: leading integer part of ``text`` ('23.4' -> 23)."""
    t = text.strip()
    digits = ""
    for i, ch in enumerate(t):
        if ch.isdigit() or (i == 0 and ch in "+-"):
            digits += ch
        else:
            break
    try:
        return int(digits)
    except ValueError:
        raise MeasureError(f"measure {name!r}: {text!r} is not an integer cutoff") from None


def _c_double(text: str, name: str) -> float:
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        raise MeasureError(f"measure {name!r}: {text!r} is not a number") from None


FAMILIES: dict[str, Family] = {}


def register(cls: type[Family]) -> type[Family]:
    """Class decorator: add one instance of ``cls`` to :data:`FAMILIES`."""
    if cls.name in FAMILIES:
        raise RuntimeError(f"measure family {cls.name!r} registered twice")
    FAMILIES[cls.name] = cls()
    return cls


@dataclass(frozen=True)
class TrecMeasure:
    """A family with its parameters resolved, as one ``-m`` argument selects it."""

    family: Family
    params: tuple | None
    printable: str | None

    @property
    def names(self) -> list[str]:
        return self.family.output_names(self.params, self.printable)

    def compute(self, rr: RankedRelevance) -> np.ndarray:
        return self.family.compute(rr, self.params)
