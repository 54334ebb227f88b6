"""Request and response bodies of comparisons and leaderboards.

A comparison body and a leaderboard body share one shape (:class:`LeaderboardRead`):
systems best first with the t-interval of their mean, the tested pairs, the
significance groups. A stored comparison adds its ``id`` and ``created_at``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragbench.schemas import UtcDatetime

Test = Literal["t", "wilcoxon", "randomization"]
Correction = Literal["holm", "bonferroni", "bh", "none"]




class ComparisonCreate(BaseModel):
    """``metric`` is a ragbench measure (``nDCG@10``, ``AP``, ``P(rel=2)@5``) or a family
    name (``ndcg``, ``map``, ``mrr``, ``precision``, ``recall``) with its cutoff in ``k``."""

    system_ids: list[int] = Field(min_length=2, max_length=100)
    dataset_id: int
    metric: str = Field(default="nDCG@10", min_length=1, max_length=100)
    k: int | None = Field(default=None, ge=1, le=100_000)
    test: Test = "t"
    correction: Correction = "holm"
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    #: Compare every system with this one only (no significance groups then).
    baseline_system_id: int | None = None
    #: Randomization test permutations and bootstrap resamples.
    n_resamples: int = Field(default=10_000, ge=100, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)


class RankedSystem(BaseModel):
    """One system of the ranking: mean over the paired queries and its 95% t-interval."""

    rank: int
    system_id: int
    name: str
    evaluation_id: int
    mean: float
    ci_low: float
    ci_high: float
    #: Significance-group letters: systems sharing a letter are not significantly
    #: different. Empty when compared to a baseline.
    groups: list[str]
    #: Queries of this system's evaluation left out because another system lacks them.
    queries_dropped: int


class PairTest(BaseModel):
    """``system`` versus ``other``; differences are ``system - other`` per query."""

    system_id: int
    other_system_id: int
    mean_difference: float
    ci_low: float
    ci_high: float
    #: "t" (paired t interval), "bca" or "percentile" (paired bootstrap).
    ci_method: str
    p_value: float
    p_value_corrected: float
    significant: bool
    #: Cohen's d_z = mean(d) / sd(d); null when every difference is the same non-zero
    #: value (sd = 0, d_z infinite).
    effect_size_dz: float | None
    wins: int
    ties: int
    losses: int


class SignificanceGroupRead(BaseModel):
    letter: str
    system_ids: list[int]


class LeaderboardRead(BaseModel):
    dataset_id: int
    measure: str
    test: str
    correction: str
    alpha: float
    confidence_level: float
    n_resamples: int
    seed: int
    baseline_system_id: int | None
    #: Queries every compared system was scored on (the paired set).
    n_queries: int
    #: Evaluation used for each system, in ``system_ids`` order.
    system_ids: list[int]
    evaluation_ids: list[int]
    ranking: list[RankedSystem]
    pairs: list[PairTest]
    #: None when compared to a baseline (untested pairs cannot be grouped).
    groups: list[SignificanceGroupRead] | None


class ComparisonRead(LeaderboardRead):
    id: int
    created_at: UtcDatetime


class ComparisonSummary(BaseModel):
    """A stored comparison in a listing (the full body is at GET /comparisons/{id})."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    dataset_id: int
    measure: str
    test: str
    correction: str
    alpha: float
    system_ids: list[int]
    evaluation_ids: list[int]
    created_at: UtcDatetime
