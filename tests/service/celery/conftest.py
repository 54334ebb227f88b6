"""Fixtures of the Celery engine tests: real processes on real servers.

- Redis from ``scripts/redis.sh`` on a port of its own (never a shared one: two
  test runs on one queue would take each other's tasks); PostgreSQL from
  ``RAGBENCH_TEST_DATABASE_URL`` (scripts/test.sh sets it) or else from
  ``scripts/postgres.sh`` on a port of its own. Without both, the tests are skipped,
  saying which could not be started (or that ``RAGBENCH_TEST_REDIS=skip`` /
  ``RAGBENCH_TEST_POSTGRES=skip`` asked for it).
- ``cluster``: a ``ragbench serve`` process on a fresh PostgreSQL database with
  ``RAGBENCH_BROKER_URL`` set (it only enqueues), plus ``ragbench worker``
  processes the tests start, kill and restart. Leases last
  :data:`LEASE_S` seconds so a killed worker's tasks come back quickly.
- The systems under test run in this process (:func:`tests.servers.serve_app`),
  so the tests count every request they get.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from servers import free_port, serve_app  # tests/servers.py (tests/ is on sys.path)

import ragbench.tables  # noqa: F401  (every table mapped: jobs reference schedules)
from ragbench.config import Settings
from ragbench.database import Database

from . import collections

REPO = Path(__file__).resolve().parents[3]
#: Seconds a worker's lease on a task lasts without renewal.
LEASE_S = 2.0
TERMINAL = ("completed", "failed", "cancelled")
#: The test collections: four small datasets with distinct query texts.
COLLECTIONS = [collections.make(f"c{i}", seed=100 + i, num_queries=n)
               for i, n in enumerate((24, 30, 20, 40))]


def _script(name: str, action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / name), action], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@dataclass
class RedisServer:
    """The tests' Redis (``scripts/redis.sh``): its URL, and a crash-restart."""

    url: str
    env: dict[str, str]

    def kill9_and_restart(self) -> None:
        """SIGKILL (its queue, kept in memory only, is gone), then start anew on
        the same port."""
        pid = int((Path(self.env["RAGBENCH_REDIS_DIR"]) / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and "zombie" not in _proc_state(pid):
            time.sleep(0.01)
        started = _script("redis.sh", "start", self.env)
        assert started.returncode == 0 and started.stdout.strip() == self.url, started.stderr


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n")[0]
    except (OSError, IndexError):
        return "zombie"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    if os.environ.get("RAGBENCH_TEST_REDIS") == "skip":
        pytest.skip("RAGBENCH_TEST_REDIS=skip: the Celery tests need Redis")
    env = {**os.environ, "RAGBENCH_REDIS_PORT": str(free_port()),
           "RAGBENCH_REDIS_DIR": str(tmp_path_factory.mktemp("redis"))}
    started = _script("redis.sh", "start", env)
    if started.returncode != 0:
        pytest.skip(f"the Celery tests need Redis, and scripts/redis.sh could not start it: "
                    f"{started.stderr.strip()[-500:]}")
    try:
        yield RedisServer(started.stdout.strip(), env)
    finally:
        _script("redis.sh", "stop", env)


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory) -> Iterator[str]:
    if os.environ.get("RAGBENCH_TEST_DATABASE_URL"):
        yield os.environ["RAGBENCH_TEST_DATABASE_URL"]
        return
    if os.environ.get("RAGBENCH_TEST_POSTGRES") == "skip":
        pytest.skip("RAGBENCH_TEST_POSTGRES=skip: the Celery tests need PostgreSQL")
    # Its own port, and the script's folder for it (/tmp/ragbench-pg-PORT: as root
    # the server runs as the postgres user, who cannot enter pytest's folders).
    env = {k: v for k, v in os.environ.items() if k != "RAGBENCH_PG_DIR"}
    env["RAGBENCH_PG_PORT"] = str(free_port())
    started = _script("postgres.sh", "start", env)
    if started.returncode != 0:
        pytest.skip(f"the Celery tests need PostgreSQL (set RAGBENCH_TEST_DATABASE_URL, or "
                    f"let scripts/postgres.sh start one), which could not be started: "
                    f"{started.stderr.strip()[-500:]}")
    try:
        yield started.stdout.strip()
    finally:
        _script("postgres.sh", "stop", env)


def _fresh_database(admin_url: str) -> tuple[str, callable]:
    import sqlalchemy as sa

    name = f"rb_celery_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return f"{admin_url.rsplit('/', 1)[0]}/{name}", drop


class Process:
    """A child process with its output in a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log = cwd / f"{name}.log"
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed by stop() / kill9()
        self.popen = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._out,
                                      stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL, and wait until it is gone (nothing it does survives it)."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(30)
        self._out.close()

    def terminate(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM (if not sent yet), then SIGKILL after ``timeout_s``."""
        self.terminate()
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
        self._out.close()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _worker_argv() -> list[str]:
    """``ragbench worker`` (the CLI's module, run with this interpreter)."""
    from ragbench.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "")
             for c in app.registered_commands}
    if "worker" in names:
        return [sys.executable, "-m", "ragbench.cli", "worker"]
    return [sys.executable, "-m", "ragbench.batch.worker_cli"]


