"""POST /api/v1/comparisons/systems: every statistic against an independent computation.

Per-query values come from a seeded numpy Generator and are stored as completed
evaluations; the expected numbers are computed here from the same vectors with
scipy (ttest_rel, wilcoxon, t.interval, bootstrap), statsmodels (multipletests) and
plain counting.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .conftest import per_query, query_ids

URL = "/api/v1/comparisons/systems"
OFFSETS = {"alpha": 0.15, "beta": 0.12, "gamma": 0.0, "delta": -0.03}


def _vectors(seed: int, n: int, *, grid: bool) -> dict[str, np.ndarray]:
    """Scores sharing a per-query difficulty; on a 0.1 grid (like P@10) when ``grid``."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.1, 0.8, n)
    out = {}
    for name, offset in OFFSETS.items():
        values = np.clip(base + offset + rng.normal(0.0, 0.12, n), 0.0, 1.0)
        out[name] = np.round(values * 10) / 10 if grid else values
    return out


def _setup(store, vectors: dict[str, np.ndarray], measure: str = "P@10"):
    dataset_id = store.dataset()
    ids = {}
    for name, vector in vectors.items():
        ids[name] = store.system(name)
        store.evaluation(system_id=ids[name], dataset_id=dataset_id,
                         values={measure: per_query(vector)})
    return dataset_id, ids


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    return stats.t.interval(0.95, values.size - 1, loc=values.mean(), scale=stats.sem(values))


def _by_id(ids: dict[str, int]) -> dict[int, str]:
    return {v: k for k, v in ids.items()}


def test_t_test_comparison_matches_scipy_and_statsmodels(api, store):
    vectors = _vectors(seed=7, n=40, grid=True)
    dataset_id, ids = _setup(store, vectors)
    response = api.post(URL, json={"system_ids": list(ids.values()), "dataset_id": dataset_id,
                                   "metric": "precision", "k": 10})
    assert response.status_code == 201, response.text
    body = response.json()
    name_of = _by_id(ids)
    assert body["measure"] == "P@10"
    assert (body["test"], body["correction"], body["alpha"]) == ("t", "holm", 0.05)
    assert body["n_queries"] == 40
    assert body["system_ids"] == list(ids.values())
    assert len(body["evaluation_ids"]) == 4

    # Ranking: by mean, best first; each mean with scipy's t-interval.
    expected_order = sorted(vectors, key=lambda name: -vectors[name].mean())
    assert [name_of[r["system_id"]] for r in body["ranking"]] == expected_order
    assert [r["name"] for r in body["ranking"]] == expected_order
    assert [r["rank"] for r in body["ranking"]] == [1, 2, 3, 4]
    for entry in body["ranking"]:
        values = vectors[name_of[entry["system_id"]]]
        assert entry["mean"] == pytest.approx(values.mean(), abs=1e-12)
        low, high = _t_interval(values)
        assert (entry["ci_low"], entry["ci_high"]) == (pytest.approx(low, abs=1e-12),
                                                       pytest.approx(high, abs=1e-12))
        assert entry["queries_dropped"] == 0

    # Every pair (better, worse) by rank, the t-test, Holm over the 6 pairs.
    pairs = body["pairs"]
    assert [(name_of[p["system_id"]], name_of[p["other_system_id"]]) for p in pairs] == \
        list(itertools.combinations(expected_order, 2))
    raw = [stats.ttest_rel(vectors[name_of[p["system_id"]]],
                           vectors[name_of[p["other_system_id"]]]).pvalue for p in pairs]
    reject, holm, _, _ = multipletests(raw, alpha=0.05, method="holm")
    for p, p_raw, p_holm, significant in zip(pairs, raw, holm, reject):
        a, b = vectors[name_of[p["system_id"]]], vectors[name_of[p["other_system_id"]]]
        d = a - b
        assert p["p_value"] == pytest.approx(p_raw, rel=1e-9)
        assert p["p_value_corrected"] == pytest.approx(p_holm, rel=1e-9)
        assert p["significant"] == bool(significant)
        assert p["mean_difference"] == pytest.approx(d.mean(), abs=1e-12)
        assert p["ci_method"] == "t"
        low, high = _t_interval(d)
        assert p["ci_low"] == pytest.approx(low, abs=1e-12)
        assert p["ci_high"] == pytest.approx(high, abs=1e-12)
        assert p["effect_size_dz"] == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-9)
        assert (p["wins"], p["ties"], p["losses"]) == \
            (int((a > b).sum()), int((a == b).sum()), int((a < b).sum()))
    # The data were chosen so both outcomes occur.
    assert any(reject) and not all(reject)

    _assert_groups_match_tests(body)


