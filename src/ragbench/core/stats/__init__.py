"""Paired statistics for comparing retrieval systems on the same queries.

Every function takes per-query score vectors paired by query (same order, same length)
as numpy arrays or sequences of floats, and works on ``d_i = a_i - b_i``.

Tests (two-sided): :func:`paired_t_test`, :func:`wilcoxon_test`,
:func:`randomization_test` (sign flip; exact for <= 16 non-zero differences) and the
batched :func:`randomization_p_values`. Intervals: :func:`mean_confidence_interval`
(Student t), :func:`bootstrap_ci` / :func:`bootstrap_intervals` (paired bootstrap, BCa
or percentile). Effect sizes: :func:`mean_difference`, :func:`cohens_dz`,
:func:`win_tie_loss`. Corrections: :func:`adjust_p_values` (Holm, Bonferroni, BH).
Leaderboards: :func:`compare_systems` and :func:`significance_groups`.

Conventions: ``|d_i| <= TIE_TOLERANCE`` (1e-12) is a tie (d_i = 0); all-zero
differences give p = 1.0, never NaN; randomness comes only from ``seed`` (an int or a
``numpy.random.Generator``) and an int seed gives the same answer on every run and
thread. Results are frozen dataclasses with ``to_dict()``.

Errors: :class:`StatsError` (a ``ValueError``) for any unusable input — unequal
lengths, fewer than 2 queries, NaN/inf scores, non-1-D arrays, p-values outside [0, 1],
unknown method names, bad seeds, unknown baseline. See :mod:`.errors`.
"""

from ._validation import TIE_TOLERANCE
from .compare import TESTS, Leaderboard, PairComparison, SystemSummary, compare_systems
from .correction import CORRECTIONS, adjust_p_values
from .effect import CI_METHODS, MeanDifference, WinTieLoss, cohens_dz, mean_difference, win_tie_loss
from .errors import StatsError
from .groups import SignificanceGroup, significance_groups
from .interval import (
    BOOTSTRAP_METHODS,
    ConfidenceInterval,
    bootstrap_ci,
    bootstrap_intervals,
    mean_confidence_interval,
)
from .paired import PairedTest, paired_t_test, randomization_test, wilcoxon_test
from .randomization import EXACT_MAX_NONZERO, RELATIVE_TIE_TOLERANCE, randomization_p_values

__all__ = [
    "BOOTSTRAP_METHODS",
    "CI_METHODS",
    "CORRECTIONS",
    "EXACT_MAX_NONZERO",
    "RELATIVE_TIE_TOLERANCE",
    "TESTS",
    "TIE_TOLERANCE",
    "ConfidenceInterval",
    "Leaderboard",
    "MeanDifference",
    "PairComparison",
    "PairedTest",
    "SignificanceGroup",
    "StatsError",
    "SystemSummary",
    "WinTieLoss",
    "adjust_p_values",
    "bootstrap_ci",
    "bootstrap_intervals",
    "cohens_dz",
    "compare_systems",
    "mean_confidence_interval",
    "mean_difference",
    "paired_t_test",
    "randomization_p_values",
    "randomization_test",
    "significance_groups",
    "wilcoxon_test",
    "win_tie_loss",
]
