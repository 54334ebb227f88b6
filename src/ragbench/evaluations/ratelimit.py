"""Pacing the requests of one batch task: a token bucket in front of a retriever.

The bucket holds at most one token and refills at ``rate_per_s``, so requests
leave at most every ``1 / rate_per_s`` seconds, bursts included: a system that
says "10 queries per second" never sees 11 in any second. Each caller reserves
the next free slot before it sleeps (no lock is needed on one event loop), so
waiters go in arrival order; a reservation abandoned by a cancelled caller is
simply not reused, which errs on the slow side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from ragbench.evaluations.runner import Retriever


class TokenBucket:
    """At most ``rate_per_s`` acquisitions per second: the ``n``-th call of
    :meth:`acquire` (n = 0, 1, ...) returns no earlier than ``t0 + n / rate_per_s``,
    where ``t0`` is the first call, and later when the caller itself is late."""

    def __init__(self, rate_per_s: float, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s!r}")
        self.interval_s = 1.0 / rate_per_s
        self._clock = clock
        self._next_slot: float | None = None

    def reserve(self) -> float:
        """Seconds to wait before the reserved slot (0 when a token is there)."""
        now = self._clock()
        slot = now if self._next_slot is None else max(now, self._next_slot)
        self._next_slot = slot + self.interval_s
        return slot - now

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class RateLimitedRetriever:
    """A retriever whose every request (retries included) first takes a token.
    It offers ``retrieve_pairs`` when the retriever it wraps does."""

    def __init__(self, retriever: Retriever, bucket: TokenBucket) -> None:
        self.retriever = retriever
        self.bucket = bucket
        if getattr(retriever, "retrieve_pairs", None) is None:
            self.retrieve_pairs = None  # the runner then calls retrieve

    async def retrieve(self, query: str, top_k: int) -> Sequence[Any]:
        await self.bucket.acquire()
        return await self.retriever.retrieve(query, top_k)

    async def retrieve_pairs(self, query: str, top_k: int) -> Sequence[tuple[str, float]]:
        await self.bucket.acquire()
        return await self.retriever.retrieve_pairs(query, top_k)


def paced(retriever: Retriever, rate_limit_qps: float | None) -> Retriever:
    """``retriever`` itself without a limit, else behind a fresh :class:`TokenBucket`."""
    if rate_limit_qps is None:
        return retriever
    return RateLimitedRetriever(retriever, TokenBucket(rate_limit_qps))
