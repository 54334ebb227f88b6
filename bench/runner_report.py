"""The report of the runner benchmark (``bench_runner.py``), rendered from its results
alone (so ``run_all.py --report-only`` can redo it)."""

from __future__ import annotations

import statistics

from profiles import groups_table


CLIENT_LABELS = {"raw": "raw asyncio sockets (the load generator)",
                 "ragbench-http": "`ragbench.http.async_client` (what the runner uses)",
                 "httpx": "plain `httpx.AsyncClient` (httpcore's pool)",
                 "aiohttp": "aiohttp (one session)"}


def report(results: dict) -> str:
    a = results["args"]
    ideal = a["concurrency"] / (a["latency_ms"] / 1000.0)
    rounds = results["rounds"]
    target = results.get("target_share", 0.90)
    lines = [f"### Runner throughput: {a['queries']:,} queries, concurrency "
             f"{a['concurrency']}, a system answering in {a['latency_ms']:g} ms", "",
             f"Ceiling: {a['concurrency']} / {a['latency_ms']:g} ms = **{ideal:,.0f} "
             f"queries/s**; target >= {target:.0%} of it "
             f"({target * ideal:,.0f} q/s). top_k = {a['top_k']}, measures "
             f"{', '.join(results.get('measures', []))}; {len(rounds)} interleaved rounds, medians; "
             f"src tree {results.get('src', '?')}. "
             f"At that rate one core gives the runner {1000 / ideal:.3f} ms of CPU per "
             "query.", ""]
    cap = results.get("capacity")
    if cap:
        lines += ["The system alone, and each HTTP client library alone against it "
                  f"(`bench/http_load.py`, its own process, {a['capacity_seconds']:g} s each):",
                  "", "| client | concurrency | req/s | p50 ms | p99 ms | client CPU (cores) "
                  "| client CPU ms/request |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name, res in cap.items():
            client, c = name.split(" x")
            cpu = res["client_cpu_s"] / res["seconds"]
            lines.append(f"| {CLIENT_LABELS.get(client, client)} | {c} | {res['rps']:,.0f} | "
                         f"{res['latency_ms']['p50']:.1f} | {res['latency_ms']['p99']:.1f} | "
                         f"{cpu:.2f} | {cpu / res['rps'] * 1e3:.3f} |")
        lines.append("")
    lines += ["| path | q/s (median) | share of ceiling | per round (q/s) | querying phase "
              "only, q/s | CPU ms/query | target: querying / whole |",
              "|---|---:|---:|---|---:|---:|---|"]
    for path in results.get("paths", []):
        runs = [r[path] for r in rounds if path in r]
        if not runs:
            continue
        qps = [r["qps"] or 0.0 for r in runs]
        med = statistics.median(qps)
        phase = statistics.median((r.get("http_phase_qps") if path != "api" else
                                   r.get("throughput_qps")) or 0.0 for r in runs)
        if path == "api":
            label = "`POST /api/v1/evaluations` (started_at -> finished_at)"
            cpu = statistics.median(r["server_cpu_s"] for r in runs) / a["queries"] * 1e3
            cpu_text = f"{cpu:.2f} (server process)"
        else:
            variant = path.split(":", 1)[1]
            label = "`jobs.run_evaluation` (wall time of the call)" + \
                ("" if variant == "as-is" else f", variant `{variant}`")
            cpu = statistics.median(r["process_cpu_s"] for r in runs) / a["queries"] * 1e3
            cpu_text = f"{cpu:.2f}"
        verdict = (("MET" if phase >= target * ideal else "NOT MET") + " / "
                   + ("MET" if med >= target * ideal else "NOT MET"))
        bad = [r for r in runs if r["status"] != "completed" or r.get("errors_count")]
        if bad:
            verdict += f" ({len(bad)} rounds with failures)"
        if path.startswith("direct:") and path != "direct:as-is":
            verdict = f"({verdict}; comparison)"
        lines.append(f"| {label} | **{med:,.0f}** | {med / ideal:.0%} | "
                     f"{', '.join(f'{x:,.0f}' for x in qps)} | {phase:,.0f} | {cpu_text} | "
                     f"{verdict} |")
        if path == "api":
            seen = [r["client_qps"] for r in runs]
            cw = statistics.median(seen)
            lines.append(f"| `POST` -> completion seen by the client (polled every "
                         f"{a['poll_s'] * 1000:.0f} ms) | {cw:,.0f} | {cw / ideal:.0%} | "
                         f"{', '.join(f'{x:,.0f}' for x in seen)} | | | |")
    lines += ["", "Querying phase: the direct path's first request to last answer; the API "
              "path's `throughput_qps` as the runner stores it (answered queries per second "
              "of querying). The target (>= 90% of the ceiling) is shown for the querying "
              "rate, which is what the system's latency bounds, and for the whole "
              "evaluation (start, querying, scoring, the Parquet run), whose fixed costs "
              "weigh more the fewer the queries."]
    warm = [r[p]["warmup_s"] for r in rounds for p in r
            if isinstance(r[p], dict) and r[p].get("warmup_s") is not None]
    if warm:
        api_warm = results.get("api_warmup", {}).get("client_wall_s")
        lines.append(f"Not timed: each direct round's process first evaluates a "
                     f"{results.get('warmup_queries', 20)}-query dataset "
                     f"({statistics.median(warm):.2f} s median: what a fresh process pays "
                     "once, mostly imports)"
                     + (f"; the API server likewise once ({api_warm:.2f} s)" if api_warm
                        else "") + ".")
    lines.append("")
    for path in results.get("paths", []):
        runs = [r[path] for r in rounds if path in r]
        if path.startswith("direct:") and runs:
            lines += _stages(runs, a["queries"], path.split(":", 1)[1])
    if results.get("profile"):
        lines += _profile(results["profile"], a["queries"])
    lines.append("Load average (1 min) at each round's start: "
                 + ", ".join(f"{r['loadavg_1m']:.1f}" for r in rounds) + ".")
    return "\n".join(lines) + "\n"


def _stages(runs: list[dict], queries: int, variant: str) -> list[str]:
    med = lambda key: statistics.median(r.get(key) or 0.0 for r in runs)  # noqa: E731
    labels = sorted({k for r in runs for k in r.get("stages", {})})
    lines = [f"Where the time of `jobs.run_evaluation` goes (variant `{variant}`, median "
             "over rounds, seconds of wall time):", "",
             f"- wall {med('wall_s'):.3f}: before the first request {med('before_http_s'):.3f}, "
             f"HTTP phase {med('http_phase_s'):.3f} ({med('http_phase_qps'):,.0f} q/s), "
             f"after the last answer {med('after_http_s'):.3f}",
             f"- HTTP phase: mean requests in flight {med('mean_in_flight'):.1f} of "
             f"{runs[0].get('concurrency')}; `retrieve()` {med('retrieve_ms_mean'):.1f} ms mean "
             f"(the system answers in 20 ms), of which `HttpClient.request` "
             f"{med('send_ms_mean'):.1f} ms",
             f"- CPU: process {med('process_cpu_s'):.3f} s = "
             f"{med('process_cpu_s') / queries * 1e3:.2f} ms per query; event-loop thread "
             f"{med('loop_thread_cpu_s'):.3f} s (busy "
             f"{med('loop_thread_cpu_s') / med('wall_s'):.0%} of wall); a 5 ms timer was "
             f"late by > 1 ms for {med('loop_lag_s'):.3f} s in all, at most "
             f"{med('loop_lag_max_ms'):.0f} ms", "",
             "| stage | seconds | on the loop thread | calls | rows |",
             "|---|---:|---:|---:|---:|"]
    for label in labels:
        vals = [r["stages"].get(label, {}) for r in runs]
        m = lambda k: statistics.median(v.get(k, 0) for v in vals)  # noqa: E731
        lines.append(f"| {label} | {m('s'):.3f} | {m('loop_s'):.3f} | {m('calls'):.0f} | "
                     f"{m('rows'):.0f} |")
    return lines + [""]


def _profile(profiles: dict, queries: int) -> list[str]:
    """CPU by component, one profiled run per variant: the event-loop thread, then the
    worker threads (database writes, collection load, scoring)."""
    lines = []
    for key, title in (("profile_groups", "the event-loop thread"),
                       ("worker_profile_groups", "the worker threads (`asyncio.to_thread`)")):
        groups = {v: p.get(key, {}) for v, p in profiles.items() if p.get(key)}
        if groups:
            lines += [f"CPU of {title} by component (cProfile with a CPU clock, one run per "
                      "variant; profiling inflates the absolute values, the shares are what "
                      "counts):", "", *groups_table(groups, queries, "query"), ""]
    return lines
