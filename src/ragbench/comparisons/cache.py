"""Leaderboard statistics, kept per database so a request does not recompute them.

A leaderboard's statistics depend only on the evaluations it ranks (completed
evaluations never change) and the test settings, so they are cached under
``("statistics", (dataset_id, measure, test, correction, alpha, n_resamples, seed,
((system_id, newest finished_at, completed evaluations), ...)))`` — the per-system
triple pins down the latest evaluation (see :mod:`ragbench.comparisons.latest`) —
and their JSON text under ``("json", that key, system names)``. A newly completed
evaluation, an archived or a renamed system changes the key; nothing needs
invalidating. Concurrent misses on one key compute it once (the others wait for
that result), so a burst of first requests runs one randomization test, not fifty.

Finding that key takes a database read. To serve the hot path without it, the JSON
text is also kept per request (dataset and query parameters) with the
:mod:`~ragbench.comparisons.freshness` generation seen before that read and the
time it started: it is served again while the generation is unchanged (no write
that could change it committed in this process) and for at most
:data:`~ragbench.comparisons.freshness.FRESH_S` seconds (writes by other processes).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine

from ragbench.comparisons import freshness

#: Entries kept per database (least recently used go first). A 20-system leaderboard
#: takes two: its statistics (~130 kB of Python objects) and its JSON text (~60 kB),
#: so this bounds the cache near 25 MB per database.
MAX_ENTRIES = 256


class LeaderboardCache:
    """A thread-safe LRU map from a leaderboard key to its statistics body."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self._bodies: OrderedDict[Hashable, tuple[int, float, bytes]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.body_hits = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value of ``key``, else ``compute()`` (once, whoever asks meanwhile).

        Callers must not modify the returned value: it is shared.
        """
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:
                    self.hits += 1
                    return self._entries[key]
                self.misses += 1
            try:
                value = compute()
                with self._lock:
                    self._entries[key] = value
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
            finally:
                with self._lock:
                    self._computing.pop(key, None)
        return value

    def fresh_body(self, request: Hashable) -> bytes | None:
        """The body kept for ``request`` by :meth:`keep_body`, if still fresh."""
        kept = self._bodies.get(request)
        if kept is None:
            return None
        seen, read_at, body = kept
        if seen != freshness.generation() or time.monotonic() - read_at >= freshness.FRESH_S:
            return None
        self.body_hits += 1
        return body

    def keep_body(self, request: Hashable, body: bytes, *, seen: int, read_at: float) -> None:
        """Keep ``body`` for ``request``: read from the database from ``read_at``
        (``time.monotonic()``) on, at generation ``seen`` (both taken before the read)."""
        with self._lock:
            self._bodies[request] = (seen, read_at, body)
            self._bodies.move_to_end(request)
            while len(self._bodies) > self.max_entries:
                self._bodies.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bodies.clear()


_caches: WeakKeyDictionary[Engine, LeaderboardCache] = WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> LeaderboardCache:
    """The cache of the database behind ``engine`` (ids are only unique within one)."""
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = LeaderboardCache()
        return cache