def _assert_groups_match_tests(body):
    letters = {r["system_id"]: set(r["groups"]) for r in body["ranking"]}
    assert all(letters.values())
    for group in body["groups"]:
        for system_id in group["system_ids"]:
            assert group["letter"] in letters[system_id]
    for p in body["pairs"]:
        share = bool(letters[p["system_id"]] & letters[p["other_system_id"]])
        assert share == (not p["significant"]), p
    assert body["ranking"][0]["groups"][0] == "a"


def test_wilcoxon_with_bootstrap_intervals_matches_scipy(api, store):
    vectors = _vectors(seed=11, n=30, grid=False)
    dataset_id, ids = _setup(store, vectors, measure="nDCG@10")
    response = api.post(URL, json={"system_ids": list(ids.values()), "dataset_id": dataset_id,
                                   "metric": "ndcg", "k": 10, "test": "wilcoxon",
                                   "correction": "bonferroni", "n_resamples": 2000,
                                   "seed": 5})
    assert response.status_code == 201, response.text
    body = response.json()
    name_of = _by_id(ids)
    pairs = body["pairs"]
    raw = []
    for p in pairs:
        a, b = vectors[name_of[p["system_id"]]], vectors[name_of[p["other_system_id"]]]
        raw.append(stats.wilcoxon(a, b).pvalue)
        assert p["p_value"] == pytest.approx(raw[-1], rel=1e-9)
        # The difference interval of the non-parametric tests is the paired BCa
        # bootstrap, each pair's resamples drawn from default_rng(seed).
        ci = stats.bootstrap((a - b,), np.mean, n_resamples=2000, method="BCa",
                             confidence_level=0.95, rng=np.random.default_rng(5)
                             ).confidence_interval
        assert p["ci_method"] == "bca"
        assert p["ci_low"] == pytest.approx(ci.low, rel=1e-9)
        assert p["ci_high"] == pytest.approx(ci.high, rel=1e-9)
    corrected = multipletests(raw, method="bonferroni")[1]
    assert [p["p_value_corrected"] for p in pairs] == pytest.approx(list(corrected), rel=1e-9)
    _assert_groups_match_tests(body)


def test_randomization_test_equals_full_sign_flip_enumeration(api, store):
    # 10 queries: the test enumerates all 2^10 sign patterns, so its p-value is exact:
    # p = #{patterns s: |sum s_i d_i| >= |sum d_i|} / 2^m over the m non-zero d_i.
    vectors = {name: values[:10] for name, values in _vectors(seed=3, n=10, grid=False).items()}
    dataset_id, ids = _setup(store, vectors, measure="AP")
    response = api.post(URL, json={"system_ids": list(ids.values()), "dataset_id": dataset_id,
                                   "metric": "map", "test": "randomization",
                                   "correction": "bh"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["measure"] == "AP"
    name_of = _by_id(ids)
    raw = []
    for p in body["pairs"]:
        d = vectors[name_of[p["system_id"]]] - vectors[name_of[p["other_system_id"]]]
        d = d[d != 0]
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=d.size)))
        null = np.abs(signs @ d)
        raw.append(np.mean(null >= abs(d.sum()) - 1e-9 * np.abs(d).sum()))
        assert p["p_value"] == pytest.approx(raw[-1], abs=1e-12)
    corrected = multipletests(raw, method="fdr_bh")[1]
    assert [p["p_value_corrected"] for p in body["pairs"]] == pytest.approx(list(corrected))


