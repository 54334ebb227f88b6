"""The direct path of the runner benchmark, in a fresh child process: create an
evaluation with ``evaluations.service.create_evaluation``, then run
``jobs.run_evaluation`` (``asyncio.run(run_evaluation_async(...))``), instrumented
from outside (nothing in ``src/`` changes):

* :class:`Probes`: start and end of every ``retrieve`` call, every
  ``ragbench.http.HttpClient.request``, every SQL statement and commit (and on which thread),
  and the job's stages (``_begin``, ``store_outcomes``, ``_finish``, scoring, the
  Parquet write, the collection load);
* a task beside the job measuring how late a 5 ms timer fires (loop blocked);
* optionally a cProfile of every thread with a CPU-time clock (``time.thread_time``:
  on a shared machine wall time would count the time the process waits for a core),
  grouped by component, the event-loop thread apart from the worker threads that
  ``asyncio.to_thread`` uses for the database and scoring.

``variant`` changes one thing, to compare: ``as-is``; ``aiohttp-pool`` (the system
client sends through one ``aiohttp.ClientSession`` behind the same interface instead of
:class:`ragbench.http.HttpClient`); ``switch-interval-0.5ms``
(``sys.setswitchinterval(0.0005)``: the event loop waits at most 0.5 ms instead of
5 ms for the GIL while a worker thread writes to the database).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import statistics
import sys
import threading
import time
from pathlib import Path

from harness import child_main
from profiles import profile_groups

VARIANTS = ("as-is", "aiohttp-pool", "switch-interval-0.5ms")


class Probes:
    """Timestamps of what the runner does, gathered without changing it: wrappers
    around the adapter's ``retrieve``, ``HttpClient.request``, ``Session.commit``
    and the job's stage functions, plus SQLAlchemy cursor events."""

    #: module -> functions timed as stages (the job looks them up through the
    #: module at call time, so replacing the module attribute is enough).
    WRAPPED = {
        "ragbench.evaluations.jobs": ("_begin", "_finish"),
        "ragbench.evaluations.recorder": ("store_outcomes",),
        "ragbench.evaluations.scoring": ("RunBuilder.add", "RunBuilder.build", "build_run",
                                         "score_run", "latency_summary"),
        "ragbench.evaluations.artifacts": ("write_run_artifact",),
        "ragbench.datasets.service": ("load_collection",),
    }

    def __init__(self, engine) -> None:
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        from ragbench.systems import adapters

        self.loop_thread = threading.get_ident()
        self.lock = threading.Lock()
        self.reset()
        probes = self

        def timed_retrieve(original):
            async def retrieve(client, query, top_k):
                t0 = time.perf_counter()
                try:
                    return await original(client, query, top_k)
                finally:
                    probes.retrieves.append((t0, time.perf_counter()))
            return retrieve

        # The runner asks for (doc_id, score) pairs where the client offers them.
        for name in ("retrieve", "retrieve_pairs"):
            if hasattr(adapters.RagbenchClient, name):
                setattr(adapters.RagbenchClient, name,
                        timed_retrieve(getattr(adapters.RagbenchClient, name)))

        from ragbench.http import HttpClient

        original_send = HttpClient.request

        async def send(client, method, url, **kw):
            t0 = time.perf_counter()
            try:
                return await original_send(client, method, url, **kw)
            finally:
                probes.sends.append(time.perf_counter() - t0)

        HttpClient.request = send

        original_commit = Session.commit

        def commit(session):
            t0 = time.perf_counter()
            try:
                return original_commit(session)
            finally:
                probes.add("commit", time.perf_counter() - t0)

        Session.commit = commit

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            conn.info.setdefault("bench_t0", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            dt = time.perf_counter() - conn.info["bench_t0"].pop()
            verb = statement.lstrip().split(None, 1)[0].upper()
            rows = len(parameters) if executemany and hasattr(parameters, "__len__") else 1
            probes.add(f"sql {verb}", dt, rows)

        self.missing = []
        for module_name, attrs in self.WRAPPED.items():
            module = importlib.import_module(module_name)
            for attr in attrs:
                owner, name = module, attr
                if "." in attr:  # a method: Class.method
                    owner, name = getattr(module, attr.split(".")[0], None), attr.split(".")[1]
                fn = getattr(owner, name, None)
                if callable(fn) and not inspect.iscoroutinefunction(fn):
                    label = f"{module_name.rsplit('.', 1)[1]}.{attr}"
                    setattr(owner, name, self._timed(label, fn))
                else:
                    self.missing.append(f"{module_name}.{attr}")

    def _timed(self, label: str, fn):
        probes = self

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                probes.add(label, time.perf_counter() - t0)

        return wrapper

    def reset(self) -> None:
        self.retrieves: list[tuple[float, float]] = []
        self.sends: list[float] = []
        self.stages: dict[str, dict] = {}

    def add(self, label: str, seconds: float, rows: int = 1) -> None:
        on_loop = threading.get_ident() == self.loop_thread
        with self.lock:
            s = self.stages.setdefault(label, {"s": 0.0, "loop_s": 0.0, "calls": 0, "rows": 0})
            s["s"] += seconds
            s["calls"] += 1
            s["rows"] += rows
            if on_loop:
                s["loop_s"] += seconds

    def summary(self, t0: float, wall: float, concurrency: int) -> dict:
        if not self.retrieves:
            return {"stages": self.stages}
        first = min(a for a, _ in self.retrieves)
        last = max(b for _, b in self.retrieves)
        busy = sum(b - a for a, b in self.retrieves)
        span = last - first
        return {"stages": self.stages,
                "retrieve_calls": len(self.retrieves),
                "before_http_s": first - t0,
                "http_phase_s": span,
                "after_http_s": t0 + wall - last,
                "http_phase_qps": len(self.retrieves) / span if span > 0 else None,
                "mean_in_flight": busy / span if span > 0 else None,
                "retrieve_ms_mean": busy / len(self.retrieves) * 1e3,
                "send_ms_mean": (statistics.fmean(self.sends) * 1e3 if self.sends else None),
                "concurrency": concurrency}


# ---- client variants ---------------------------------------------------------------

class AiohttpClient:
    """:class:`ragbench.http.HttpClient`'s interface over one ``aiohttp.ClientSession``
    (the peer the ``aiohttp-pool`` variant measures)."""

    def __init__(self, *, timeout: float, max_connections: int,
                 headers: dict[str, str] | None) -> None:
        import aiohttp

        from ragbench.http import USER_AGENT

        self.timeout = timeout
        self.max_connections = max_connections
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30.0),
            trust_env=False, headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=aiohttp.ClientTimeout(total=timeout))

    async def request(self, method: str, url: str, *, json=None, content=None):
        import aiohttp

        from ragbench.http import ConnectError, HttpResponse, HttpTimeout, encode_json

        data = encode_json(json) if json is not None else content
        headers = {"Content-Type": "application/json"} if json is not None else None
        try:
            async with self._session.request(method, url, data=data, headers=headers,
                                             allow_redirects=False) as resp:
                body = await resp.read()
                return HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()},
                                    body)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise HttpTimeout("timeout", "read") from None
        except aiohttp.ClientError as exc:
            raise ConnectError(str(exc)) from None

    async def aclose(self) -> None:
        await self._session.close()


