"""Runner throughput: 1,600 queries at concurrency 32 against a system that answers
every retrieval in exactly 20 ms, so at most 32 / 20 ms = 1,600 queries/s.

* The system: ``fixed_latency_system.py`` in its own process (raw asyncio protocol,
  uvloop, responses encoded once). Its capacity is measured first with the raw load
  generator at the runner's concurrency and at 8x it; the HTTP client libraries
  (``ragbench.http.async_client`` as the runner uses it, a plain httpx client,
  aiohttp) are measured against it the same way, alone, as a ceiling for any runner
  built on them.
* The collection: ``make_collection(seed, num_docs=8000, num_queries=1600)``; the
  system answers each query with a ``make_runs`` ranking (top_k = 100).
* ``direct``: in a fresh child process per round (``runner_direct.py``),
  ``evaluations.jobs.run_evaluation`` on a temporary SQLite database (system
  registered with ``systems.service.register_system``, dataset stored with
  ``datasets.service.create_dataset_from_folder``), timed around the call and
  instrumented: every retrieve call, every HTTP send, every SQL statement and commit
  (by thread), the job's stages, the event loop thread's CPU and lag.
  ``--variants`` adds runs with the system client made otherwise (see
  ``runner_direct.py``), to compare.
* ``api``: the same through ``POST /api/v1/evaluations`` on a running ``ragbench
  serve`` (system and dataset created through the API), polled with
  ``GET /api/v1/evaluations/{id}``; throughput from the evaluation's own
  ``started_at``/``finished_at``, and as the client saw it (POST to completion seen).

Rounds interleave the paths (the order alternates); the report gives medians and
per-round values, and CPU per query, which unlike queries/s does not depend on what
else runs on a shared machine. ``--profile`` adds one direct evaluation per variant
under cProfile (CPU clock, event-loop thread), grouped by component
(``bench/data/runner/profile-<variant>.txt``).

    python bench/bench_runner.py                 # 3 rounds, both paths
    python bench/bench_runner.py --paths direct --rounds 5 --profile \
        --variants as-is,aiohttp-pool
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import time
import zipfile
from pathlib import Path

from harness import DATA, ROOT, machine_info, run_child
from runner_report import report
from servers import (cpu_seconds, loadavg, run_load, src_fingerprint,
                     start_fixed_latency_system, start_ragbench)

WORK = DATA / "runner"
MEASURES = ["nDCG@10", "AP", "RR@10", "P@10", "R@100"]
TARGET_SHARE = 0.90


# ---- setup ----------------------------------------------------------------------------

WARMUP_QUERIES = 20


def write_collection(folder: Path, *, seed: int, docs: int, queries: int) -> Path:
    """The BEIR folder and ``rankings.json`` (query text -> [[doc, score], ...]); and
    in ``folder/warmup`` a tiny collection for the untimed first evaluation of each
    process (the system answers its queries from the same documents)."""
    from ragbench.core.io.beir import write_beir
    from ragbench.core.synthetic import make_collection, make_runs

    data = make_collection(seed, num_docs=docs, num_queries=queries)
    write_beir(folder, data)
    run = make_runs(data.qrels, data.corpus.ids, num_runs=1, depth=100, seed=seed)[0]
    text = dict(zip(data.queries.ids.to_pylist(), data.queries.texts.to_pylist()))
    rankings: dict[str, list] = {}
    for q, d, s in zip(run.query_ids.to_pylist(), run.doc_ids.to_pylist(), run.scores.tolist()):
        # Two queries may share a text (drawn words); the first keeps it.
        rankings.setdefault(text[q], {}).setdefault(q, []).append([d, s])
    ranked = {t: sorted(next(iter(by_q.values())), key=lambda h: -h[1])
              for t, by_q in rankings.items()}
    warmup = make_collection(seed + 1, num_docs=WARMUP_QUERIES * 10,
                             num_queries=WARMUP_QUERIES)
    write_beir(folder / "warmup", warmup)
    path = folder / "rankings.json"
    path.write_text(json.dumps(ranked))
    return path


def system_body(url: str, concurrency: int) -> dict:
    return {"name": "fixed-20ms", "base_url": url, "adapter": "ragbench",
            "max_concurrency": concurrency, "timeout_s": 10.0,
            "description": "fixed-latency benchmark system"}


def setup_direct(data_dir: Path, collection: Path, system_url: str, concurrency: int) -> dict:
    """Register the system (validated) and store the dataset with the services."""
    from ragbench.database import get_database, migrate
    from ragbench.datasets import service as datasets_service
    from ragbench.systems import service as systems_service
    from ragbench.systems.schemas import SystemCreate

    settings = _settings(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.sqlalchemy_url)
    database = get_database(settings.sqlalchemy_url)
    with database.session() as session:
        system = systems_service.register_system(
            session, data=SystemCreate(**system_body(system_url, concurrency)),
            settings=settings)
        dataset = datasets_service.create_dataset_from_folder(
            session, name="bench-runner", folder=collection, split="test", settings=settings)
        warmup = datasets_service.create_dataset_from_folder(
            session, name="bench-runner-warmup", folder=collection / "warmup", split="test",
            settings=settings)
        ids = {"system_id": system.id, "dataset_id": dataset.id,
               "warmup_dataset_id": warmup.id}
    database.dispose()
    return ids


def setup_api(url: str, collection: Path, system_url: str, concurrency: int) -> dict:
    """Register the system and upload both datasets through the API."""
    import httpx

    def zipped(folder: Path) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
                zf.write(folder / name, f"bench/{name}")
        return buf.getvalue()

    with httpx.Client(base_url=url, timeout=600, trust_env=False) as client:
        resp = client.post("/api/v1/systems", json=system_body(system_url, concurrency))
        _check(resp, "register the system")
        ids = {"system_id": resp.json()["id"]}
        for key, name, folder in (("dataset_id", "bench-runner", collection),
                                  ("warmup_dataset_id", "bench-runner-warmup",
                                   collection / "warmup")):
            resp = client.post("/api/v1/datasets", data={"name": name, "split": "test"},
                               files={"archive": ("bench.zip", zipped(folder),
                                                  "application/zip")})
            _check(resp, f"upload {name}")
            ids[key] = resp.json()["id"]
        return ids


def _check(resp, what: str) -> None:
    if resp.status_code >= 400:
        raise RuntimeError(f"{what}: HTTP {resp.status_code}: {resp.text[:2000]}")


def _settings(data_dir: Path):
    from ragbench.config import Settings

    return Settings(_env_file=None, data_dir=data_dir, database_url="",
                    health_check_interval_s=0)


def evaluation_body(ids: dict, *, concurrency: int, top_k: int, warmup: bool = False) -> dict:
    dataset = ids["warmup_dataset_id" if warmup else "dataset_id"]
    return {"system_id": ids["system_id"], "dataset_id": dataset, "top_k": top_k,
            "measures": MEASURES, "concurrency": concurrency}


# ---- the API path (parent) -------------------------------------------------------------

def run_api_round(url: str, server_pid: int, ids: dict, *, concurrency: int, top_k: int,
                  poll_s: float, warmup: bool = False) -> dict:
    import httpx

    with httpx.Client(base_url=url, timeout=120, trust_env=False) as client:
        cpu0, t0 = cpu_seconds(server_pid), time.perf_counter()
        resp = client.post("/api/v1/evaluations",
                           json=evaluation_body(ids, concurrency=concurrency, top_k=top_k,
                                                warmup=warmup))
        _check(resp, "start the evaluation")
        evaluation_id, polls = resp.json()["id"], 0
        while True:
            ev = client.get(f"/api/v1/evaluations/{evaluation_id}").json()
            polls += 1
            if ev.get("status") in ("completed", "failed", "cancelled"):
                break
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"evaluation {evaluation_id} still {ev.get('status')}")
            time.sleep(poll_s)
        wall, cpu = time.perf_counter() - t0, cpu_seconds(server_pid) - cpu0
    server_s = _seconds_between(ev.get("started_at"), ev.get("finished_at"))
    total = ev.get("queries_total") or 0
    return {"evaluation_id": evaluation_id, "status": ev.get("status"), "queries_total": total,
            "errors_count": ev.get("errors_count"), "throughput_qps": ev.get("throughput_qps"),
            "server_s": server_s, "qps": total / server_s if server_s else None,
            "client_wall_s": wall, "client_qps": total / wall, "polls": polls,
            "server_cpu_s": cpu, "latency": ev.get("latency"), "error": ev.get("error"),
            "aggregates": ev.get("aggregates")}


def _seconds_between(a: str | None, b: str | None) -> float | None:
    from datetime import datetime

    if not a or not b:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


# ---- orchestration ---------------------------------------------------------------------

def capacity(url: str, rankings: Path, *, concurrency: int, seconds: float,
             clients: list[str]) -> dict:
    """What the system serves with the raw client at the runner's concurrency and at
    8x it, and what each client library alone drives at the runner's concurrency."""
    texts = list(json.loads(rankings.read_text()))
    targets = [{"method": "POST", "path": "/api/v1/retrieve",
                "body": {"query": t, "top_k": 100}} for t in texts]
    out = {}
    for client, c in [("raw", concurrency), ("raw", concurrency * 8)] + \
            [(name, concurrency) for name in clients]:
        try:
            res = run_load(url, targets, concurrency=c, seconds=seconds, warmup=1.0,
                           client=client)
        except RuntimeError as exc:  # e.g. aiohttp not installed
            print(f"[runner] capacity {client} x{c} skipped: {str(exc)[-300:]}", flush=True)
            continue
        out[f"{client} x{c}"] = res
        lat = res["latency_ms"]
        print(f"[runner] capacity {client} x{c}: {res['rps']:.0f} req/s, p50 {lat['p50']:.1f} "
              f"p99 {lat['p99']:.1f} ms, client CPU {res['client_cpu_s'] / res['seconds']:.2f} "
              f"cores, errors {sum(res['errors'].values())}", flush=True)
    return out


