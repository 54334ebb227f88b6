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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine

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
        self.hits = 0
        self.misses = 0

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

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_caches: WeakKeyDictionary[Engine, LeaderboardCache] = WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> LeaderboardCache:
    """The cache of the database behind ``engine`` (ids are only unique within one)."""
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = LeaderboardCache()
        return cache
