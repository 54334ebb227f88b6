"""What the reference systems search over, and what a search gives back.

* :class:`Documents`: a BEIR corpus as plain Python lists, with the text that is
  indexed (``title + " " + text``, or the text alone when the title is empty — the
  convention of BEIR's own lexical and dense baselines);
* :class:`Ranking`: positions into :class:`Documents` with their scores, best first;
* :func:`top_ranking`: the ``k`` best of a score vector, ties in corpus order;
* :class:`Retriever`: what every reference system offers the server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ragbench.core.io.beir import Corpus, read_beir_corpus


@dataclass(frozen=True, eq=False)
class Documents:
    """``ids[i]`` has ``titles[i]`` and ``texts[i]``."""

    ids: list[str]
    titles: list[str]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_corpus(cls, corpus: Corpus) -> Documents:
        return cls(corpus.ids.to_pylist(), corpus.titles.to_pylist(), corpus.texts.to_pylist())

    def indexed_texts(self) -> list[str]:
        """The text each system indexes: ``title + " " + text`` (just ``text`` when the
        title is empty)."""
        return [f"{title} {text}" if title else text
                for title, text in zip(self.titles, self.texts)]


def load_documents(dataset: str | os.PathLike) -> Documents:
    """The corpus of a BEIR folder (``<dataset>/corpus.jsonl``).

    Raises ``FileNotFoundError`` when the folder or file is missing, and
    :class:`ragbench.core.errors.FormatError` (a ``ValueError``) when it is malformed.
    """
    folder = Path(dataset)
    path = folder / "corpus.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no corpus.jsonl in {folder} (expected a BEIR folder)")
    documents = Documents.from_corpus(read_beir_corpus(path))
    if not len(documents):
        raise ValueError(f"{path} holds no documents")
    return documents


@dataclass(frozen=True, eq=False)
class Ranking:
    """``indices[j]`` (a position in :class:`Documents`) scored ``scores[j]``; best first."""

    indices: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    @classmethod
    def empty(cls) -> Ranking:
        return cls(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))


class Retriever(Protocol):
    """A searchable index. Systems with query vectors (dense, hybrid) also have
    ``embed(text) -> np.ndarray``."""

    kind: str  # "bm25", "dense" or "hybrid"
    model: str | None  # the embedding model's name, None for bm25
    documents: Documents

    def search(self, query: str, top_k: int) -> Ranking: ...


def top_ranking(scores: np.ndarray, k: int, *, candidates: np.ndarray | None = None) -> Ranking:
    """The ``k`` highest ``scores`` (all of them when there are fewer), best first;
    equal scores keep corpus order so that a ranking never depends on the platform.

    ``candidates``, when given, are the document positions the scores belong to
    (``scores[j]`` is the score of document ``candidates[j]``).
    """
    scores = np.asarray(scores, dtype=np.float64)
    positions = np.arange(len(scores)) if candidates is None else np.asarray(candidates)
    if len(scores) > k:
        # Keep every document tied with the k-th score, so the tie break below sees
        # all of them and not an arbitrary subset chosen by the partition.
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        scores, positions = scores[keep], positions[keep]
    order = np.lexsort((positions, -scores))[:k]
    return Ranking(positions[order].astype(np.int64), scores[order])