def run(args) -> dict:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    collection = WORK / "collection"
    rankings = write_collection(collection, seed=args.seed, docs=args.docs,
                                queries=args.queries)
    wanted = args.paths.split(",")
    variants = args.variants.split(",")
    paths = ([f"direct:{v}" for v in variants] if "direct" in wanted else []) + \
        (["api"] if "api" in wanted else [])
    results = {"machine": machine_info(), "src": src_fingerprint(), "args": vars(args),
               "paths": paths, "measures": MEASURES, "target_share": TARGET_SHARE,
               "warmup_queries": WARMUP_QUERIES, "rounds": []}
    system = start_fixed_latency_system(rankings, latency_ms=args.latency_ms,
                                        log=WORK / "system.log")
    api = None
    try:
        print(f"[runner] system at {system.url}", flush=True)
        if args.capacity_seconds > 0:
            results["capacity"] = capacity(system.url, rankings, concurrency=args.concurrency,
                                           seconds=args.capacity_seconds,
                                           clients=args.clients.split(","))
        ids = {}
        if "direct" in wanted:
            ids["direct"] = setup_direct(WORK / "direct", collection, system.url,
                                         args.concurrency)
        if "api" in wanted:
            api = start_ragbench(WORK / "api", log=WORK / "serve.log")
            ids["api"] = setup_api(api.url, collection, system.url, args.concurrency)
            # The server's first evaluation pays one-time costs (imports, caches).
            results["api_warmup"] = run_api_round(
                api.url, api.pid, ids["api"], concurrency=args.concurrency, top_k=args.top_k,
                poll_s=args.poll_s, warmup=True)
        for r in range(args.rounds):
            order = paths if r % 2 == 0 else paths[::-1]
            round_result = {"loadavg_1m": loadavg()}
            for path in order:
                if path == "api":
                    res = run_api_round(api.url, api.pid, ids["api"],
                                        concurrency=args.concurrency, top_k=args.top_k,
                                        poll_s=args.poll_s)
                else:
                    res = direct_round(ids["direct"], args, variant=path.split(":", 1)[1])
                round_result[path] = res
                print(f"[runner] round {r + 1} {path}: {res['status']}, "
                      f"{res['qps'] or float('nan'):.0f} q/s "
                      f"({(res['qps'] or 0) / ideal_qps(args):.0%} of {ideal_qps(args):.0f}), "
                      f"errors {res.get('errors_count')}, load {round_result['loadavg_1m']:.1f}",
                      flush=True)
            results["rounds"].append(round_result)
        if args.profile and "direct" in wanted:
            results["profile"] = {}
            for variant in variants:
                results["profile"][variant] = direct_round(
                    ids["direct"], args, variant=variant,
                    profile=WORK / f"profile-{variant}.txt")
    finally:
        if api is not None:
            api.stop()
        system.stop()
    results["system_log"] = system.log_tail(500)
    return results


