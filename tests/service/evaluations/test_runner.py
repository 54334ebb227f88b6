"""The runner on its own: backoff delays, the ranking kept from a response, and
the bound on requests in flight against a real HTTP system."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

import pytest

from fake_systems import system_app
from ragbench.evaluations.runner import (Backoff, UnusableRanking, ranking_from_hits,
                                         ranking_from_pairs, run_queries)
from ragbench.systems.client import SystemSpec, connect_spec

from .toy_collection import QUERY_IDS, QUERY_TEXTS, RANKINGS, returned_run


def test_backoff_doubles_up_to_the_cap_with_seeded_jitter():
    backoff = Backoff(base_s=0.1, max_s=0.5, jitter=0.5)
    draws = random.Random(42)
    u = [draws.random() for _ in range(5)]
    # retry n waits min(0.5, 0.1 * 2^(n-1)) * (1 - 0.5 u_n)
    expected = [c * (1 - 0.5 * x) for c, x in zip([0.1, 0.2, 0.4, 0.5, 0.5], u)]
    rng = random.Random(42)
    assert [backoff.delay(n, rng) for n in range(1, 6)] == pytest.approx(expected, abs=1e-15)
    assert Backoff(jitter=0).delay(3, random.Random(1)) == pytest.approx(0.4)


def test_ranking_keeps_first_occurrence_and_refuses_non_finite_scores():
    hits = [SimpleNamespace(doc_id=d, score=s) for d, s in
            [("a", 3.0), ("b", 2.0), ("a", 9.0), ("c", 2.0)]]
    assert ranking_from_hits(hits) == (("a", 3.0), ("b", 2.0), ("c", 2.0))
    with pytest.raises(UnusableRanking, match="finite"):
        ranking_from_hits([SimpleNamespace(doc_id="a", score=float("nan"))])


def test_pairs_give_the_same_ranking_as_hits():
    pairs = [("a", 3.0), ("b", 2.0), ("a", 9.0), ("c", 2.0)]
    assert ranking_from_pairs(pairs) == (("a", 3.0), ("b", 2.0), ("c", 2.0))
    assert ranking_from_pairs(pairs[:2]) == (("a", 3.0), ("b", 2.0))
    assert ranking_from_pairs([]) == ()
    with pytest.raises(UnusableRanking, match="'b' has a score that is not a finite number"):
        ranking_from_pairs([("a", 1.0), ("b", float("inf"))])


def test_the_system_client_is_asked_for_pairs(settings, serve):
    """A retriever with ``retrieve_pairs`` (the system client) is asked through it, and
    its outcomes are those of the same system asked through ``retrieve``."""
    url = serve(system_app(RANKINGS))

    class HitsOnly:
        def __init__(self, client) -> None:
            self.client = client

        async def retrieve(self, query: str, top_k: int):
            return await self.client.retrieve(query, top_k)

    async def main():
        by_path = {}
        async with connect_spec(SystemSpec(base_url=url, adapter="ragbench"),
                                settings=settings) as client:
            asked = []
            pairs = client.retrieve_pairs

            async def counted(query: str, top_k: int):
                asked.append(query)
                return await pairs(query, top_k)

            client.retrieve_pairs = counted
            queries = [(q, QUERY_TEXTS[q]) for q in QUERY_IDS]
            for name, retriever in (("pairs", client), ("hits", HitsOnly(client))):
                outcomes = []
                await run_queries([retriever], queries, top_k=5, concurrency=2, timeout_s=5,
                                  retries=0, on_outcome=outcomes.append)
                by_path[name] = {o.query_id: o.hits for o in outcomes}
        return asked, by_path

    asked, by_path = asyncio.run(main())
    assert len(asked) == len(QUERY_IDS)  # the hits-only wrapper never reaches it
    assert by_path["pairs"] == by_path["hits"]
    expected = returned_run(top_k=5)
    assert {q: dict(h) for q, h in by_path["pairs"].items()} == expected


def test_requests_in_flight_never_exceed_the_concurrency(settings, serve):
    url = serve(system_app(RANKINGS, latency_s=0.03))

    class Counting:
        """The system client, counting its requests in flight."""

        def __init__(self, client) -> None:
            self.client, self.now, self.most = client, 0, 0

        async def retrieve(self, query: str, top_k: int):
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                return await self.client.retrieve(query, top_k)
            finally:
                self.now -= 1

    async def main():
        outcomes = []
        async with connect_spec(SystemSpec(base_url=url, adapter="ragbench"),
                                settings=settings, max_connections=3) as client:
            counting = Counting(client)
            queries = [(q, QUERY_TEXTS[q]) for q in QUERY_IDS] * 2
            stats = await run_queries([counting], queries, top_k=100, concurrency=3,
                                      timeout_s=5, retries=0, on_outcome=outcomes.append)
        return counting.most, stats, outcomes

    most, stats, outcomes = asyncio.run(main())
    assert most == 3
    assert stats.answered == 2 * len(QUERY_IDS) and stats.failed == 0
    expected = returned_run()
    assert all(dict(o.hits) == expected[o.query_id] for o in outcomes)
    assert all(o.ok and o.attempts == 1 and o.latency_ms >= 30 for o in outcomes)
