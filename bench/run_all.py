"""Run every benchmark and write the report.

    python bench/run_all.py                       # report -> stdout + bench/data/report.md
    python bench/run_all.py --results bench/RESULTS.md   # ... and overwrite RESULTS.md
    python bench/run_all.py --quick               # 1 rep, 1,000 permutations: a smoke run
    python bench/run_all.py --report-only         # re-render the last run's report
    python bench/run_all.py --only service        # the service benchmarks alone

Generates ``bench/data/`` first if it is missing or stale (``gen_data.py``). Raw
timings of every repetition go to ``bench/data/results.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from pathlib import Path

import bench_api
import bench_evaluate
import bench_kernels
import bench_runner
import bench_stats
from harness import DATA, data_paths, ensure_data, machine_info, warm_page_cache

NOTES = """\
### Notes

- Timings are wall-clock medians over the repetitions, each tool in its own fresh
  process (after its import and one warm-up call on 20 tiny queries); peak RSS is that
  process's `ru_maxrss`, so it includes the import and the warm-up. The page cache is
  warmed before the first tool, so no tool pays a cold disk read.
- ragbench's end-to-end = `read_trec_qrels` + `read_trec_run` + `judge` +
  `evaluate_ranked` (= `evaluate_trec` without spec parsing) and the means
  (`Evaluation.summary()`).
- pytrec_eval = `parse_qrel` + `parse_run` (pure Python) + `RelevanceEvaluator(...)` +
  `evaluate(run)` (trec_eval 9.x in C) + `compute_aggregated_measure` per measure.
- ranx = `Qrels.from_file` + `Run.from_file` (pure Python loops, then numba typed
  dicts) + `evaluate(..., return_mean=False)` (which converts both to typed lists on
  every call, then runs one numba kernel per metric on all cores) + `np.mean`. Its
  first call compiles the numba functions: reported as warm-up, measured with an empty
  `NUMBA_CACHE_DIR`; "cached" is the same warm-up in the later rounds' processes,
  with that cache filled.
- `RR`: trec_eval's `recip_rank` has no cutoff; ranx was asked for `mrr@10` as the
  brief says, so ranx's RR differs wherever the first relevant document is below
  rank 10 — not a bug in either.
- Ties: trec_eval (and pytrec_eval, ragbench) rank tied documents by docno
  descending; ranx orders them otherwise (neither that nor file order), so on the
  full data (~2% tied scores) ranx differs from trec_eval on some queries for the
  rank-sensitive measures. On `notie_run.txt` (the same rankings without ties) every
  measure of the three tools agrees exactly, except ranx's `mrr@10` vs `recip_rank`
  (see RR above) — so the definitions match and the differences are tie order only.
- The machine is small and shared (see nproc): expect +-10-20% noise between runs;
  compare ratios taken in the same run, not absolute times across runs.
"""


CORE_PARTS = {"evaluate", "kernels", "stats"}

SERVICE_NOTES = """\
### Notes on the service benchmarks

- Every server runs in its own process: the fixed-latency system (raw asyncio
  protocol on uvloop), `ragbench serve` (uvicorn, one process, uvloop + httptools),
  the load generator (`bench/http_load.py`). On a 2-CPU machine they share the two
  CPUs with the process measured, so queries/s and latency depend on what else runs:
  the load average is reported per round, and CPU per query / per request (which
  does not) next to them.
- Runner: `direct` is `jobs.run_evaluation` on SQLite in a fresh process per round
  (wall time of the call, setup and scoring included); `api` is the same job in the
  service's executor thread, from its `started_at` to `finished_at`. Variants other
  than `as-is` make the system client otherwise (in the benchmark's process only),
  to compare.
- API: closed loop, so the median latency is about clients / throughput, and the
  p95 was 2-2.5x the median here: with one server process on one core, a p95 under
  100 ms at 50 clients needs roughly 1,100 requests/s, i.e. under ~0.9 ms of server
  CPU per request (`GET /health`, the stack alone, costs ~0.5 ms).
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="end-to-end repetitions per tool")
    ap.add_argument("--kernel-reps", type=int, default=5)
    ap.add_argument("--stats-reps", type=int, default=3, help="ragbench stats repetitions")
    ap.add_argument("--ranx-stats-reps", type=int, default=1,
                    help="ranx's randomization test takes minutes per repetition")
    ap.add_argument("--permutations", type=int, default=bench_stats.N_PERMUTATIONS)
    ap.add_argument("--ranx-compare", action="store_true",
                    help="also time the 90 ordered-pair tests ranx.compare runs (2x longer)")
    ap.add_argument("--only", default="evaluate,kernels,stats",
                    help="parts: evaluate, kernels, stats (the core against its peers), "
                         "runner, api (the service); 'service' = runner,api")
    ap.add_argument("--runner-args", default="",
                    help="options for bench_runner.py, e.g. '--rounds 5 --profile'")
    ap.add_argument("--api-args", default="",
                    help="options for bench_api.py, e.g. '--engines sqlite,postgresql'")
    ap.add_argument("--tools", default=",".join(bench_evaluate.TOOLS),
                    help="end-to-end tools")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 repetition each, 1,000 permutations")
    ap.add_argument("--results", type=Path, default=None,
                    help="also write the report to this file (e.g. bench/RESULTS.md)")
    ap.add_argument("--report-only", action="store_true",
                    help="measure nothing: re-render the report from bench/data/results.json")
    args = ap.parse_args(argv)
    if args.report_only:
        results = json.loads((DATA / "results.json").read_text())
        text = report(results, results.get("argv", []))
        if args.results:
            args.results.write_text(text)
        print(text)
        return 0
    if args.quick:
        args.reps = args.kernel_reps = args.stats_reps = args.ranx_stats_reps = 1
        args.permutations = 1000
    parts = set(args.only.split(","))
    if "service" in parts:
        parts |= {"runner", "api"}

    started = time.perf_counter()
    results: dict = {"machine": machine_info(), "args": vars(args) | {
        "results": str(args.results) if args.results else None}}
    if parts & CORE_PARTS:
        results["data"] = ensure_data()
        warm_page_cache(*data_paths(), *data_paths(tiny=True))
    if "evaluate" in parts:
        results["evaluate"] = bench_evaluate.run(args.reps, args.tools.split(","))
    if "kernels" in parts:
        results["kernels"] = bench_kernels.run(args.kernel_reps)
    if "stats" in parts:
        results["stats"] = bench_stats.run(args.stats_reps, args.permutations,
                                           args.ranx_stats_reps,
                                           ranx_compare=args.ranx_compare)
    if "runner" in parts:
        quick = ["--rounds", "1", "--capacity-seconds", "2"] if args.quick else []
        results["runner"] = bench_runner.run(
            bench_runner.parse_args(quick + shlex.split(args.runner_args)))
    if "api" in parts:
        quick = ["--rounds", "1", "--seconds", "5"] if args.quick else []
        results["api"] = bench_api.run(bench_api.parse_args(quick + shlex.split(args.api_args)))
    results["elapsed_s"] = time.perf_counter() - started
    results["argv"] = list(argv if argv is not None else sys.argv[1:])
    results["date"] = dt.date.today().isoformat()

    DATA.mkdir(exist_ok=True)
    (DATA / "results.json").write_text(json.dumps(results, indent=1, default=_plain))
    text = report(results, results["argv"])
    (DATA / "report.md").write_text(text)
    if args.results:
        args.results.write_text(text)
    print(text)
    return 0


