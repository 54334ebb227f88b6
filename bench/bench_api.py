"""API latency under load: 50 concurrent clients on a database of 1,000 evaluations.

The database (``api_database.py``) holds one dataset of 300 queries
(``make_collection``, stored with ``datasets.service.create_dataset_from_folder``),
20 systems and 50 completed evaluations per system (1,000 evaluations, 300,000
per-query rows), bulk-inserted with the SQLAlchemy models; every metric is
ragbench.core's value on a real run of that system.

A real ``ragbench serve`` (uvicorn, one process) serves it; the load generator
(``http_load.py``, a raw keep-alive asyncio client in its own process) keeps
``concurrency`` requests in flight, for ``seconds`` per endpoint and round:

* ``leaderboard``: ``GET /api/v1/comparisons/leaderboard/{dataset}?metric=nDCG@10``
* ``evaluation``: ``GET /api/v1/evaluations/{id}``, ids drawn at random (seeded)
* ``evaluations``: ``GET /api/v1/evaluations?dataset_id={dataset}``

Rounds interleave the endpoints (the order rotates); the report gives medians over
rounds of requests/s and of each latency percentile, the server's CPU per request,
and a single-client pass (unloaded latency). Target: p95 < 100 ms.

    python bench/bench_api.py                          # SQLite, 3 rounds x 20 s
    python bench/bench_api.py --engines sqlite,postgresql
    python bench/bench_api.py --seconds 5 --rounds 1   # smoke run

PostgreSQL: ``scripts/postgres.sh start`` on its own port and folder (not the test
suite's), a fresh database, stopped afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from api_database import WORK, Postgres, populate
from harness import ROOT, machine_info
from profiles import groups_table, profile_groups
from servers import run_load, src_fingerprint, start_ragbench

ENDPOINTS = ("leaderboard", "evaluation", "evaluations", "health")
#: Measured as the floor of the stack (uvicorn + FastAPI, no database), not a target.
REFERENCE = ("health",)
TARGET_P95_MS = 100.0


# ---- the load -----------------------------------------------------------------------

def targets_for(endpoint: str, ids: dict) -> list[dict]:
    ds = ids["dataset_id"]
    if endpoint == "leaderboard":
        return [{"method": "GET", "path": f"/api/v1/comparisons/leaderboard/{ds}"
                                          "?metric=nDCG@10"}]
    if endpoint == "evaluation":
        return [{"method": "GET", "path": f"/api/v1/evaluations/{i}"}
                for i in ids["evaluation_ids"]]
    if endpoint == "health":
        return [{"method": "GET", "path": "/health"}]
    return [{"method": "GET", "path": f"/api/v1/evaluations?dataset_id={ds}"}]


def probe(url: str, ids: dict) -> dict:
    """One request per endpoint: status, size, and what the body says (a sanity check
    that the load measures real answers, not errors)."""
    import httpx

    out = {}
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
        for endpoint in ENDPOINTS:
            path = targets_for(endpoint, ids)[0]["path"]
            t0 = time.perf_counter()
            resp = client.get(path)
            ms = (time.perf_counter() - t0) * 1e3
            info = {"path": path, "status": resp.status_code, "bytes": len(resp.content),
                    "first_ms": ms}
            try:
                body = resp.json()
            except ValueError:
                body = None
            if resp.status_code != 200:
                info["body"] = resp.text[:500]
            elif endpoint == "leaderboard":
                info["systems_ranked"] = len(body.get("ranking", []))
                info["pairs"] = len(body.get("pairs", []))
            elif endpoint == "evaluations":
                items = body if isinstance(body, list) else body.get("items", body)
                info["items"] = len(items) if isinstance(items, list) else None
            out[endpoint] = info
    return out


async def call_asgi(app, target: str) -> tuple[int, bytes]:
    """One GET straight into the ASGI app (no HTTP client, no server): status, body."""
    path, _, query = target.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "", "headers": [(b"host", b"bench")],
             "client": ("127.0.0.1", 1), "server": ("bench", 80), "state": {}}
    status, body = 0, []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


def breakdown(settings, ids: dict, endpoints: list[str], *, requests: int,
              profile_dir: Path | None) -> dict:
    """Per endpoint, without HTTP: the ms per request of the whole app called
    in-process (routing, dependencies, service, response model, JSON), and a cProfile
    of those requests with a CPU clock. Worker-thread hops run inline on the loop
    so one profiler sees all of it."""
    import asyncio
    import cProfile
    import io as io_
    import pstats

    import anyio.to_thread

    from ragbench.main import create_app

    async def inline(func, *args, abandon_on_cancel=False, cancellable=None, limiter=None):
        return func(*args)

    # Every worker-thread hop (sync routes and dependencies, run_in_threadpool) goes
    # through anyio.to_thread.run_sync: run them inline so one profiler sees all.
    saved = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = inline
    app = create_app(settings)
    out = {}

    async def measure() -> None:
        for endpoint in endpoints:
            targets = targets_for(endpoint, ids)
            paths = [targets[i % len(targets)]["path"] for i in range(requests)]
            for path in paths[:5]:
                status, body = await call_asgi(app, path)
                if status != 200:
                    raise RuntimeError(f"{path}: HTTP {status}: {body[:300]!r}")
            t0 = time.perf_counter()
            for path in paths:
                await call_asgi(app, path)
            in_process_ms = (time.perf_counter() - t0) / len(paths) * 1e3
            # CPU clock: on a shared machine wall time counts waiting for a core.
            profiler = cProfile.Profile(time.thread_time)
            profiler.enable()
            for path in paths:
                await call_asgi(app, path)
            profiler.disable()
            buf = io_.StringIO()
            stats = pstats.Stats(profiler, stream=buf)
            entry = {"in_process_ms": in_process_ms, "requests": len(paths),
                     "profile_groups": profile_groups(stats)}
            if profile_dir is not None:
                stats.sort_stats("cumulative").print_stats(60)
                stats.sort_stats("tottime").print_stats(30)
                path = profile_dir / f"profile-{endpoint}.txt"
                path.write_text(buf.getvalue())
                entry["profile"] = str(path)
            out[endpoint] = entry

    try:
        asyncio.run(measure())
    finally:
        anyio.to_thread.run_sync = saved
    return out


def run_engine(engine: str, args) -> dict:
    from ragbench.config import Settings

    work = WORK / engine
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pg = Postgres() if engine == "postgresql" else None
    server = None
    try:
        url = pg.url if pg else ""
        settings = Settings(_env_file=None, data_dir=work / "data", database_url=url,
                            health_check_interval_s=0)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        print(f"[api/{engine}] populating {args.systems} systems x {args.per_system} "
              f"evaluations x {args.queries} queries ...", flush=True)
        ids = populate(settings, systems=args.systems, per_system=args.per_system,
                       queries=args.queries, seed=args.seed, analyze=not args.no_analyze)
        from ragbench.database import get_database
        get_database(settings.sqlalchemy_url).dispose()
        print(f"[api/{engine}] built in {ids['build_s']:.1f} s, inserted in "
              f"{ids['insert_s']:.1f} s; starting ragbench serve", flush=True)
        server = start_ragbench(settings.data_dir, log=work / "serve.log", database_url=url)
        result = {"engine": engine, "db": ids | {"evaluation_ids": len(ids["evaluation_ids"])},
                  "postgres_version": pg.version if pg else None,
                  "probe": probe(server.url, ids)}
        print(f"[api/{engine}] probe: " + json.dumps(result["probe"]), flush=True)
        endpoints = [e for e in ENDPOINTS if e in args.endpoints.split(",")]
        result["single"] = {}
        for endpoint in endpoints:
            result["single"][endpoint] = run_load(
                server.url, targets_for(endpoint, ids), concurrency=1,
                seconds=args.single_seconds, warmup=0.5, server_pid=server.pid)
        result["rounds"] = []
        for r in range(args.rounds):
            order = endpoints[r % len(endpoints):] + endpoints[:r % len(endpoints)]
            round_result = {}
            for endpoint in order:
                res = run_load(server.url, targets_for(endpoint, ids),
                               concurrency=args.concurrency, seconds=args.seconds,
                               warmup=1.0, seed=r, server_pid=server.pid)
                round_result[endpoint] = res
                lat = res["latency_ms"]
                print(f"[api/{engine}] round {r + 1} {endpoint}: {res['rps']:.0f} req/s, "
                      f"p50 {lat['p50']:.1f} p95 {lat['p95']:.1f} p99 {lat['p99']:.1f} ms, "
                      f"errors {sum(res['errors'].values())}, status {res['status']}, "
                      f"load {res['loadavg_1m']:.1f}", flush=True)
            result["rounds"].append(round_result)
        result["medians"] = _medians(result["rounds"], endpoints)
        if args.breakdown_requests:
            result["breakdown"] = breakdown(settings, ids, endpoints,
                                            requests=args.breakdown_requests, profile_dir=work)
        return result
    finally:
        if server is not None:
            server.stop()
        if pg is not None:
            pg.stop()


def _medians(rounds: list[dict], endpoints: list[str]) -> dict:
    out = {}
    for e in endpoints:
        rs = [r[e] for r in rounds if e in r]
        med = lambda f: statistics.median(f(x) for x in rs)  # noqa: E731
        out[e] = {"rps": med(lambda x: x["rps"]),
                  **{p: med(lambda x, p=p: x["latency_ms"][p]) for p in
                     ("p50", "p95", "p99", "max")},
                  "p95_per_round": [x["latency_ms"]["p95"] for x in rs],
                  "server_cpu_ms_per_request": med(
                      lambda x: x.get("server_cpu_ms_per_request") or float("nan")),
                  "server_cpu_per_s": med(lambda x: x.get("server_cpu_per_s") or float("nan")),
                  "client_cpu_per_s": med(lambda x: x["client_cpu_s"] / x["seconds"]),
                  "errors": sum(sum(x["errors"].values()) for x in rs),
                  "non_2xx": sum(n for x in rs for s, n in x["status"].items()
                                 if not s.startswith("2")),
                  "requests": sum(x["requests"] for x in rs),
                  "loadavg_1m": med(lambda x: x.get("loadavg_1m", float("nan")))}
    return out


def run(args) -> dict:
    results = {"machine": machine_info(), "src": src_fingerprint(), "args": vars(args),
               "engines": {}}
    for engine in args.engines.split(","):
        results["engines"][engine] = run_engine(engine, args)
    return results


# ---- report -------------------------------------------------------------------------

LABELS = {"leaderboard": "`GET /api/v1/comparisons/leaderboard/{id}?metric=nDCG@10`",
          "evaluation": "`GET /api/v1/evaluations/{id}` (random ids)",
          "evaluations": "`GET /api/v1/evaluations?dataset_id={id}`",
          "health": "`GET /health` (reference: the stack without a database)"}


def report(results: dict) -> str:
    a = results["args"]
    lines = [f"### API latency: {a['concurrency']} concurrent clients, "
             f"{a['systems'] * a['per_system']:,} stored evaluations", "",
             f"{a['systems']} systems x {a['per_system']} completed evaluations of one "
             f"{a['queries']}-query dataset ({a['systems'] * a['per_system'] * a['queries']:,} "
             "per-query rows), served by `ragbench serve` (uvicorn, 1 process); closed-loop "
             f"load from `bench/http_load.py` (raw keep-alive asyncio client, own process), "
             f"{a['seconds']:g} s per endpoint and round, {a['rounds']} interleaved rounds; "
             f"medians over rounds; src tree {results.get('src', '?')}. "
             f"Target: p95 < {TARGET_P95_MS:.0f} ms. Server CPU is `ragbench serve`'s own "
             "(from /proc) per request served; in-process is the app called without HTTP "
             "(worker-thread hops inline); load is the machine's 1-minute load average "
             "after each run (2 CPUs).", ""]
    for engine, res in results["engines"].items():
        db = res["db"]
        title = engine if not res.get("postgres_version") else \
            f"{engine} {res['postgres_version']}"
        lines += [f"#### {title}", "",
                  f"Database built in {db['build_s']:.1f} s (metrics, runs), rows inserted in "
                  f"{db['insert_s']:.1f} s"
                  + ("" if engine != "postgresql" else
                     ", then ANALYZE" if not a.get("no_analyze") else ", no ANALYZE")
                  + ".", "",
                  "| endpoint | req/s | p50 ms | p95 ms | p99 ms | max ms | p95 per round | "
                  "server CPU ms/req | server CPU (cores) | 1 client: p50 ms | in-process "
                  "ms/req | body bytes | load (1 min) | target |",
                  "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
        for e, m in res["medians"].items():
            single = res["single"].get(e, {}).get("latency_ms", {})
            ok = m["p95"] < TARGET_P95_MS and not m["errors"] and not m["non_2xx"]
            verdict = "MET" if ok else "NOT MET"
            if e in REFERENCE:
                verdict = "(reference)"
            if m["errors"] or m["non_2xx"]:
                verdict += f" ({m['errors']} errors, {m['non_2xx']} non-2xx)"
            lines.append(
                f"| {LABELS[e]} | {m['rps']:.0f} | {m['p50']:.1f} | **{m['p95']:.1f}** | "
                f"{m['p99']:.1f} | {m['max']:.0f} | "
                f"{', '.join(f'{x:.0f}' for x in m['p95_per_round'])} | "
                f"{m['server_cpu_ms_per_request']:.2f} | {m['server_cpu_per_s']:.2f} | "
                f"{single.get('p50', float('nan')):.1f} | "
                f"{res.get('breakdown', {}).get(e, {}).get('in_process_ms', float('nan')):.2f} | "
                f"{res['probe'][e]['bytes']:,} | {m.get('loadavg_1m', float('nan')):.1f} | "
                f"{verdict} |")
        lines.append("")
        bd = res.get("breakdown")
        if bd:
            n = next(iter(bd.values()))["requests"]
            lines += [f"CPU per request by component, in-process (the ASGI app called "
                      f"directly, worker-thread hops inline, {n} requests per endpoint, "
                      "cProfile with a CPU clock: absolute values inflated, shares are what "
                      "counts):", "",
                      *groups_table({e: b["profile_groups"] for e, b in bd.items()}, n,
                                    "request"), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="sqlite", help="sqlite,postgresql")
    ap.add_argument("--endpoints", default=",".join(ENDPOINTS))
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0, help="per endpoint and round")
    ap.add_argument("--single-seconds", type=float, default=3.0,
                    help="the one-client pass per endpoint")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--systems", type=int, default=20)
    ap.add_argument("--per-system", type=int, default=50, help="evaluations per system")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--no-analyze", action="store_true",
                    help="PostgreSQL: skip ANALYZE after the bulk insert (planner without "
                         "statistics)")
    ap.add_argument("--breakdown-requests", type=int, default=200,
                    help="requests per endpoint timed and profiled in-process (0: none)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    results["argv"] = list(argv if argv is not None else sys.argv[1:])
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
