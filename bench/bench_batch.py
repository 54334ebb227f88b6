"""Batch throughput on Celery: one ``ragbench worker`` against two, and the queue's
cost per task.

* The batch: 50 systems x 4 small datasets (``make_collection``, 30 judged
  queries each by default) = 200 tasks, 6,000 queries, one job through
  ``POST /api/v1/batch/jobs`` on ``ragbench serve`` with PostgreSQL
  (``scripts/postgres.sh``) and Redis (``scripts/redis.sh``), each on a port of
  its own. Every system is the same ``fixed_latency_system.py`` process (raw
  asyncio, uvloop, answers after a fixed 5 ms): a few tens of microseconds of CPU
  per request, so the systems are not what limits a batch.
* ``throughput``: the job on one worker, then on two (each ``--concurrency`` N,
  threads), in rounds whose order alternates; time from the job's ``created_at``
  to its ``finished_at`` (server clock). Reported: tasks/s, queries/s, the median
  of the rounds, the ratio two/one (per round and of the medians), and where the
  CPU went meanwhile (each process's CPU seconds per second of the run, from
  ``/proc``; the machine's busy share).
* ``overhead``: the same ``K`` tasks (``--overhead-systems`` x the 4 datasets) run
  one after the other twice: by ``execute_task`` called in a loop in a fresh
  process (``direct``), and through the queue by one worker with
  ``--concurrency 1`` (``queued``). Per task: wall time of the whole run / K, the
  task's own time (``started_at`` -> ``finished_at``) and the gap between one
  task's end and the next one's start. Overhead = queued - direct, in ms per task.

    python bench/bench_batch.py                       # 3 rounds (~3 min on 2 cores)
    python bench/bench_batch.py --rounds 5 --concurrency 4

Results: stdout and ``bench/data/batch/results.json``; logs in ``bench/data/batch/``.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from contextlib import ExitStack
from pathlib import Path

from harness import DATA, ROOT
from servers import (
    Server,
    child_env,
    cpu_seconds,
    loadavg,
    start_fixed_latency_system,
    start_ragbench,
)

WORK = DATA / "batch"
MEASURES = ["nDCG@10", "AP", "RR@10", "P@10", "R@100"]
PG_PORT = "54361"
REDIS_PORT = "63861"


# ---- servers ---------------------------------------------------------------------------

def _script(name: str, action: str, env: dict[str, str]) -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / name), action], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/{name} {action} failed: {out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


class Backing:
    """PostgreSQL (one fresh database) and Redis, started by the project's scripts."""

    def __init__(self) -> None:
        self.pg_dir = Path(f"/tmp/ragbench-bench-batch-pg-{PG_PORT}")
        self.redis_dir = Path(f"/tmp/ragbench-bench-batch-redis-{REDIS_PORT}")
        self.pg_env = {**os.environ, "RAGBENCH_PG_PORT": PG_PORT,
                       "RAGBENCH_PG_DIR": str(self.pg_dir)}
        self.redis_env = {**os.environ, "RAGBENCH_REDIS_PORT": REDIS_PORT,
                          "RAGBENCH_REDIS_DIR": str(self.redis_dir)}
        admin = _script("postgres.sh", "start", self.pg_env)
        import sqlalchemy as sa

        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text('DROP DATABASE IF EXISTS "ragbench_batch" WITH (FORCE)'))
            conn.execute(sa.text('CREATE DATABASE "ragbench_batch"'))
            self.pg_version = conn.execute(sa.text("SHOW server_version")).scalar()
        engine.dispose()
        self.database_url = admin.rsplit("/", 1)[0] + "/ragbench_batch"
        self.broker_url = _script("redis.sh", "start", self.redis_env)

    def pids(self) -> dict[str, list[int]]:
        """PostgreSQL's processes (the postmaster and its children) and Redis's."""
        out: dict[str, list[int]] = {"postgresql": [], "redis": []}
        try:
            postmaster = int((self.pg_dir / "data" / "postmaster.pid").read_text().split()[0])
            out["postgresql"] = [postmaster] + _children(postmaster)
        except (OSError, ValueError):
            pass
        try:
            out["redis"] = [int((self.redis_dir / "redis.pid").read_text().split()[0])]
        except (OSError, ValueError):
            pass
        return out

    def stop(self) -> None:
        _script("redis.sh", "stop", self.redis_env)
        _script("postgres.sh", "stop", self.pg_env)


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass
    return kids


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """CPU seconds per second of wall time, per named group of processes, and the
    machine's busy share, between ``start()`` and ``stop()``."""

    def __init__(self, groups) -> None:
        self.groups = groups  # () -> {name: [pid, ...]}

    def _sample(self) -> dict[str, float]:
        out = {}
        for name, pids in self.groups().items():
            total = 0.0
            for pid in pids:
                try:
                    total += cpu_seconds(pid)
                except (OSError, ValueError, IndexError):
                    pass
            out[name] = total
        return out

    def start(self) -> None:
        self.t0, self.cpu0, self.m0 = time.perf_counter(), self._sample(), _machine_busy()

    def stop(self) -> dict:
        elapsed = time.perf_counter() - self.t0
        cpu1, m1 = self._sample(), _machine_busy()
        busy = (m1[0] - self.m0[0]) / max(1, m1[1] - self.m0[1])
        return {"cpu_per_s": {k: round((cpu1.get(k, 0.0) - v) / elapsed, 3)
                              for k, v in self.cpu0.items()},
                "machine_busy_share": round(busy, 3), "loadavg_1m": loadavg()}