def apply_variant(variant: str) -> None:
    """Change how the system client is made (this process only)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    if variant == "as-is":
        return
    if variant == "switch-interval-0.5ms":
        # A thread that wants the GIL waits up to the switch interval (5 ms) for a
        # CPU-bound thread to give it up: the loop behind the database writer.
        sys.setswitchinterval(0.0005)
        return
    from ragbench.systems import client as systems_client

    def async_client(*, timeout: float, max_connections: int = 16,
                     headers: dict[str, str] | None = None):
        return AiohttpClient(timeout=timeout, max_connections=max_connections,
                             headers=headers)

    systems_client.async_client = async_client


# ---- the child -----------------------------------------------------------------------

def _create_evaluation(database, body: dict) -> int:
    """A pending evaluation, made the way the API makes one."""
    from ragbench.evaluations import service as evaluations_service
    from ragbench.evaluations.schemas import EvaluationCreate

    with database.session() as session:
        evaluation = evaluations_service.create_evaluation(session,
                                                           data=EvaluationCreate(**body))
        session.flush()
        return evaluation.id


def _run_evaluation(evaluation_id: int, *, settings, database, lag: list) -> str | None:
    """``jobs.run_evaluation`` -- ``asyncio.run(run_evaluation_async(...))`` -- with a
    task beside the job that measures how late the loop serves a 5 ms timer."""
    from ragbench.evaluations import jobs

    async def job():
        monitor = asyncio.ensure_future(_lag_monitor(lag))
        try:
            return await jobs.run_evaluation_async(evaluation_id, settings=settings,
                                                   database=database)
        finally:
            monitor.cancel()

    return asyncio.run(job())


async def _lag_monitor(lag: list, period: float = 0.005) -> None:
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(period)
        lag.append(loop.time() - t - period)


def _profile_new_threads(profilers: list):
    """A ``threading.setprofile`` hook: each new thread starts its own CPU-clock
    profiler on its first event (which replaces the hook in that thread)."""
    import cProfile

    def hook(frame, event, arg):
        profiler = cProfile.Profile(time.thread_time)
        profilers.append(profiler)
        profiler.enable()

    return hook


def child_direct(reps: int, data_dir: str, body: dict, variant: str = "as-is",
                 profile: str | None = None, warmup_body: dict | None = None) -> dict:
    """``reps`` timed evaluations of ``body``, after one untimed evaluation of
    ``warmup_body`` (a tiny dataset) that pays what a fresh process pays once:
    imports (pyarrow pulls in pandas on first use), statement caches, the client."""
    import cProfile
    import pstats

    from ragbench.config import Settings
    from ragbench.database import get_database
    from ragbench.evaluations.models import Evaluation

    apply_variant(variant)
    settings = Settings(_env_file=None, data_dir=Path(data_dir), database_url="",
                        health_check_interval_s=0)
    database = get_database(settings.sqlalchemy_url)
    probes = Probes(database.engine)
    warmup_s = None
    if warmup_body is not None:
        t0 = time.perf_counter()
        _run_evaluation(_create_evaluation(database, warmup_body), settings=settings,
                        database=database, lag=[])
        warmup_s = time.perf_counter() - t0
    out = []
    for _ in range(reps):
        evaluation_id = _create_evaluation(database, body)
        probes.reset()
        lag: list[float] = []
        profiler = cProfile.Profile(time.thread_time) if profile else None
        workers: list = []
        if profiler:
            threading.setprofile(_profile_new_threads(workers))
        cpu0, thread0 = time.process_time(), time.thread_time()
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        final = _run_evaluation(evaluation_id, settings=settings, database=database, lag=lag)
        if profiler:
            profiler.disable()
            threading.setprofile(None)
        wall = time.perf_counter() - t0
        cpu, thread_cpu = time.process_time() - cpu0, time.thread_time() - thread0
        with database.session() as session:
            ev = session.get(Evaluation, evaluation_id)
            row = {"evaluation_id": evaluation_id, "status": ev.status,
                   "queries_total": ev.queries_total, "queries_done": ev.queries_done,
                   "errors_count": ev.errors_count, "throughput_qps": ev.throughput_qps,
                   "aggregates": ev.aggregates, "latency": ev.latency, "error": ev.error}
        row |= {"variant": variant, "warmup_s": warmup_s, "returned": final,
                "not_instrumented": probes.missing,
                "wall_s": wall, "qps": (row["queries_total"] or 0) / wall,
                "process_cpu_s": cpu, "loop_thread_cpu_s": thread_cpu,
                "loop_lag_s": sum(x for x in lag if x > 0.001),
                "loop_lag_max_ms": max(lag, default=0.0) * 1e3,
                **probes.summary(t0, wall, body["concurrency"])}
        if profiler:
            buf = io.StringIO()
            stats = pstats.Stats(profiler, stream=buf)
            row["profile_groups"] = profile_groups(stats)
            buf.write("==== event-loop thread\n")
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(50)
            if workers:
                # The pool's threads have exited (asyncio.run shuts the executor down),
                # so their profilers are still.
                wstats = pstats.Stats(*workers, stream=buf)
                row["worker_profile_groups"] = profile_groups(wstats)
                buf.write(f"==== {len(workers)} worker threads\n")
                wstats.sort_stats("tottime").print_stats(40)
                wstats.sort_stats("cumulative").print_stats(50)
            Path(profile).write_text(buf.getvalue())
            row["profile"] = profile
        out.append(row)
    return {"runs": out}


if __name__ == "__main__":
    sys.exit(child_main({"direct": child_direct}))