def direct_round(ids: dict, args, *, variant: str, profile: Path | None = None) -> dict:
    """One evaluation through ``jobs.run_evaluation`` in a fresh child process."""
    res = run_child("runner_direct.py", "direct", 1, extra={
        "data_dir": str(WORK / "direct"), "variant": variant,
        "body": evaluation_body(ids, concurrency=args.concurrency, top_k=args.top_k),
        "warmup_body": evaluation_body(ids, concurrency=args.concurrency, top_k=args.top_k,
                                       warmup=True),
        "profile": str(profile) if profile else None})
    if "error" in res:
        raise RuntimeError(f"direct run ({variant}) failed:\n{res['error']}")
    return res["runs"][0] | {"child_wall_s": res["wall_s"]}


def ideal_qps(args) -> float:
    return args.concurrency / (args.latency_ms / 1000.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--paths", default="direct,api")
    ap.add_argument("--variants", default="as-is",
                    help="direct-path variants: as-is,aiohttp-pool,switch-interval-0.5ms "
                         "(see runner_direct.py)")
    ap.add_argument("--queries", type=int, default=1600)
    ap.add_argument("--docs", type=int, default=8000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--top-k", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--capacity-seconds", type=float, default=5.0, help="0 skips the check")
    ap.add_argument("--clients", default="ragbench-http,httpx,aiohttp",
                    help="client libraries measured alone against the system")
    ap.add_argument("--poll-s", type=float, default=0.05)
    ap.add_argument("--profile", action="store_true")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    results["argv"] = list(argv if argv is not None else sys.argv[1:])
    (WORK / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
