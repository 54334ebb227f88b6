"""Kernels alone: measure computation on data already in memory.

* ragbench: :func:`evaluate_ranked` on a prepared ``RankedRelevance`` (rebuilt without
  its caches before every repetition, so shared per-document arrays such as
  ``cum_rel`` are recomputed each time), plus each measure alone on a fresh one.
* ranx: its numba kernels (``metric_switch(m)(qrels, run, k, rel_lvl)``) on the
  numba typed lists that ``evaluate`` builds (``to_typed_list``, timed apart: every
  ``ranx.evaluate`` call pays it), after a warm-up that compiles them.

Run alone: ``python bench/bench_kernels.py [--reps 5]``.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
from dataclasses import fields

from harness import (MEASURES, RAGBENCH_SPECS, RANX_METRICS, NullClock, child_main, data_paths,
                     fmt_s, medians, repeat, run_child)


def child_ragbench(reps: int) -> dict:
    from ragbench.core.io import read_trec_qrels, read_trec_run
    from ragbench.core.metrics import FAMILIES
    from ragbench.core.ranking import RankedRelevance, judge
    from ragbench.core.trec_spec import parse_trec_specs

    evaluation = importlib.import_module("ragbench.core.evaluate")
    specs = [s for s in RAGBENCH_SPECS if s.split(".")[0] in FAMILIES]
    measures = parse_trec_specs(specs)
    t0 = time.perf_counter()
    rr0 = judge(*(f(p) for f, p in zip((read_trec_qrels, read_trec_run), data_paths())))
    prepare_s = time.perf_counter() - t0
    names = [f.name for f in fields(rr0) if f.init and f.name != "_cache"]

    def fresh():
        return RankedRelevance(**{n: getattr(rr0, n) for n in names})

    # Warm-up: first use of each code path (imports inside kernels, lru caches).
    evaluation.evaluate_ranked(judge(*(f(p) for f, p in zip(
        (read_trec_qrels, read_trec_run), data_paths(tiny=True)))), measures)

    def body(clock):
        rr = fresh()
        with clock("all measures"):
            evaluation.evaluate_ranked(rr, measures)
        for m in measures:
            rr = fresh()
            with clock(",".join(m.names)):
                m.compute(rr)

    laps = repeat(reps, body)
    return {"laps": laps, "total_key": "all measures", "specs": specs,
            "missing": [s for s in RAGBENCH_SPECS if s not in specs],
            "prepare_s": prepare_s, "prepare_what": "read + judge (once, not in laps)"}


def child_ranx(reps: int) -> dict:
    from ranx import Qrels, Run
    from ranx.meta.evaluate import extract_metric_and_params
    from ranx.metrics import metric_switch

    def load(tiny):
        q, r = data_paths(tiny)
        return Qrels.from_file(str(q), kind="trec"), Run.from_file(str(r), kind="trec")

    def kernels(qt, rt, clock):
        for metric in RANX_METRICS:
            m, k, rel_lvl = extract_metric_and_params(metric)
            with clock(metric):
                metric_switch(m)(qt, rt, k, rel_lvl)

    t0 = time.perf_counter()
    tq, tr = load(True)
    kernels(tq.to_typed_list(), tr.to_typed_list(), NullClock())
    warmup_s = time.perf_counter() - t0
    qrels, run = load(False)

    def body(clock):
        with clock("to_typed_list"):
            qt, rt = qrels.to_typed_list(), run.to_typed_list()
        kernels(qt, rt, clock)

    laps = repeat(reps, body)
    for lap in laps:
        lap["all measures"] = sum(lap[m] for m in RANX_METRICS)
    return {"laps": laps, "total_key": "all measures", "warmup_s": warmup_s}


CHILDREN = {"ragbench": child_ragbench, "ranx": child_ranx}


def run(reps: int = 5, tools=("ragbench", "ranx")) -> dict:
    results = {}
    cache = tempfile.TemporaryDirectory(prefix="numba-cache-")
    for tool in tools:
        print(f"[kernels] {tool}: {reps} reps ...", flush=True)
        res = run_child("bench_kernels.py", tool, reps,
                        env={"NUMBA_CACHE_DIR": cache.name} if tool == "ranx" else None)
        if "laps" in res:
            res["median"] = medians(res["laps"])
        else:
            print(f"[kernels] {tool} FAILED:\n{res.get('error')}", flush=True)
        results[tool] = res
    cache.cleanup()
    return results


def report(results: dict) -> str:
    lines = ["### 2. Kernels alone (data in memory, median s)", ""]
    rb, rx = results.get("ragbench", {}), results.get("ranx", {})
    if "median" in rb and "median" in rx:
        a, b = rb["median"]["all measures"], rx["median"]["all measures"]
        lines += [f"All measures: ragbench **{fmt_s(a)}** vs ranx kernels **{fmt_s(b)}** "
                  f"(ranx / ragbench = **{b / a:.1f}x**); ranx's `to_typed_list` "
                  f"conversion, paid by every `evaluate` call: "
                  f"{fmt_s(rx['median']['to_typed_list'])} s.", ""]
        if rb.get("missing"):
            lines += [f"(ragbench without `{', '.join(rb['missing'])}`: not written yet.)", ""]
    lines += ["| measure | ragbench (each alone, fresh caches) | ranx kernel |", "|---|---:|---:|"]
    rbm, rxm = rb.get("median", {}), rx.get("median", {})
    for canon, (trec, _pt, rx_name) in MEASURES.items():
        rb_key = next((k for k in rbm if trec in k.split(",")), None)
        rb_cell = fmt_s(rbm[rb_key]) + ("" if rb_key == trec else f" ({rb_key})") \
            if rb_key else "—"
        lines.append(f"| {canon} | {rb_cell} | {fmt_s(rxm.get(rx_name))} |")
    if "prepare_s" in rb:
        lines += ["", f"ragbench preparation (read + judge, once): {fmt_s(rb['prepare_s'])} s; "
                      f"ranx warm-up (compile): {fmt_s(rx.get('warmup_s'))} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tools", default="ragbench,ranx")
    args = ap.parse_args(argv)
    print(report(run(args.reps, args.tools.split(","))))
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        sys.exit(child_main(CHILDREN))
    sys.exit(main())
