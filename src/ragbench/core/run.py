"""Columnar ranked results of one system (no I/O: see :mod:`ragbench.core.io`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ragbench.core.errors import FormatError
from ragbench.core.qrels import _Pairs, _string_array


@dataclass(frozen=True, eq=False)
class Run(_Pairs):
    """Scored documents per query, one row per (query, document).

    Row order carries no meaning: rankings are always derived from the scores,
    ties broken by document id descending (trec_eval's rule).
    """

    query_ids: pa.Array
    doc_ids: pa.Array
    scores: np.ndarray
    name: str = "run"
    source: str | None = None
    _repeat_message = "is retrieved more than once for query"
    _value_attr, _value_column = "scores", "score"

    def __post_init__(self) -> None:
        object.__setattr__(self, "query_ids", _string_array(self.query_ids, "query_id"))
        object.__setattr__(self, "doc_ids", _string_array(self.doc_ids, "doc_id"))
        scores = np.asarray(self.scores)
        if scores.dtype.kind not in "fiu":
            raise FormatError("must be numbers", source=self.source, field="score")
        scores = scores.astype(np.float64, copy=False)
        if len(scores) and not np.all(np.isfinite(scores)):
            bad = int(np.flatnonzero(~np.isfinite(scores))[0])
            raise FormatError(
                f"row {bad + 1}: score is not a finite number ({scores[bad]!r})",
                source=self.source,
                field="score",
            )
        object.__setattr__(self, "scores", scores)
        n = len(self.query_ids)
        if len(self.doc_ids) != n or len(self.scores) != n:
            raise FormatError(
                f"columns differ in length: query_id {n}, doc_id {len(self.doc_ids)}, "
                f"score {len(self.scores)}",
                source=self.source,
            )
        self._check_unique()

    @classmethod
    def from_dict(cls, results: Mapping[str, Mapping[str, float]], name: str = "run") -> Run:
        """``{query_id: {doc_id: score}}`` -> Run."""
        qids, dids, scores = cls._columns_from_dict(results, float)
        return cls(qids, dids, np.asarray(scores, dtype=np.float64), name=name)
