"""Querying a system under test: every query once, with bounded concurrency,
a per-request timeout and retries with exponential backoff.

The runner knows nothing of the database or of HTTP details: it drives any
*retriever* (an object with ``async retrieve(query, top_k)`` returning hits
with ``doc_id`` and ``score``, such as :class:`ragbench.systems.client.SystemClient`)
and hands each :class:`QueryOutcome` to a callback as soon as the query is
settled. What counts as retryable is the retriever's say: an exception with
``retryable = True`` (the system client's ``SystemCallError`` for timeouts,
connection errors, 5xx and 429) or a timeout of the runner's own clock.

A query that still fails after its retries is an outcome too (``ok=False``,
with the last error): it is never dropped, so it can be counted, listed and
scored as an empty ranking.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Retriever(Protocol):
    """``retrieve`` returns hits with ``doc_id`` and ``score``, best first. A retriever
    may also offer ``retrieve_pairs(query, top_k)`` returning ``(doc_id, score)``
    tuples (as :class:`ragbench.systems.client.SystemClient` does): the runner then
    calls that instead, which saves building an object per hit."""

    async def retrieve(self, query: str, top_k: int) -> Sequence[Any]: ...


@dataclass(frozen=True)
class Backoff:
    """Delay before the ``n``-th retry (n = 1, 2, ...), in seconds:
    ``min(max_s, base_s * 2 ** (n - 1)) * (1 - jitter * u)`` with ``u ~ U(0, 1)``
    drawn from the caller's RNG, so that retries of many queries spread out
    instead of hitting a recovering system at the same instant."""

    base_s: float = 0.1
    max_s: float = 5.0
    jitter: float = 0.5

    def delay(self, retry: int, rng: random.Random) -> float:
        ceiling = min(self.max_s, self.base_s * 2.0 ** (retry - 1))
        return ceiling * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """One settled query.

    ``hits``: ``(doc_id, score)`` in the system's order, first occurrence of a
    repeated document only (empty for a failed query). ``latency_ms``: wall time
    of the successful attempt (None when failed). ``attempts``: requests sent
    (1 + retries used). ``error``: the last failed attempt's message, also for a
    query answered on a retry (None when the first attempt was answered).
    """

    query_id: str
    ok: bool
    hits: tuple[tuple[str, float], ...]
    latency_ms: float | None
    attempts: int
    error: str | None

    @property
    def status(self) -> str:
        return "ok" if self.ok else "failed"


@dataclass(frozen=True)
class QueryingStats:
    """What one call of :func:`run_queries` did: ``answered`` (ok) and ``failed``
    queries, and ``wall_s``, seconds from the first request to the last outcome."""

    answered: int
    failed: int
    wall_s: float

    @property
    def throughput_qps(self) -> float | None:
        """Answered queries per wall second, None when nothing was answered."""
        if self.answered == 0 or self.wall_s <= 0:
            return None
        return self.answered / self.wall_s


class UnusableRanking(Exception):
    """A response whose ranking cannot be used (not retried: it would come back the same)."""


def ranking_from_hits(hits: Sequence[Any]) -> tuple[tuple[str, float], ...]:
    """``(doc_id, score)`` pairs from a system's hits, in its order.

    A document listed twice keeps its first (best-ranked) occurrence: a run holds
    one score per (query, document). A score that is not a finite number is
    refused: no ranking can be derived from it."""
    first: dict[str, float] = {}
    for hit in hits:
        first.setdefault(hit.doc_id, hit.score)
    return _checked(first)


def ranking_from_pairs(pairs: Sequence[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    """:func:`ranking_from_hits` for ``(doc_id, score)`` pairs."""
    first = dict(pairs)
    if len(first) != len(pairs):  # a repeated document: its first occurrence counts
        first = {}
        for doc_id, score in pairs:
            first.setdefault(doc_id, score)
    return _checked(first)


def _checked(first: dict[str, float]) -> tuple[tuple[str, float], ...]:
    if not all(map(math.isfinite, first.values())):
        doc_id, score = next((d, s) for d, s in first.items() if not math.isfinite(s))
        raise UnusableRanking(f"document {doc_id!r} has a score that is not a finite number "
                              f"({score!r})")
    return tuple(first.items())


def _describe(exc: BaseException, timeout_s: float) -> tuple[str, bool]:
    """``(message, retryable)`` of a failed attempt."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s (timeout)", True
    if isinstance(exc, UnusableRanking):
        return str(exc), False
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message, bool(getattr(exc, "retryable", False))


async def query_with_retries(retriever: Retriever, query_id: str, text: str, *, top_k: int,
                             timeout_s: float, retries: int, backoff: Backoff,
                             rng: random.Random) -> QueryOutcome:
    """Ask ``retriever`` for ``text``'s top ``top_k``, at most ``1 + retries`` times.

    Each attempt is cut after ``timeout_s`` seconds. Only retryable failures are
    retried, after :meth:`Backoff.delay`; anything else fails the query at once."""
    attempts = 0
    last_error: str | None = None
    retrieve_pairs = getattr(retriever, "retrieve_pairs", None)
    while True:
        attempts += 1
        started = time.perf_counter()
        try:
            if retrieve_pairs is not None:
                async with asyncio.timeout(timeout_s):
                    pairs = await retrieve_pairs(text, top_k)
                ranking = ranking_from_pairs(pairs)
            else:
                async with asyncio.timeout(timeout_s):
                    hits = await retriever.retrieve(text, top_k)
                ranking = ranking_from_hits(hits)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, never raised
            last_error, retryable = _describe(exc, timeout_s)
            if not retryable or attempts > retries:
                return QueryOutcome(query_id, False, (), None, attempts, last_error)
            await asyncio.sleep(backoff.delay(attempts, rng))
            continue
        latency_ms = (time.perf_counter() - started) * 1000.0
        return QueryOutcome(query_id, True, ranking, latency_ms, attempts, last_error)


async def run_queries(retrievers: Sequence[Retriever], queries: Iterable[tuple[str, str]], *,
                      top_k: int, concurrency: int, timeout_s: float, retries: int,
                      on_outcome: Callable[[QueryOutcome], None],
                      backoff: Backoff = Backoff(), rng: random.Random | None = None,
                      ) -> QueryingStats:
    """Run every ``(query_id, text)`` of ``queries`` through ``retrievers``.

    At most ``concurrency`` requests are in flight: that many workers share one
    iterator over the queries (no task per query), worker ``i`` asking
    ``retrievers[i % len(retrievers)]``, so each retriever sees at most
    ``ceil(concurrency / len(retrievers))`` requests at once.
    ``on_outcome`` is called once per query, in completion order, from the
    event loop: keep it cheap (append to a buffer). ``rng`` draws the backoff
    jitter (default: ``random.Random(0)``)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if not retrievers:
        raise ValueError("no retriever given")
    rng = rng if rng is not None else random.Random(0)
    pending = iter(queries)
    answered = failed = 0

    async def worker(retriever: Retriever) -> None:
        nonlocal answered, failed
        for query_id, text in pending:
            outcome = await query_with_retries(retriever, query_id, text, top_k=top_k,
                                               timeout_s=timeout_s, retries=retries,
                                               backoff=backoff, rng=rng)
            if outcome.ok:
                answered += 1
            else:
                failed += 1
            on_outcome(outcome)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for i in range(concurrency):
            group.create_task(worker(retrievers[i % len(retrievers)]))
    return QueryingStats(answered, failed, time.perf_counter() - started)