def _worker_argv(concurrency: int) -> list[str]:
    from ragbench.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "")
             for c in app.registered_commands}
    command = (["-m", "ragbench.cli", "worker"] if "worker" in names
               else ["-m", "ragbench.batch.worker_cli"])
    return [sys.executable, *command, "--concurrency", str(concurrency), "--loglevel",
            "info"]


def start_workers(n: int, *, concurrency: int, env: dict[str, str], tag: str) -> list[Server]:
    workers = []
    for i in range(n):
        log = WORK / f"worker-{tag}-{i}.log"
        workers.append(Server(f"worker {i}", _worker_argv(concurrency), url=None, log=log,
                              env=env))
    deadline = time.monotonic() + 60
    for w in workers:
        while " ready." not in w.log_tail(50_000):
            if w.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{w.log_tail()}")
            time.sleep(0.05)
    return workers


# ---- data ------------------------------------------------------------------------------

def write_collections(folder: Path, *, datasets: int, queries: int, docs: int,
                      seed: int) -> tuple[list[Path], Path]:
    """BEIR folders and ``rankings.json`` for the fixed-latency system (20 documents
    per query: half of its judged ones and random others)."""
    from ragbench.core.io.beir import write_beir
    from ragbench.core.synthetic import make_collection

    paths, rankings = [], {}
    for i in range(datasets):
        collection = make_collection(seed + i, num_docs=docs, num_queries=queries)
        path = folder / f"set{i}"
        write_beir(path, collection)
        paths.append(path)
        judged = collection.qrels.to_dict()
        doc_ids = collection.corpus.ids.to_pylist()
        for qid, text in zip(collection.queries.ids.to_pylist(),
                             collection.queries.texts.to_pylist(), strict=True):
            rng = random.Random(f"{seed}:{i}:{qid}")
            picked = sorted(judged.get(qid, {}))[::2] + rng.sample(doc_ids, 20)
            picked = list(dict.fromkeys(picked))[:20]
            rankings[text] = [[d, round(1.0 - j / 50, 4)] for j, d in enumerate(picked)]
    path = folder / "rankings.json"
    path.write_text(json.dumps(rankings))
    return paths, path


def _zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                archive.write(f, f.relative_to(folder).as_posix())
    return buffer.getvalue()


# ---- measurements ---------------------------------------------------------------------

def _job_times(database, job_id: int) -> dict:
    from sqlalchemy import select

    from ragbench.batch.models import Job, JobTask

    with database.session() as session:
        job = session.get(Job, job_id)
        tasks = session.execute(select(JobTask.started_at, JobTask.finished_at,
                                       JobTask.status)
                                .where(JobTask.job_id == job_id)
                                .order_by(JobTask.started_at)).all()
        return {"status": job.status, "created_at": job.created_at,
                "finished_at": job.finished_at, "tasks": tasks}


def wait_job(database, job_id: int, timeout_s: float = 1800) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        times = _job_times(database, job_id)
        if times["status"] in ("completed", "failed", "cancelled"):
            return times
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not finish in {timeout_s} s")


def post_job(api, system_ids: list[int], dataset_ids: list[int], args) -> int:
    response = api.post("/api/v1/batch/jobs", json={
        "name": "bench", "system_ids": system_ids, "dataset_ids": dataset_ids,
        "evaluation_config": {"measures": MEASURES, "top_k": 20,
                              "concurrency": args.eval_concurrency, "retries": 0}})
    response.raise_for_status()
    return response.json()["id"]