def _plain(value):
    """JSON for what ``json`` does not know: numpy numbers as floats, the rest as text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def report(results: dict, argv: list[str]) -> str:
    m = results["machine"]
    d = results.get("data")
    cmd = "python bench/run_all.py" + ("" if not argv else " " + shlex.join(argv))
    lines = ["# Benchmark results", "",
             f"Generated by `{cmd}` on {results.get('date', dt.date.today().isoformat())} "
             f"({results['elapsed_s'] / 60:.0f} min in all).", "",
             "## Machine", "",
             f"- {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, {m['os']}",
             f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m['packages'].items()),
             f"- ragbench at {m['ragbench']}",
             ]
    if m.get("env"):
        lines.append(f"- environment: {m['env']}")
    if d is None:
        lines += ["", "## Results", ""]
        return "\n".join(lines + _service(results))
    lines += ["", "## Data (`bench/gen_data.py`, seed {seed})".format(seed=d["seed"]), "",
              f"- run: {d['queries']:,} queries x {d['depth']:,} docs = {d['run_lines']:,} "
              f"lines, {d['files']['run.txt']['bytes'] / 1e6:.0f} MB",
              f"- qrels: {d['qrels_lines']:,} judgments ({d['judged_per_query']:.0f}/query, "
              f"{d['judged_retrieved_per_query']:.0f} of them retrieved, "
              f"{d['relevant_per_query']:.0f} relevant), "
              f"{d['files']['qrels.txt']['bytes'] / 1e6:.1f} MB",
              f"- significance tests: {d['systems']} systems x {d['queries']:,} queries of "
              "synthetic AP-like scores", "", "## Results", ""]
    lines += _targets(results)
    if "evaluate" in results:
        lines.append(bench_evaluate.report(results["evaluate"]))
    if "kernels" in results:
        lines.append(bench_kernels.report(results["kernels"]))
    if "stats" in results:
        lines.append(bench_stats.report(results["stats"]))
    lines += _service(results)
    lines.append(NOTES)
    return "\n".join(lines)


def _service(results: dict) -> list[str]:
    lines = []
    if "runner" in results:
        lines.append(bench_runner.report(results["runner"]))
    if "api" in results:
        lines.append(bench_api.report(results["api"]))
    if lines:
        lines.append(SERVICE_NOTES)
    return lines


def _targets(results: dict) -> list[str]:
    ev = results.get("evaluate", {})
    rb = ev.get("ragbench", {})
    if "median" not in rb:
        return []
    out = ["Targets (end to end): ragbench >= 5x faster than each peer, peak RSS < 1 GB.", ""]
    for peer in ("pytrec_eval", "ranx"):
        if "median" in ev.get(peer, {}):
            ratio = ev[peer]["median"]["total"] / rb["median"]["total"]
            out.append(f"- vs {peer}: {ratio:.1f}x — {'MET' if ratio >= 5 else 'NOT MET'}")
    rss = rb["memory"]["peak_rss_mib"]
    verdict = ("MET" if rss * 2**20 < 1e9 else
               "MET for 1 GiB (1024 MiB), NOT MET for 10^9 bytes" if rss < 1024 else "NOT MET")
    out.append(f"- ragbench peak RSS: {rss:.0f} MiB = {rss * 2**20 / 1e9:.2f} GB — {verdict}")
    if rb.get("missing"):
        out.append(f"- (ragbench ran without `{', '.join(rb['missing'])}`: not available)")
    return out + [""]


if __name__ == "__main__":
    sys.exit(main())
