"""Randomization test: 10 systems, all 45 pairs, 7,000 queries, 10,000 permutations,
on per-query scores already in memory (``bench/data/scores.npy``): only the tests are
timed, not the metric computation.

* ragbench: ``randomization_p_values`` on the 45 x 7,000 difference matrix (one call,
  one shared sign matrix); also ``compare_systems(..., test="randomization",
  ci_method="t")`` (the whole leaderboard: tests, Holm, t intervals, groups) and the
  per-pair ``randomization_test`` in a loop (what a naive caller does).
* ranx: ``fisher_randomization_test`` (numba, parallel) for the 45 pairs, after a
  warm-up that compiles it; also ``compute_statistical_significance`` — the tests
  ``ranx.compare`` runs — which tests every ORDERED pair (90 tests for 10 systems).

The ragbench functions are looked up by name in ``ragbench.core.stats`` (see
:data:`RAGBENCH_API`) so a rename is a one-line change here.

Run alone: ``python bench/bench_stats.py [--reps 3] [--permutations 10000]``.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import tempfile
import time

import numpy as np

from harness import DATA, child_main, fmt_s, medians, repeat, run_child

RAGBENCH_API = {
    "module": "ragbench.core.stats",
    "batched": "randomization_p_values",  # (differences[pairs, queries], n_resamples=, seed=)
    "pair": "randomization_test",  # (a, b, n_resamples=, seed=) -> .p_value
    "leaderboard": "compare_systems",  # ({name: scores}, test=, n_resamples=, seed=, ci_method=)
}
N_PERMUTATIONS = 10_000


def _scores() -> tuple[np.ndarray, list[tuple[int, int]]]:
    scores = np.load(DATA / "scores.npy")
    return scores, list(itertools.combinations(range(scores.shape[0]), 2))


def child_ragbench(reps: int, permutations: int = N_PERMUTATIONS,
                   variants: tuple = ("batched", "leaderboard", "pair")) -> dict:
    stats = importlib.import_module(RAGBENCH_API["module"])
    scores, pairs = _scores()
    names = [f"sys{i}" for i in range(len(scores))]
    state = {}

    def body(clock):
        if "batched" in variants and hasattr(stats, RAGBENCH_API["batched"]):
            fn = getattr(stats, RAGBENCH_API["batched"])
            with clock("batched"):
                diffs = np.stack([scores[i] - scores[j] for i, j in pairs])
                state["p"] = fn(diffs, n_resamples=permutations, seed=0)
        if "leaderboard" in variants and hasattr(stats, RAGBENCH_API["leaderboard"]):
            fn = getattr(stats, RAGBENCH_API["leaderboard"])
            with clock("leaderboard"):
                fn({n: s for n, s in zip(names, scores)}, test="randomization",
                   n_resamples=permutations, seed=0, ci_method="t")
        if "pair" in variants and hasattr(stats, RAGBENCH_API["pair"]):
            fn = getattr(stats, RAGBENCH_API["pair"])
            with clock("pair"):
                for i, j in pairs:
                    fn(scores[i], scores[j], n_resamples=permutations, seed=0)

    laps = repeat(reps, body)
    return {"laps": laps, "p_values": state.get("p", np.array([])).tolist(),
            "pairs": len(pairs), "queries": scores.shape[1]}


def child_ranx(reps: int, permutations: int = N_PERMUTATIONS,
               variants: tuple = ("batched", "leaderboard")) -> dict:
    import numba
    from ranx.statistical_tests import compute_statistical_significance
    from ranx.statistical_tests.fisher_randomization_test import fisher_randomization_test

    scores, pairs = _scores()
    names = [f"sys{i}" for i in range(len(scores))]
    t0 = time.perf_counter()
    fisher_randomization_test(scores[0, :50], scores[1, :50], 10, 0.01, 42)
    warmup_s = time.perf_counter() - t0
    state = {}

    def body(clock):
        if "batched" in variants:
            with clock("batched"):
                state["p"] = [fisher_randomization_test(scores[i], scores[j], permutations,
                                                        0.01, 42)[0] for i, j in pairs]
        if "leaderboard" in variants:
            with clock("leaderboard"):
                compute_statistical_significance(
                    names, {n: {"map": s} for n, s in zip(names, scores)},
                    stat_test="fisher", n_permutations=permutations)

    laps = repeat(reps, body)
    return {"laps": laps, "p_values": [float(p) for p in state.get("p", [])],
            "warmup_s": warmup_s, "numba_threads": numba.get_num_threads()}


CHILDREN = {"ragbench": child_ragbench, "ranx": child_ranx}


def run(reps: int = 3, permutations: int = N_PERMUTATIONS, ranx_reps: int | None = None,
        tools=("ragbench", "ranx"), ranx_compare: bool = True) -> dict:
    """``ranx_compare=False`` skips ranx's 90-ordered-pair variant (minutes at 10,000)."""
    results = {}
    cache = tempfile.TemporaryDirectory(prefix="numba-cache-")
    for tool in tools:
        n = reps if tool == "ragbench" or ranx_reps is None else ranx_reps
        extra = {"permutations": permutations}
        if tool == "ranx" and not ranx_compare:
            extra["variants"] = ["batched"]
        print(f"[stats] {tool}: {n} reps ...", flush=True)
        res = run_child("bench_stats.py", tool, n, extra=extra,
                        env={"NUMBA_CACHE_DIR": cache.name} if tool == "ranx" else None)
        if "laps" in res:
            res["median"] = medians(res["laps"])
        else:
            print(f"[stats] {tool} FAILED:\n{res.get('error')}", flush=True)
        results[tool] = res
    cache.cleanup()
    results["permutations"] = permutations
    return results


