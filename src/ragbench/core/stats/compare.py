"""Compare several retrieval systems on the same queries: one call, one leaderboard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ._validation import (
    choice,
    generator,
    paired_differences,
    positive_int,
    probability,
    score_vector,
)
from .correction import CORRECTIONS, Correction, adjust_p_values
from .effect import CI_METHODS, CiMethod, _dz, _win_tie_loss
from .errors import StatsError
from .groups import SignificanceGroup, significance_groups
from .interval import ConfidenceInterval, bootstrap_intervals, t_interval
from .paired import paired_t_test, wilcoxon_test
from .randomization import randomization_p_values

__all__ = ["TESTS", "Leaderboard", "PairComparison", "SystemSummary", "compare_systems"]

Test = Literal["t", "wilcoxon", "randomization"]
TESTS: tuple[str, ...] = ("t", "wilcoxon", "randomization")


@dataclass(frozen=True, slots=True)
class SystemSummary:
    """One system: its rank (1 = highest mean), mean score and t-interval of the mean.

    ``letters`` are its significance-group letters (empty when compared to a baseline).
    """

    name: str
    rank: int
    mean: float
    ci_low: float
    ci_high: float
    letters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PairComparison:
    """``system`` versus ``other``; every difference is ``system - other``.

    ``p_value`` is the raw two-sided p-value of the leaderboard's test,
    ``p_value_corrected`` its multiple-comparison-adjusted value and ``significant`` is
    ``p_value_corrected <= alpha``. ``effect_size_dz`` is Cohen's d_z; wins/ties/losses
    count queries where ``system`` is above / equal to / below ``other``.
    """

    system: str
    other: str
    mean_difference: float
    ci_low: float
    ci_high: float
    ci_method: str
    p_value: float
    p_value_corrected: float
    significant: bool
    effect_size_dz: float
    wins: int
    ties: int
    losses: int


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """Systems best first, the compared pairs, and the significance groups.

    ``groups`` is ``None`` when comparing against a baseline (untested pairs cannot be
    grouped). ``to_dict()`` (or ``dataclasses.asdict``) gives plain Python values; an
    infinite d_z stays ``float('inf')``.
    """

    systems: tuple[SystemSummary, ...]
    pairs: tuple[PairComparison, ...]
    groups: tuple[SignificanceGroup, ...] | None
    baseline: str | None
    test: str
    correction: str
    alpha: float
    confidence_level: float
    n_queries: int
    n_resamples: int
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def pair(self, system: str, other: str) -> PairComparison:
        """The comparison of ``system`` and ``other``, as stored (in either orientation)."""
        for comparison in self.pairs:
            if {comparison.system, comparison.other} == {system, other}:
                return comparison
        raise KeyError(f"no comparison of {system!r} and {other!r} in this leaderboard")


def compare_systems(
    scores: Mapping[str, ArrayLike],
    *,
    baseline: str | None = None,
    test: Test = "t",
    correction: Correction = "holm",
    alpha: float = 0.05,
    n_resamples: int = 10_000,
    seed: int | np.random.Generator = 0,
    confidence_level: float = 0.95,
    ci_method: CiMethod | None = None,
) -> Leaderboard:
    """Leaderboard of systems with paired tests, corrected p-values and effect sizes.

    ``scores[name][i]`` is system ``name``'s score on query ``i`` (same query order for
    all). Systems are ranked by mean score (ties keep input order). Compared pairs:
    every pair ``(better, worse)`` by rank when ``baseline`` is None, else every
    ``(system, baseline)``; the correction runs over exactly that family.

    * System CI: Student-t, ``mean ± t_{n-1} * sd / sqrt(n)`` at ``confidence_level``.
    * Difference CI (``ci_method``): ``"t"`` (the paired t interval), ``"bca"`` or
      ``"percentile"`` (paired bootstrap, ``n_resamples``); default ``"t"`` for the
      t-test and ``"bca"`` for the others.
    * ``test="randomization"`` draws one sign matrix shared by all pairs and the
      bootstrap draws one set of resampled queries shared by all pairs (see
      :mod:`ragbench.core.stats.randomization`). With an int ``seed`` each of the two
      starts from ``default_rng(seed)``, so every p-value and interval equals what
      :func:`randomization_test` / :func:`bootstrap_ci` return for that pair and seed;
      a Generator is drawn from in that order instead.
    """
    test = choice(test, name="test", allowed=TESTS)
    correction = choice(correction, name="correction", allowed=CORRECTIONS)
    alpha = probability(alpha, name="alpha")
    level = probability(confidence_level, name="confidence_level")
    n_resamples = positive_int(n_resamples, name="n_resamples")
    if ci_method is None:
        ci_method = "t" if test == "t" else "bca"
    choice(ci_method, name="ci_method", allowed=CI_METHODS)
    generator(seed)  # reject a bad seed before any work

    vectors = _score_table(scores)
    names = list(vectors)
    if baseline is not None and baseline not in vectors:
        raise StatsError(f"baseline {baseline!r} is not one of the systems {names}")
    means = {name: float(values.mean()) for name, values in vectors.items()}
    ranked = sorted(names, key=lambda name: -means[name])  # stable: ties keep input order

    if baseline is None:
        compared = [
            (ranked[i], ranked[j]) for i in range(len(ranked)) for j in range(i + 1, len(ranked))
        ]
    else:
        compared = [(name, baseline) for name in ranked if name != baseline]
    differences = np.stack([paired_differences(vectors[x], vectors[y]) for x, y in compared])

    raw = _p_values(test, compared, vectors, differences, n_resamples, seed)
    corrected = adjust_p_values(raw, method=correction)
    intervals = _difference_intervals(differences, ci_method, level, n_resamples, seed)

    pairs = []
    for k, (x, y) in enumerate(compared):
        record = _win_tie_loss(differences[k])
        pairs.append(
            PairComparison(
                system=x,
                other=y,
                mean_difference=float(differences[k].mean()),
                ci_low=intervals[k].low,
                ci_high=intervals[k].high,
                ci_method=intervals[k].method,
                p_value=float(raw[k]),
                p_value_corrected=float(corrected[k]),
                significant=bool(corrected[k] <= alpha),
                effect_size_dz=_dz(differences[k]),
                wins=record.wins,
                ties=record.ties,
                losses=record.losses,
            )
        )

    groups = None
    letters: dict[str, tuple[str, ...]] = {name: () for name in names}
    if baseline is None:
        groups = significance_groups(
            ranked, [(pair.system, pair.other) for pair in pairs if pair.significant]
        )
        for group in groups:
            for name in group.systems:
                letters[name] += (group.letter,)

    systems = []
    for rank, name in enumerate(ranked, start=1):
        low, high = t_interval(vectors[name], level)
        systems.append(SystemSummary(name, rank, means[name], low, high, letters[name]))

    return Leaderboard(
        systems=tuple(systems),
        pairs=tuple(pairs),
        groups=groups,
        baseline=baseline,
        test=test,
        correction=correction,
        alpha=alpha,
        confidence_level=level,
        n_queries=differences.shape[1],
        n_resamples=n_resamples,
        seed=None if isinstance(seed, np.random.Generator) else int(seed),
    )


def _score_table(scores: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
    if not isinstance(scores, Mapping):
        raise StatsError(
            f"scores must be a mapping of system name to scores, got {type(scores).__name__}"
        )
    if len(scores) < 2:
        raise StatsError(f"need at least 2 systems to compare, got {len(scores)}")
    vectors: dict[str, np.ndarray] = {}
    for name, values in scores.items():
        if not isinstance(name, str) or not name:
            raise StatsError(f"system names must be non-empty strings, got {name!r}")
        vectors[name] = score_vector(values, name=f"scores[{name!r}]")
    lengths = {name: values.size for name, values in vectors.items()}
    if len(set(lengths.values())) != 1:
        raise StatsError(f"all systems must be scored on the same queries; lengths: {lengths}")
    return vectors


def _p_values(
    test: str,
    compared: list[tuple[str, str]],
    vectors: dict[str, np.ndarray],
    differences: np.ndarray,
    n_resamples: int,
    seed: int | np.random.Generator,
) -> np.ndarray:
    if test == "randomization":
        return randomization_p_values(differences, n_resamples=n_resamples, seed=generator(seed))
    run = paired_t_test if test == "t" else wilcoxon_test
    return np.array([run(vectors[x], vectors[y]).p_value for x, y in compared])


def _difference_intervals(
    differences: np.ndarray,
    ci_method: str,
    level: float,
    n_resamples: int,
    seed: int | np.random.Generator,
) -> list[ConfidenceInterval]:
    if ci_method == "t":
        return [ConfidenceInterval(*t_interval(row, level), level, "t") for row in differences]
    return bootstrap_intervals(
        differences,
        confidence_level=level,
        method=ci_method,
        n_resamples=n_resamples,
        seed=generator(seed),
    )