def _seconds(times: dict) -> float:
    return (times["finished_at"] - times["created_at"]).total_seconds()


def _task_stats(times: dict) -> dict:
    rows = [t for t in times["tasks"] if t.started_at and t.finished_at]
    own = [(t.finished_at - t.started_at).total_seconds() * 1e3 for t in rows]
    gaps = [(b.started_at - a.finished_at).total_seconds() * 1e3
            for a, b in itertools.pairwise(rows)]
    return {"task_ms_median": statistics.median(own) if own else None,
            "gap_ms_median": statistics.median(gaps) if gaps else None}


def background_busy(seconds: float = 1.0) -> float:
    """The machine's busy share while nothing of the benchmark works (the server,
    databases and system idle): what other programs take."""
    m0 = _machine_busy()
    time.sleep(seconds)
    m1 = _machine_busy()
    return round((m1[0] - m0[0]) / max(1, m1[1] - m0[1]), 3)


def run_throughput(n_workers: int, *, ctx: dict, args, tag: str) -> dict:
    workers = start_workers(n_workers, concurrency=args.concurrency, env=ctx["env"], tag=tag)
    background = background_busy()
    try:
        meter = CpuMeter(lambda: {"server": [ctx["server"].pid],
                                  "workers": [w.pid for w in workers],
                                  "system": [ctx["system"].pid], **ctx["backing"].pids()})
        meter.start()
        job_id = post_job(ctx["api"], ctx["system_ids"], ctx["dataset_ids"], args)
        times = wait_job(ctx["database"], job_id)
        cpu = meter.stop()
    finally:
        for w in workers:
            w.stop()
    if times["status"] != "completed":
        raise RuntimeError(f"job {job_id} ended {times['status']}")
    seconds = _seconds(times)
    tasks = len(ctx["system_ids"]) * len(ctx["dataset_ids"])
    return {"workers": n_workers, "job_id": job_id, "seconds": round(seconds, 3),
            "tasks_per_s": round(tasks / seconds, 2),
            "queries_per_s": round(ctx["queries_per_job"] / seconds, 1), **cpu,
            "background_busy_share": background,
            "task_ms_median": _task_stats(times)["task_ms_median"]}


def run_direct_child(args) -> int:
    """In a fresh process: ``execute_task`` on each task of ``--job``, one after the
    other (after one warm-up task of ``--warmup-job``); prints JSON."""
    from ragbench.batch.execution import execute_task
    from ragbench.config import get_settings
    from ragbench.database import get_database
    from ragbench.tables import metadata  # noqa: F401  (every table mapped)

    settings = get_settings()
    database = get_database(settings.sqlalchemy_url)
    from sqlalchemy import select

    from ragbench.batch.models import JobTask

    def ids(job_id: int) -> list[int]:
        with database.session() as session:
            return list(session.scalars(select(JobTask.id).where(JobTask.job_id == job_id)
                                        .order_by(JobTask.id)))

    for task_id in ids(args.warmup_job):
        execute_task(task_id, settings=settings, database=database, worker_id="bench:warmup")
    t0 = time.perf_counter()
    statuses = [execute_task(task_id, settings=settings, database=database,
                             worker_id="bench:direct") for task_id in ids(args.job)]
    print(json.dumps({"seconds": time.perf_counter() - t0, "statuses": statuses}))
    return 0


def _unsent_job(ctx: dict, system_ids: list[int]) -> int:
    """A job stored without being sent to the queue (for the direct runs)."""
    from ragbench.batch import service
    from ragbench.batch.schemas import EvaluationConfig, JobCreate

    with ctx["database"].session() as session:
        return service.create_job(session, data=JobCreate(
            name="bench-direct", system_ids=system_ids, dataset_ids=ctx["dataset_ids"],
            evaluation_config=EvaluationConfig(measures=MEASURES, top_k=20,
                                               concurrency=ctx["args"].eval_concurrency,
                                               retries=0))).id


