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
        qids, dids, scores = [], [], []
        for qid, docs in results.items():
            for did, score in docs.items():
                qids.append(str(qid))
                dids.append(str(did))
                scores.append(float(score))
        return cls(qids, dids, np.asarray(scores, dtype=np.float64), name=name)

    def to_dict(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for q, d, s in zip(
            self.query_ids.to_pylist(), self.doc_ids.to_pylist(), self.scores.tolist()
        ):
            out.setdefault(q, {})[d] = s
        return out

    def __len__(self) -> int:
        return len(self.query_ids)

    def query_set(self) -> set[str]:
        return set(self.query_ids.unique().to_pylist())

    def to_table(self) -> pa.Table:
        return pa.table({"query_id": self.query_ids, "doc_id": self.doc_ids, "score": self.scores})
