"""The leaderboard cache: least recently used entries go first; concurrent misses on
one key compute it once."""

from __future__ import annotations

import threading
import time

import pytest

from ragbench.comparisons.cache import LeaderboardCache


def test_concurrent_misses_compute_once():
    cache = LeaderboardCache()
    calls = []
    start = threading.Barrier(8)

    def compute():
        calls.append(1)
        time.sleep(0.05)  # long enough for every thread to arrive while it runs
        return {"value": 42}

    results = []

    def ask():
        start.wait()
        results.append(cache.get_or_compute("key", compute))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert all(result is results[0] for result in results) and len(results) == 8
    assert (cache.misses, cache.hits) == (1, 7)


def test_least_recently_used_entry_goes_first():
    cache = LeaderboardCache(max_entries=2)
    cache.get_or_compute("a", lambda: 1)
    cache.get_or_compute("b", lambda: 2)
    cache.get_or_compute("a", lambda: -1)  # a hit: "a" becomes the most recent
    cache.get_or_compute("c", lambda: 3)  # evicts "b"
    assert cache.get_or_compute("a", lambda: -1) == 1
    assert cache.get_or_compute("b", lambda: 20) == 20


def test_a_failed_computation_is_not_cached():
    cache = LeaderboardCache()

    def fail():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", fail)
    assert cache.get_or_compute("k", lambda: 5) == 5