def run_overhead(*, ctx: dict, args, tag: str) -> dict:
    systems = ctx["system_ids"][:args.overhead_systems]
    tasks = len(systems) * len(ctx["dataset_ids"])
    # Direct: a fresh process runs execute_task in a loop.
    warmup, job = _unsent_job(ctx, systems[:1]), _unsent_job(ctx, systems)
    out = subprocess.run([sys.executable, str(Path(__file__)), "--child-direct", "--job",
                          str(job), "--warmup-job", str(warmup)], env=ctx["env"],
                         capture_output=True, text=True, timeout=1800, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"direct run failed:\n{out.stderr[-3000:]}")
    direct = json.loads(out.stdout.strip().splitlines()[-1])
    direct_times = _job_times(ctx["database"], job)
    # Queued: one worker, one task at a time, after a warm-up job of its own.
    workers = start_workers(1, concurrency=1, env=ctx["env"], tag=f"{tag}-overhead")
    try:
        wait_job(ctx["database"], post_job(ctx["api"], systems[:1], ctx["dataset_ids"][:1],
                                           args))
        job_id = post_job(ctx["api"], systems, ctx["dataset_ids"], args)
        queued_times = wait_job(ctx["database"], job_id)
    finally:
        for w in workers:
            w.stop()
    direct_ms = direct["seconds"] * 1e3 / tasks
    queued_ms = _seconds(queued_times) * 1e3 / tasks
    return {"tasks": tasks, "direct_ms_per_task": round(direct_ms, 1),
            "queued_ms_per_task": round(queued_ms, 1),
            "overhead_ms_per_task": round(queued_ms - direct_ms, 1),
            "direct": _task_stats(direct_times), "queued": _task_stats(queued_times)}


# ---- the run ---------------------------------------------------------------------------

