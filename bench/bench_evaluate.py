"""End to end: TREC qrels + run files on disk -> per-query values and means of the ten
measures in :data:`harness.MEASURES`, for ragbench, pytrec_eval and ranx.

Each tool runs in a fresh process: import (timed apart), a warm-up on the tiny files
(for ranx this is numba's compilation, reported apart), then ``reps`` timed runs of
parse + evaluate. Per-query values of the last run go to ``bench/data/out/<tool>.npz``
for :func:`agreement`.

Run alone: ``python bench/bench_evaluate.py [--reps 3] [--tools ragbench,ranx]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import numpy as np

from harness import (MEASURES, OUT, PYTREC_MEASURES, RAGBENCH_SPECS, RANX_METRICS,
                     NullClock, child_main, data_paths, fmt_s, medians, memory, repeat,
                     run_child)

TOOLS = ("ragbench", "pytrec_eval", "ranx")


def _save(tool: str, qids: list[str], per_query: dict[str, np.ndarray]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(OUT / f"{tool}.npz", __qids__=np.asarray(qids),
             **{k: np.asarray(v, dtype=np.float64) for k, v in per_query.items()})


# ---- children -------------------------------------------------------------------
# Each tool gives ``once(qrels_path, run_path, clock) -> (query_ids, per_query, means)``
# with per_query/means keyed by the canonical names of MEASURES; _drive does the rest.

def _drive(tool: str, once, reps: int, import_s: float, mem_import: dict,
           parse: list[str], evaluate: list[str]) -> dict:
    t0 = time.perf_counter()
    once(*data_paths(tiny=True), NullClock())  # ranx: numba compilation happens here
    warmup_s = time.perf_counter() - t0
    state: dict = {}
    memory_stages: dict = {}

    def body(clock):
        state["out"] = once(*data_paths(), clock)

    laps = repeat(reps, body, memory_stages)
    qids, per_query, means = state.pop("out")
    _save(tool, qids, per_query)
    peak = memory()
    qids, per_query, _ = once(*data_paths(notie=True), NullClock())
    _save(f"{tool}_notie", qids, per_query)
    return {"import_s": import_s, "warmup_s": warmup_s, "laps": laps, "parse": parse,
            "eval": evaluate, "means": means, "memory": peak,
            "memory_after_import": mem_import, "memory_stages": memory_stages,
            "num_queries": len(qids)}


def child_ragbench(reps: int) -> dict:
    t0 = time.perf_counter()
    import importlib

    # (ragbench.core re-exports a function named evaluate: import the module by path)
    evaluation = importlib.import_module("ragbench.core.evaluate")
    from ragbench.core.io import read_trec_qrels, read_trec_run
    from ragbench.core.metrics import FAMILIES
    from ragbench.core.ranking import judge
    from ragbench.core.trec_spec import parse_trec_specs
    import_s = time.perf_counter() - t0
    mem_import = memory()

    specs = [s for s in RAGBENCH_SPECS if s.split(".")[0] in FAMILIES]
    measures = parse_trec_specs(specs)
    out_names = {v[0]: k for k, v in MEASURES.items()}

    def once(qrels_path, run_path, clock):
        with clock("read_qrels"):
            qrels = read_trec_qrels(qrels_path)
        with clock("read_run"):
            run = read_trec_run(run_path)
        with clock("judge"):
            rr = judge(qrels, run)
        with clock("measures"):
            ev = evaluation.evaluate_ranked(rr, measures)
            means = ev.summary()
        per_query = {out_names[c.name]: c.per_query for c in ev.columns
                     if c.name in out_names}
        return (list(ev.query_ids), per_query,
                {out_names[k]: v for k, v in means.items() if k in out_names})

    res = _drive("ragbench", once, reps, import_s, mem_import,
                 ["read_qrels", "read_run"], ["judge", "measures"])
    res["missing"] = [s for s in RAGBENCH_SPECS if s not in specs]
    return res


def child_pytrec_eval(reps: int) -> dict:
    t0 = time.perf_counter()
    import pytrec_eval
    import_s = time.perf_counter() - t0
    mem_import = memory()

    def once(qrels_path, run_path, clock):
        with clock("parse_qrel"):
            with open(qrels_path) as fh:
                qrels = pytrec_eval.parse_qrel(fh)
        with clock("parse_run"):
            with open(run_path) as fh:
                run = pytrec_eval.parse_run(fh)
        with clock("evaluator_init"):
            evaluator = pytrec_eval.RelevanceEvaluator(qrels, PYTREC_MEASURES)
        with clock("evaluate"):
            results = evaluator.evaluate(run)
        with clock("means"):
            values = list(results.values())
            means = {m: pytrec_eval.compute_aggregated_measure(m, [v[m] for v in values])
                     for m in PYTREC_MEASURES}
        qids = sorted(results)
        return (qids, {c: [results[q][v[1]] for q in qids] for c, v in MEASURES.items()},
                {c: means[v[1]] for c, v in MEASURES.items()})

    return _drive("pytrec_eval", once, reps, import_s, mem_import,
                  ["parse_qrel", "parse_run"], ["evaluator_init", "evaluate", "means"])


def child_ranx(reps: int) -> dict:
    t0 = time.perf_counter()
    import numba
    from ranx import Qrels, Run, evaluate
    import_s = time.perf_counter() - t0
    mem_import = memory()

    def once(qrels_path, run_path, clock):
        with clock("qrels_from_file"):
            qrels = Qrels.from_file(str(qrels_path), kind="trec")
        with clock("run_from_file"):
            run = Run.from_file(str(run_path), kind="trec")
        with clock("evaluate"):
            scores = evaluate(qrels, run, RANX_METRICS, return_mean=False)
            means = {m: float(np.mean(v)) for m, v in scores.items()}
        return (list(run.get_query_ids()), {c: scores[v[2]] for c, v in MEASURES.items()},
                {c: means[v[2]] for c, v in MEASURES.items()})

    res = _drive("ranx", once, reps, import_s, mem_import,
                 ["qrels_from_file", "run_from_file"], ["evaluate"])
    res["numba_threads"] = numba.get_num_threads()
    return res


def child_ranx_warmup(reps: int) -> dict:
    """Import + first call on the tiny files only (to time a warm numba cache)."""
    t0 = time.perf_counter()
    from ranx import Qrels, Run, evaluate
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    qrels_path, run_path = data_paths(tiny=True)
    evaluate(Qrels.from_file(str(qrels_path), kind="trec"),
             Run.from_file(str(run_path), kind="trec"), RANX_METRICS, return_mean=False)
    return {"import_s": import_s, "warmup_s": time.perf_counter() - t0}


CHILDREN = {"ragbench": child_ragbench, "pytrec_eval": child_pytrec_eval,
            "ranx": child_ranx, "ranx_warmup": child_ranx_warmup}


# ---- parent ---------------------------------------------------------------------

def run(reps: int = 3, tools=TOOLS) -> dict:
    """``reps`` rounds; each round runs every tool once, each in a fresh process, so
    that load from other work on a shared machine hits all tools alike. ranx's numba
    cache starts empty: its round-1 warm-up is the compilation, later rounds load the
    cache ("cached")."""
    cache = tempfile.TemporaryDirectory(prefix="numba-cache-")
    rounds: dict[str, list[dict]] = {t: [] for t in tools}
    for i in range(reps):
        for tool in tools:
            env = {"NUMBA_CACHE_DIR": cache.name} if tool == "ranx" else None
            print(f"[evaluate] round {i + 1}/{reps}: {tool} ...", flush=True)
            res = run_child("bench_evaluate.py", tool, 1, env=env)
            res["loadavg_after"] = os.getloadavg()[0]
            if "laps" not in res:
                print(f"[evaluate] {tool} FAILED:\n{res.get('error')}", flush=True)
            rounds[tool].append(res)
    if "ranx" in tools and reps == 1 and "laps" in rounds["ranx"][0]:
        warm = run_child("bench_evaluate.py", "ranx_warmup", 1,
                         env={"NUMBA_CACHE_DIR": cache.name})
        rounds["ranx"][0]["warmup_cached"] = [warm.get("warmup_s")]
    cache.cleanup()
    results = {t: _merge(rounds[t]) for t in tools}
    if "median" in results.get("ragbench", {}):
        for t in tools:
            if t != "ragbench" and "median" in results[t]:
                results[t]["paired_ratios"] = [
                    _total(r["laps"][0], results[t]) / _total(b["laps"][0], results["ragbench"])
                    for r, b in zip(rounds[t], rounds["ragbench"]) if "laps" in r and "laps" in b]
    results["agreement"] = agreement([t for t in tools if "median" in results[t]])
    return results


def _total(lap: dict, res: dict) -> float:
    return sum(lap.get(k, 0.0) for k in res["parse"] + res["eval"])


def _merge(runs: list[dict]) -> dict:
    ok = [r for r in runs if "laps" in r]
    if not ok:
        return runs[0]
    merged = dict(ok[0])
    merged["laps"] = [r["laps"][0] for r in ok]
    merged["import_s"] = statistics.median(r["import_s"] for r in ok)
    merged["warmup_s"] = ok[0]["warmup_s"]
    later = [r["warmup_s"] for r in ok[1:]] or ok[0].get("warmup_cached", [])
    merged["warmup_cached_s"] = statistics.median(later) if later and all(
        x is not None for x in later) else None
    merged["memory"] = max((r["memory"] for r in ok), key=lambda m: m["peak_rss_mib"])
    merged["loadavg"] = [r["loadavg_after"] for r in runs]
    merged["failed_rounds"] = len(runs) - len(ok)
    merged["median"] = medians(merged["laps"])
    for key, parts in (("parse", merged["parse"]), ("eval", merged["eval"]),
                       ("total", merged["parse"] + merged["eval"])):
        merged["median"][key] = statistics.median(
            sum(lap.get(k, 0.0) for k in parts) for lap in merged["laps"])
    return merged


def agreement(tools: list[str], reference: str = "pytrec_eval") -> dict:
    """Per measure and tool: the mean and, per query, the distance to ``reference``
    (max |difference| and how many queries differ by more than 5e-5, i.e. would print
    differently at trec_eval's 4 decimals) — on the full data and on the 500-query
    subset without tied scores (key ``notie``)."""
    out: dict[str, dict] = {canon: {} for canon in MEASURES}
    for suffix in ("", "_notie"):
        loaded = {}
        for tool in tools:
            path = OUT / f"{tool}{suffix}.npz"
            if path.exists():
                with np.load(path) as z:
                    loaded[tool] = {k: z[k] for k in z.files}
        if reference not in loaded:
            continue
        ref = loaded[reference]
        ref_pos = {q: i for i, q in enumerate(ref["__qids__"].tolist())}
        for canon in MEASURES:
            for tool, data in loaded.items():
                if canon not in data:
                    continue
                qids = data["__qids__"].tolist()
                idx = np.array([ref_pos.get(q, -1) for q in qids])
                ok = idx >= 0
                diff = np.abs(data[canon][ok] - ref[canon][idx[ok]])
                cell = out[canon].setdefault(tool, {})
                key = "notie" if suffix else "all"
                cell[key] = {"mean": float(np.mean(data[canon])), "queries": len(qids),
                             "missing_in_reference": int((~ok).sum()),
                             "max_abs_diff": float(diff.max()) if len(diff) else 0.0,
                             "queries_diff_4dp": int((diff > 5e-5).sum())}
    return out


def report(results: dict) -> str:
    tools = [t for t in TOOLS if t in results and "median" in results[t]]
    lines = ["### 1. End to end (files on disk -> per-query values + means)", ""]
    if "ragbench" in results and results["ragbench"].get("missing"):
        lines += [f"ragbench families not available yet (skipped): "
                  f"`{', '.join(results['ragbench']['missing'])}` — ragbench's timings "
                  f"below cover fewer measures than the peers'.", ""]
    lines += ["| tool | parse (s) | evaluate (s) | **total (s)** | import (s) | "
              "warm-up/compile (s) | peak RSS (MiB) | RSS after import (MiB) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for t in tools:
        r = results[t]
        m = r["median"]
        warm = fmt_s(r["warmup_s"])
        if t == "ranx" and r.get("warmup_cached_s") is not None:
            warm += f" (cached: {fmt_s(r['warmup_cached_s'])})"
        lines.append(f"| {t} | {fmt_s(m['parse'])} | {fmt_s(m['eval'])} | "
                     f"**{fmt_s(m['total'])}** | {fmt_s(r['import_s'])} | {warm} | "
                     f"{r['memory']['peak_rss_mib']:.0f} | "
                     f"{r['memory_after_import']['rss_mib']:.0f} |")
    if "ragbench" in tools:
        rb = results["ragbench"]["median"]
        lines += ["", "Ratios (peer / ragbench, medians; > 1 means ragbench is faster):", "",
                  "| peer | total | parse | evaluate | total, per round (same round) |",
                  "|---|---:|---:|---:|---|"]
        for t in tools:
            if t != "ragbench":
                m = results[t]["median"]
                rounds = ", ".join(f"{x:.1f}" for x in results[t].get("paired_ratios", []))
                lines.append(f"| {t} | **{m['total'] / rb['total']:.1f}x** | "
                             f"{m['parse'] / rb['parse']:.1f}x | {m['eval'] / rb['eval']:.1f}x "
                             f"| {rounds} |")
    n = max(len(results[t]["laps"]) for t in tools)
    load = ", ".join(f"{x:.1f}" for x in results[tools[0]].get("loadavg", []))
    lines += ["", f"{n} rounds; 1-minute load average after each round's first tool: "
                  f"{load} (the machine has {os.cpu_count()} CPUs).", "",
              "Stages (median s): "]
    for t in tools:
        m = results[t]["median"]
        stages = results[t]["parse"] + results[t]["eval"]
        lines.append(f"- {t}: " + ", ".join(f"{k} {fmt_s(m[k])}" for k in stages))
    for t in tools:
        st = results[t].get("memory_stages")
        if st:
            lines.append(f"- {t} RSS after each stage of the first repetition, MiB "
                         "(current / peak so far): " + ", ".join(
                             f"{k} {v['rss_mib']:.0f} / {v['peak_rss_mib']:.0f}"
                             for k, v in st.items()))
    lines += ["", "Raw laps per repetition are in `bench/data/results.json`.", ""]
    lines += _agreement_table(results.get("agreement", {}), tools)
    return "\n".join(lines)


def _agreement_table(agr: dict, tools: list[str]) -> list[str]:
    if not agr or not any(agr.values()):
        return []
    others = [t for t in tools if t != "pytrec_eval"]
    n_all = next((c["all"]["queries"] for row in agr.values() for c in row.values()
                  if "all" in c), 0)
    n_notie = next((c["notie"]["queries"] for row in agr.values() for c in row.values()
                    if "notie" in c), 0)
    lines = ["#### Agreement", "",
             f"Means over all {n_all:,} queries; then, per query against pytrec_eval "
             "(trec_eval 9.x): max |difference| / number of queries that differ at 4 "
             f"decimals, on all queries and on the {n_notie} queries of "
             "`notie_run.txt` (same rankings, scores replaced by 1001 - rank: no ties).", "",
             "| measure | " + " | ".join(f"mean {t}" for t in tools) + " | " +
             " | ".join(f"{t}: all / no ties" for t in others) + " |",
             "|---|" + "---:|" * (len(tools) + len(others))]

    def cell(c: dict | None) -> str:
        return "—" if c is None else f"{c['max_abs_diff']:.1e} / {c['queries_diff_4dp']}"

    for canon, row in agr.items():
        cells = [f"{row[t]['all']['mean']:.6f}" if "all" in row.get(t, {}) else "—"
                 for t in tools]
        cells += [f"{cell(row.get(t, {}).get('all'))} ; {cell(row.get(t, {}).get('notie'))}"
                  for t in others]
        lines.append(f"| {canon} | " + " | ".join(cells) + " |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tools", default=",".join(TOOLS))
    args = ap.parse_args(argv)
    res = run(args.reps, args.tools.split(","))
    print(report(res))
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        sys.exit(child_main(CHILDREN))
    sys.exit(main())