def test_baseline_compares_each_system_with_it_only(api, store):
    vectors = _vectors(seed=7, n=40, grid=True)
    dataset_id, ids = _setup(store, vectors)
    response = api.post(URL, json={"system_ids": list(ids.values()), "dataset_id": dataset_id,
                                   "metric": "P@10", "baseline_system_id": ids["gamma"]})
    assert response.status_code == 201, response.text
    body = response.json()
    name_of = _by_id(ids)
    assert body["baseline_system_id"] == ids["gamma"]
    assert body["groups"] is None
    assert all(r["groups"] == [] for r in body["ranking"])
    assert {p["other_system_id"] for p in body["pairs"]} == {ids["gamma"]}
    assert sorted(name_of[p["system_id"]] for p in body["pairs"]) == ["alpha", "beta", "delta"]
    raw = [stats.ttest_rel(vectors[name_of[p["system_id"]]], vectors["gamma"]).pvalue
           for p in body["pairs"]]
    holm = multipletests(raw, method="holm")[1]
    assert [p["p_value_corrected"] for p in body["pairs"]] == pytest.approx(list(holm))


def test_common_queries_only_and_dropped_counts(api, store):
    # One system missed two queries entirely (no rows): the others are paired on the
    # 18 queries all three share and report the 2 they lose.
    rng = np.random.default_rng(1)
    ids_all = query_ids(20)
    dataset_id = store.dataset()
    full = {name: rng.uniform(0, 1, 20) for name in ("a", "b", "c")}
    systems = {}
    for name, vector in full.items():
        systems[name] = store.system(name)
        keep = ids_all if name != "c" else ids_all[2:]
        store.evaluation(system_id=systems[name], dataset_id=dataset_id,
                         values={"nDCG@10": {q: v for q, v in zip(ids_all, vector)
                                             if q in keep}})
    body = api.post(URL, json={"system_ids": list(systems.values()), "dataset_id": dataset_id,
                               "metric": "nDCG@10"}).json()
    assert body["n_queries"] == 18
    dropped = {r["name"]: r["queries_dropped"] for r in body["ranking"]}
    assert dropped == {"a": 2, "b": 2, "c": 0}
    means = {r["name"]: r["mean"] for r in body["ranking"]}
    assert means == {name: pytest.approx(v[2:].mean()) for name, v in full.items()}


def test_latest_completed_evaluation_is_used(api, store):
    dataset_id = store.dataset()
    other_dataset = store.dataset("other")
    rng = np.random.default_rng(2)
    old, new, failed, elsewhere, rival = (rng.uniform(0, 1, 12) for _ in range(5))
    a, b = store.system("a"), store.system("b")
    store.evaluation(system_id=a, dataset_id=dataset_id, values={"AP": per_query(old)},
                     finished_minutes=1)
    latest = store.evaluation(system_id=a, dataset_id=dataset_id,
                              values={"AP": per_query(new)}, finished_minutes=5)
    store.evaluation(system_id=a, dataset_id=dataset_id, values={"AP": per_query(failed)},
                     status="failed", finished_minutes=9)
    store.evaluation(system_id=a, dataset_id=other_dataset,
                     values={"AP": per_query(elsewhere)}, finished_minutes=20)
    b_eval = store.evaluation(system_id=b, dataset_id=dataset_id,
                              values={"AP": per_query(rival)}, finished_minutes=0)
    body = api.post(URL, json={"system_ids": [a, b], "dataset_id": dataset_id,
                               "metric": "AP"}).json()
    assert body["evaluation_ids"] == [latest, b_eval]
    means = {r["system_id"]: r["mean"] for r in body["ranking"]}
    assert means[a] == pytest.approx(new.mean())
    assert body["pairs"][0]["p_value"] == pytest.approx(stats.ttest_rel(new, rival).pvalue)