def setup(stack: ExitStack, args) -> dict:
    import httpx

    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    backing = Backing()
    stack.callback(backing.stop)
    paths, rankings = write_collections(WORK / "collections", datasets=args.datasets,
                                        queries=args.queries, docs=args.docs, seed=args.seed)
    system = start_fixed_latency_system(rankings, latency_ms=args.latency_ms,
                                        log=WORK / "system.log")
    stack.callback(system.stop)
    extra = {"RAGBENCH_DATABASE_URL": backing.database_url,
             "RAGBENCH_BROKER_URL": backing.broker_url,
             "RAGBENCH_DATA_DIR": str(WORK / "service"),
             "RAGBENCH_SECRET_KEY": "",
             "RAGBENCH_SCHEDULER_INTERVAL_S": "0"}
    server = start_ragbench(WORK / "service", log=WORK / "server.log",
                            database_url=backing.database_url, env=extra)
    stack.callback(server.stop)
    env = child_env({**extra, "RAGBENCH_AUTH_ENABLED": "false",
                     "RAGBENCH_ENVIRONMENT": "development",
                     "RAGBENCH_HEALTH_CHECK_INTERVAL_S": "0"})
    api = stack.enter_context(httpx.Client(base_url=server.url, timeout=120.0,
                                           trust_env=False))
    # Datasets and systems through the API.
    dataset_ids, queries_per_job = [], 0
    for path in paths:
        response = api.post("/api/v1/datasets", data={"name": path.name, "split": "test"},
                            files={"archive": (f"{path.name}.zip", _zipped(path),
                                               "application/zip")})
        response.raise_for_status()
        dataset_ids.append(response.json()["id"])
        queries_per_job += response.json()["num_queries"]
    system_ids = []
    for i in range(args.systems):
        response = api.post("/api/v1/systems", json={
            "name": f"system-{i:02d}", "base_url": system.url,
            "max_concurrency": args.eval_concurrency})
        response.raise_for_status()
        system_ids.append(response.json()["id"])
    import ragbench.tables  # noqa: F401  (every table mapped: jobs reference schedules)
    from ragbench.database import Database

    database = Database(backing.database_url)
    stack.callback(database.dispose)
    return {"args": args, "backing": backing, "system": system, "server": server, "api": api,
            "env": env, "database": database, "dataset_ids": dataset_ids,
            "system_ids": system_ids, "queries_per_job": queries_per_job * args.systems}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_direct:
        return run_direct_child(args)
    results: dict = {"args": vars(args), "nproc": os.cpu_count(), "rounds": []}
    with ExitStack() as stack:
        ctx = setup(stack, args)
        results["postgres_version"] = ctx["backing"].pg_version
        results["tasks_per_job"] = len(ctx["system_ids"]) * len(ctx["dataset_ids"])
        results["queries_per_job"] = ctx["queries_per_job"]
        for r in range(args.rounds):
            order = (1, 2) if r % 2 == 0 else (2, 1)
            laps = {n: run_throughput(n, ctx=ctx, args=args, tag=f"r{r}-w{n}") for n in order}
            row = {"round": r, "one": laps[1], "two": laps[2],
                   "ratio": round(laps[2]["tasks_per_s"] / laps[1]["tasks_per_s"], 3)}
            results["rounds"].append(row)
            print(json.dumps(row, default=str), flush=True)
        if args.overhead_rounds:
            results["overhead"] = []
            for r in range(args.overhead_rounds):
                lap = run_overhead(ctx=ctx, args=args, tag=f"o{r}")
                results["overhead"].append(lap)
                print(json.dumps(lap, default=str), flush=True)
    summarize(results)
    (WORK / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(report(results))
    return 0


def summarize(results: dict) -> None:
    rounds = results["rounds"]
    for key in ("one", "two"):
        results[f"median_{key}"] = {
            m: statistics.median(r[key][m] for r in rounds)
            for m in ("tasks_per_s", "queries_per_s", "seconds")}
    results["ratio_of_medians"] = round(results["median_two"]["tasks_per_s"]
                                        / results["median_one"]["tasks_per_s"], 3)
    if results.get("overhead"):
        laps = results["overhead"]
        results["median_overhead"] = {
            m: statistics.median(lap[m] for lap in laps)
            for m in ("direct_ms_per_task", "queued_ms_per_task", "overhead_ms_per_task")}


def report(results: dict) -> str:
    a = results["args"]
    lines = [(f"## Batch on Celery: {results['tasks_per_job']} tasks "
              f"({a['systems']} systems x {a['datasets']} datasets), "
              f"{results['queries_per_job']} queries per job"),
             "",
             (f"{results['nproc']} CPUs; PostgreSQL {results['postgres_version']}; systems "
              f"answer in {a['latency_ms']:g} ms; each worker --concurrency "
              f"{a['concurrency']} (threads); evaluation concurrency "
              f"{a['eval_concurrency']}."),
             "",
             ("| round | workers | seconds | tasks/s | queries/s | task ms (median) | "
              "machine busy (before) | CPU s/s: workers / server / postgresql / redis / "
              "system | ratio |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for row in results["rounds"]:
        for key in ("one", "two"):
            lap = row[key]
            cpu = lap["cpu_per_s"]
            lines.append(
                f"| {row['round']} | {lap['workers']} | {lap['seconds']:.1f} | "
                f"{lap['tasks_per_s']:.2f} | {lap['queries_per_s']:.0f} | "
                f"{lap['task_ms_median']:.0f} | {lap['machine_busy_share']:.0%} "
                f"({lap['background_busy_share']:.0%}) | {cpu.get('workers', 0):.2f} / "
                f"{cpu.get('server', 0):.2f} / {cpu.get('postgresql', 0):.2f} / "
                f"{cpu.get('redis', 0):.2f} / {cpu.get('system', 0):.2f} | "
                f"{row['ratio'] if key == 'two' else ''} |")
    one, two = results["median_one"], results["median_two"]
    lines += ["",
              (f"Median: one worker {one['tasks_per_s']:.2f} tasks/s "
               f"({one['queries_per_s']:.0f} queries/s), two workers "
               f"{two['tasks_per_s']:.2f} tasks/s ({two['queries_per_s']:.0f} queries/s): "
               f"**{results['ratio_of_medians']:.2f}x** (target >= 1.6x).")]
    if results.get("median_overhead"):
        o = results["median_overhead"]
        lap = results["overhead"][0]
        lines += ["",
                  (f"Per-task overhead of the queue ({lap['tasks']} tasks one at a time; "
                   f"medians of {len(results['overhead'])} rounds): direct `execute_task` "
                   f"{o['direct_ms_per_task']:.1f} ms/task, through Celery "
                   f"{o['queued_ms_per_task']:.1f} ms/task; the difference, per round: "
                   + ", ".join(f"{lap['overhead_ms_per_task']:.1f}"
                               for lap in results["overhead"])
                   + f" ms, median **{o['overhead_ms_per_task']:.1f} ms per task**.")]
        for lap in results["overhead"]:
            lines.append(f"- direct: task {lap['direct']['task_ms_median']:.1f} ms, gap "
                         f"{lap['direct']['gap_ms_median']:.1f} ms; queued: task "
                         f"{lap['queued']['task_ms_median']:.1f} ms, gap "
                         f"{lap['queued']['gap_ms_median']:.1f} ms (medians: a task's own "
                         "time, started_at -> finished_at, and the gap to the next)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--systems", type=int, default=50)
    ap.add_argument("--datasets", type=int, default=4)
    ap.add_argument("--queries", type=int, default=30, help="judged queries per dataset")
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=2, help="threads per worker")
    ap.add_argument("--eval-concurrency", type=int, default=4,
                    help="requests in flight per task")
    ap.add_argument("--overhead-rounds", type=int, default=3)
    ap.add_argument("--overhead-systems", type=int, default=5)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--child-direct", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--job", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--warmup-job", type=int, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