@dataclass
class Cluster:
    """A ragbench service on Celery: ``api`` talks to its server over HTTP; the
    tests start, kill and restart its processes."""

    port: int
    api: httpx.Client
    database: Database
    settings: Settings
    env: dict[str, str]
    workdir: Path
    redis: RedisServer
    servers: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)

    @property
    def server(self) -> Process:
        return self.servers[-1]

    def start_server(self) -> Process:
        """``ragbench serve`` on the cluster's port; returns once it answers."""
        server = Process(f"server-{len(self.servers)}",
                         [sys.executable, "-m", "ragbench.cli", "serve", "--port",
                          str(self.port)], env=self.env, cwd=self.workdir)
        self.servers.append(server)
        _wait_healthy(f"http://127.0.0.1:{self.port}", server)
        return server

    def start_worker(self, *, concurrency: int = 2) -> Process:
        worker = Process(f"worker-{len(self.workers)}",
                         [*_worker_argv(), "--concurrency", str(concurrency),
                          "--loglevel", "info"], env=self.env, cwd=self.workdir)
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        """Stop every worker (all signalled at once: each takes a second or so)."""
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.stop()

    def logs(self) -> str:
        parts = [f"--- {p.name} (pid {p.pid}) ---\n{p.tail()}"
                 for p in (*self.servers, *self.workers)]
        return "\n".join(parts)

    def create_job(self, system_ids: list[int], dataset_ids: list[int], **config) -> dict:
        response = self.api.post("/api/v1/batch/jobs", json={
            "name": "nightly", "system_ids": system_ids, "dataset_ids": dataset_ids,
            "evaluation_config": config})
        assert response.status_code in (201, 202), response.text
        return response.json()

    def wait_job(self, job_id: int, *, timeout_s: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.api.get(f"/api/v1/batch/jobs/{job_id}").json()
            if job["status"] in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {job['status']} after "
                                   f"{timeout_s} s\n{self.logs()}")
            time.sleep(0.05)

    def register(self, base_url: str, *, name: str, max_concurrency: int = 4) -> int:
        """Register a system (its name made unique: the tests share one database)."""
        response = self.api.post("/api/v1/systems", json={
            "name": f"{name}-{uuid.uuid4().hex[:8]}", "base_url": base_url,
            "max_concurrency": max_concurrency})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def query_metrics(self, evaluation_id: int) -> dict[str, dict]:
        """``{query_id: row}`` of GET /api/v1/evaluations/{id}/queries."""
        response = self.api.get(f"/api/v1/evaluations/{evaluation_id}/queries",
                                params={"limit": 1000})
        assert response.status_code == 200, response.text
        return {row["query_id"]: row for row in response.json()["items"]}


def _wait_healthy(base_url: str, server: Process, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"ragbench serve exited:\n{server.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"ragbench serve did not answer in {timeout_s} s:\n{server.tail()}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory, redis_server, postgres_admin_url) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    database_url, drop = _fresh_database(postgres_admin_url)
    secret_key = Fernet.generate_key().decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGBENCH_")}
    env.update({
        "RAGBENCH_ENVIRONMENT": "test",
        "RAGBENCH_DATA_DIR": str(workdir / "data"),
        "RAGBENCH_DATABASE_URL": database_url,
        "RAGBENCH_BROKER_URL": redis_server.url,
        "RAGBENCH_SECRET_KEY": secret_key,
        "RAGBENCH_TASK_LEASE_S": str(LEASE_S),
        "RAGBENCH_HEALTH_CHECK_INTERVAL_S": "0",
        "RAGBENCH_SCHEDULER_INTERVAL_S": "0",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    })
    settings = Settings(_env_file=None, environment="test", data_dir=workdir / "data",
                        database_url=database_url, secret_key=secret_key,
                        broker_url=redis_server.url, task_lease_s=LEASE_S,
                        health_check_interval_s=0, scheduler_interval_s=0)
    database = Database(database_url)
    port = free_port()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as api:
        cluster = Cluster(port, api, database, settings, env, workdir, redis_server)
        try:
            cluster.start_server()
            yield cluster
        finally:
            cluster.stop_workers()
            for server in cluster.servers:
                server.stop()
            database.dispose()
            drop()


@pytest.fixture(scope="session")
def dataset_ids(cluster, tmp_path_factory) -> list[int]:
    """The :data:`COLLECTIONS`, uploaded through the API (BEIR zips)."""
    folder = tmp_path_factory.mktemp("zips")
    ids = []
    for collection in COLLECTIONS:
        response = cluster.api.post(
            "/api/v1/datasets", data={"name": collection.name, "split": "test"},
            files={"archive": (f"{collection.name}.zip",
                               collections.beir_zip(collection, folder), "application/zip")})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


@pytest.fixture
def serve():
    """``serve(app) -> base URL``; every server stops when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(serve_app(app))


@pytest.fixture
def workers(cluster):
    """The cluster's workers; every worker started in the test is stopped after it."""
    yield cluster
    cluster.stop_workers()
    cluster.workers.clear()
