"""compare_systems: every number equals the standalone function or a reference library."""

import json
from itertools import combinations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from ragbench.core.stats import (
    Leaderboard,
    StatsError,
    bootstrap_ci,
    cohens_dz,
    compare_systems,
    mean_confidence_interval,
    mean_difference,
    paired_t_test,
    randomization_test,
    wilcoxon_test,
    win_tie_loss,
)

STANDALONE = {"t": paired_t_test, "wilcoxon": wilcoxon_test, "randomization": randomization_test}


def _scores(n_systems: int = 5, n_queries: int = 60, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    difficulty = rng.uniform(0.1, 0.9, n_queries)
    scores = {}
    for k in range(n_systems):
        noisy = rng.beta(5 * difficulty, 5 * (1 - difficulty))
        scores[f"sys{k}"] = np.round(np.clip(noisy + 0.04 * k, 0, 1), 2)  # ties, like real measures
    return scores


@pytest.mark.parametrize("test", ["t", "wilcoxon", "randomization"])
@pytest.mark.parametrize("correction", ["holm", "bonferroni", "bh"])
def test_all_pairs_match_standalone_functions(test, correction):
    scores = _scores()
    board = compare_systems(scores, test=test, correction=correction, n_resamples=2000, seed=3)
    assert isinstance(board, Leaderboard)
    means = {name: values.mean() for name, values in scores.items()}
    assert [s.name for s in board.systems] == sorted(scores, key=lambda name: -means[name])
    assert [s.rank for s in board.systems] == [1, 2, 3, 4, 5]
    assert len(board.pairs) == 10

    order = [s.name for s in board.systems]
    assert [(p.system, p.other) for p in board.pairs] == list(combinations(order, 2))
    raw = []
    for pair in board.pairs:
        a, b = scores[pair.system], scores[pair.other]
        kwargs = {"n_resamples": 2000, "seed": 3} if test == "randomization" else {}
        assert pair.p_value == STANDALONE[test](a, b, **kwargs).p_value
        assert pair.mean_difference == pytest.approx(np.mean(a - b), rel=1e-12)
        assert pair.mean_difference >= 0
        assert pair.effect_size_dz == cohens_dz(a, b)
        assert (pair.wins, pair.ties, pair.losses) == tuple(win_tie_loss(a, b).to_dict().values())
        expected_ci = (
            mean_difference(a, b).ci
            if test == "t"
            else bootstrap_ci(a, b, n_resamples=2000, seed=3)
        )
        assert (pair.ci_low, pair.ci_high) == pytest.approx(
            (expected_ci.low, expected_ci.high), rel=1e-12
        )
        assert pair.ci_method == expected_ci.method
        raw.append(pair.p_value)

    name = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh"}[correction]
    reject, corrected, _, _ = multipletests(raw, alpha=0.05, method=name)
    np.testing.assert_allclose([p.p_value_corrected for p in board.pairs], corrected, rtol=1e-12)
    assert [p.significant for p in board.pairs] == reject.tolist()

    for system in board.systems:
        ci = mean_confidence_interval(scores[system.name])
        assert (system.ci_low, system.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
        assert system.mean == means[system.name]


def test_letters_follow_the_significant_pairs():
    scores = _scores(n_systems=6, n_queries=200, seed=1)
    board = compare_systems(scores)
    letters = {s.name: set(s.letters) for s in board.systems}
    assert board.systems[0].letters[0] == "a"
    significant = [p for p in board.pairs if p.significant]
    assert significant and len(significant) < len(board.pairs)  # the case is informative
    for pair in board.pairs:
        assert bool(letters[pair.system] & letters[pair.other]) == (not pair.significant)
    assert {g.letter for g in board.groups} == set().union(*letters.values())


def test_baseline_family_is_each_system_against_the_baseline():
    scores = _scores(n_systems=4, seed=2)
    board = compare_systems(scores, baseline="sys1", correction="holm")
    assert board.groups is None and all(s.letters == () for s in board.systems)
    assert {p.other for p in board.pairs} == {"sys1"}
    assert {p.system for p in board.pairs} == {"sys0", "sys2", "sys3"}
    raw = [paired_t_test(scores[p.system], scores["sys1"]).p_value for p in board.pairs]
    assert [p.p_value for p in board.pairs] == raw
    _, corrected, _, _ = multipletests(raw, method="holm")
    np.testing.assert_allclose([p.p_value_corrected for p in board.pairs], corrected, rtol=1e-12)
    assert board.pair("sys1", "sys0") is board.pair("sys0", "sys1")
    with pytest.raises(KeyError):
        board.pair("sys0", "sys2")


def test_no_correction_and_explicit_ci_method():
    scores = _scores(n_systems=3)
    board = compare_systems(
        scores, test="t", correction="none", ci_method="percentile", n_resamples=500
    )
    for pair in board.pairs:
        assert pair.p_value_corrected == pair.p_value
        assert pair.ci_method == "percentile"


def test_to_dict_is_json_ready():
    board = compare_systems(_scores(n_systems=3), test="randomization", n_resamples=500)
    as_dict = board.to_dict()
    assert as_dict["test"] == "randomization" and as_dict["seed"] == 0
    assert as_dict["pairs"][0]["system"] == board.pairs[0].system
    assert as_dict["systems"][0]["letters"] == board.systems[0].letters
    json.loads(json.dumps(as_dict))


def test_generator_seed_is_recorded_as_none_and_reproducible():
    scores = _scores(n_systems=3, n_queries=80)
    first = compare_systems(
        scores, test="randomization", n_resamples=400, seed=np.random.default_rng(5)
    )
    second = compare_systems(
        scores, test="randomization", n_resamples=400, seed=np.random.default_rng(5)
    )
    assert first == second and first.seed is None


def test_benchmark_scale_run_matches_standalone():
    # The size the randomization test must handle: 10 systems, all 45 pairs, 7,000
    # queries, 10,000 sign flips (one shared sign matrix). Timing is reported, not asserted;
    # the t interval keeps the bootstrap out of it.
    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0.1, 0.9, 7000)
    scores = {
        f"sys{k}": np.clip(rng.beta(4 * difficulty, 4 * (1 - difficulty)) + 0.004 * k, 0, 1)
        for k in range(10)
    }
    board = compare_systems(scores, test="randomization", n_resamples=10_000, seed=0, ci_method="t")
    assert len(board.pairs) == 45
    pair = board.pairs[17]
    single = randomization_test(scores[pair.system], scores[pair.other], n_resamples=10_000, seed=0)
    assert pair.p_value == single.p_value


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        ({"a": [0.1, 0.2]}, {}, "at least 2 systems"),
        ([[0.1, 0.2], [0.3, 0.4]], {}, "mapping"),
        ({"a": [0.1, 0.2], "b": [0.1, 0.2, 0.3]}, {}, "same queries"),
        ({"a": [0.1, 0.2], "b": [0.1, np.nan]}, {}, r"scores\['b'\].*index 1"),
        ({"a": [0.1, 0.2], "": [0.1, 0.2]}, {}, "non-empty strings"),
        ({"a": [0.1, 0.2], "b": [0.1, 0.3]}, {"baseline": "c"}, "baseline 'c'"),
        ({"a": [0.1, 0.2], "b": [0.1, 0.3]}, {"test": "sign"}, "test must be one of"),
        ({"a": [0.1, 0.2], "b": [0.1, 0.3]}, {"correction": "fdr"}, "correction must be one of"),
        ({"a": [0.1, 0.2], "b": [0.1, 0.3]}, {"alpha": 0.0}, "alpha"),
        ({"a": [0.1, 0.2], "b": [0.1, 0.3]}, {"seed": None}, "seed"),
        ({"a": [0.1, 0.2], "b": [0.1, 0.3]}, {"ci_method": "basic"}, "ci_method"),
    ],
)
def test_bad_input(scores, kwargs, message):
    with pytest.raises(StatsError, match=message):
        compare_systems(scores, **kwargs)