def report(results: dict) -> str:
    rb = results.get("ragbench", {}).get("median", {})
    rx = results.get("ranx", {}).get("median", {})
    n = results.get("permutations", N_PERMUTATIONS)
    lines = [f"### 3. Randomization test: 10 systems, 45 pairs, 7,000 queries, "
             f"{n:,} permutations (median s)", "",
             "| what | ragbench | ranx | ranx / ragbench |", "|---|---:|---:|---:|"]
    rows = [("45 pair tests (ragbench: one batched `randomization_p_values` call; "
             "ranx: `fisher_randomization_test` x 45)", "batched", "batched"),
            ("leaderboard (ragbench: `compare_systems`, t intervals; ranx: the tests "
             "`compare` runs = 90 ordered pairs)", "leaderboard", "leaderboard"),
            ("ragbench `randomization_test` per pair x 45", "pair", None)]
    for label, a, b in rows:
        if a not in rb and (b is None or b not in rx):
            continue
        ratio = f"**{rx[b] / rb[a]:.1f}x**" if b and a in rb and b in rx else "—"
        lines.append(f"| {label} | {fmt_s(rb.get(a))} | {fmt_s(rx.get(b)) if b else '—'} "
                     f"| {ratio} |")
    if "warmup_s" in results.get("ranx", {}):
        r = results["ranx"]
        lines += ["", f"ranx warm-up (numba compile of the test): {fmt_s(r['warmup_s'])} s; "
                      f"numba threads: {r.get('numba_threads')}."]
    pa = np.asarray(results.get("ragbench", {}).get("p_values", []))
    pb = np.asarray(results.get("ranx", {}).get("p_values", []))
    if len(pa) and len(pa) == len(pb):
        d = np.abs(pa - pb)
        lines += ["", f"p-value agreement over the 45 pairs (both Monte Carlo, different "
                      f"random streams; ranx p = b/N, ragbench p = (b+1)/(N+1)): "
                      f"max |diff| {d.max():.4f}, median {np.median(d):.4f}; "
                      f"pairs significant at 0.05: ragbench {(pa <= 0.05).sum()}, "
                      f"ranx {(pb <= 0.05).sum()}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ranx-reps", type=int, default=None)
    ap.add_argument("--permutations", type=int, default=N_PERMUTATIONS)
    ap.add_argument("--tools", default="ragbench,ranx")
    ap.add_argument("--no-ranx-compare", action="store_true",
                    help="skip the 90 ordered-pair tests that ranx.compare runs")
    args = ap.parse_args(argv)
    print(report(run(args.reps, args.permutations, args.ranx_reps, args.tools.split(","),
                     ranx_compare=not args.no_ranx_compare)))
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        sys.exit(child_main(CHILDREN))
    sys.exit(main())
