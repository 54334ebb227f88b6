"""The API benchmark's database: one dataset, ``systems`` x ``per_system``
completed evaluations and their per-query rows, bulk-inserted with the SQLAlchemy
models; and a throwaway PostgreSQL server to hold it.

Each system's ranking is a real run (``make_runs``; one Parquet file per system,
shared by its evaluations, as the evaluations feature stores runs) and its per-query
metrics are ragbench.core's values on that run, so every number the API serves
agrees with the run and the qrels.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from harness import DATA, ROOT

WORK = DATA / "api"
MEASURES = ["nDCG@10", "AP", "RR@10", "P@10", "R@100"]
PG_PORT = "54341"  # apart from the test suite's server (54329)


def populate(settings, *, systems: int, per_system: int, queries: int, seed: int,
             analyze: bool = True) -> dict:
    """Create the dataset, systems, evaluations and per-query rows; return their ids.

    On PostgreSQL, ``analyze`` runs ``ANALYZE`` after the bulk insert, as autovacuum
    would within a minute or so: without statistics the planner takes the fresh
    tables for empty and may pick nested loops that cost 100x more."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy import insert

    from ragbench.core import evaluate
    from ragbench.core.io.beir import write_beir
    from ragbench.core.synthetic import make_collection, make_runs
    from ragbench.database import get_database, migrate
    from ragbench.datasets import service as datasets_service
    from ragbench.evaluations.models import Evaluation, EvaluationQuery
    from ragbench.systems.models import System

    t0 = time.perf_counter()
    migrate(settings.sqlalchemy_url)
    database = get_database(settings.sqlalchemy_url)
    collection = make_collection(seed, num_docs=max(3000, queries * 10), num_queries=queries)
    folder = WORK / "collection"
    write_beir(folder, collection)
    with database.session() as session:
        dataset = datasets_service.create_dataset_from_folder(
            session, name="bench-api", folder=folder, split="test", settings=settings)
        dataset_id = dataset.id
    runs = make_runs(collection.qrels, collection.corpus.ids, num_runs=systems, depth=100,
                     seed=seed)
    rng = np.random.default_rng(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    runs_dir = settings.data_dir / "runs" / "bench-api"
    runs_dir.mkdir(parents=True, exist_ok=True)
    system_rows, evaluation_rows, per_query = [], [], []
    eval_id = 0
    for s, run in enumerate(runs, start=1):
        result = evaluate(collection.qrels, run, MEASURES, complete=True)
        names = [c.name for c in result.columns]
        columns = [c.per_query for c in result.columns]
        metrics = [{n: float(col[i]) for n, col in zip(names, columns)}
                   for i in range(len(result.query_ids))]
        means = {n: float(np.mean(col)) for n, col in zip(names, columns)}
        run_path = f"runs/bench-api/system-{s:02d}.parquet"
        pq.write_table(_ranked_table(run, pa), settings.data_dir / run_path)
        system_rows.append(dict(id=s, name=f"bench-system-{s:02d}",
                                base_url=f"http://127.0.0.1:9/system-{s}", adapter="ragbench",
                                adapter_config={}, api_key_encrypted=None, timeout_s=10.0,
                                max_concurrency=8, description="", tags=["bench"],
                                supports_embed=False, validation={}, probe={},
                                status="active", created_at=base, updated_at=base))
        for k in range(per_system):
            eval_id += 1
            started = base + timedelta(minutes=eval_id)
            lat = np.sort(rng.gamma(4.0, 5.0, size=queries))
            evaluation_rows.append(dict(
                id=eval_id, system_id=s, dataset_id=dataset_id, status="completed",
                measures=list(MEASURES), top_k=100, concurrency=8, timeout_s=10.0, retries=2,
                queries_total=queries, queries_done=queries, errors_count=0,
                aggregates=means,
                latency={"p50": float(np.percentile(lat, 50)),
                         "p95": float(np.percentile(lat, 95)),
                         "p99": float(np.percentile(lat, 99)), "mean": float(lat.mean()),
                         "max": float(lat.max())},
                throughput_qps=float(8 / (lat.mean() / 1000)), error=None, run_path=run_path,
                created_at=started, started_at=started,
                finished_at=started + timedelta(seconds=float(lat.sum() / 8000)),
                heartbeat_at=None))
            per_query.extend(dict(evaluation_id=eval_id, query_id=q, status="ok",
                                  latency_ms=float(lat[i % queries]), attempts=1, error=None,
                                  ranking=None, metrics=metrics[i])
                             for i, q in enumerate(result.query_ids))
    t1 = time.perf_counter()
    with database.session() as session:
        session.execute(insert(System), system_rows)
        session.execute(insert(Evaluation), evaluation_rows)
        for start in range(0, len(per_query), 20_000):
            session.execute(insert(EvaluationQuery), per_query[start:start + 20_000])
    _reset_sequences(database, ("systems", "evaluations"))
    if analyze and database.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with database.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    t2 = time.perf_counter()
    return {"dataset_id": dataset_id, "evaluation_ids": list(range(1, eval_id + 1)),
            "systems": systems, "evaluations": eval_id, "evaluation_queries": len(per_query),
            "queries": queries, "build_s": t1 - t0, "insert_s": t2 - t1}


def _ranked_table(run, pa):
    """The run as the evaluations feature stores it: query_id, doc_id, score, rank
    (1 = best; ties by doc id descending, trec_eval's order)."""
    import pyarrow.compute as pc

    table = pa.table({"query_id": run.query_ids, "doc_id": run.doc_ids,
                      "score": pa.array(run.scores, pa.float64())})
    table = table.take(pc.sort_indices(table, sort_keys=[
        ("query_id", "ascending"), ("score", "descending"), ("doc_id", "descending")]))
    q = table["query_id"].to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
    sizes = np.diff(np.r_[starts, len(q)])
    rank = np.arange(len(q)) - np.repeat(starts, sizes) + 1
    return table.append_column("rank", pa.array(rank.astype(np.int32)))


def _reset_sequences(database, tables) -> None:
    """Explicit ids leave PostgreSQL's sequences behind; move them past the rows."""
    if database.engine.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    with database.engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT max(id) FROM {table}))"))


class Postgres:
    """A throwaway server from ``scripts/postgres.sh`` and one fresh database on it."""

    def __init__(self) -> None:
        self.env = {**os.environ, "RAGBENCH_PG_PORT": PG_PORT,
                    "RAGBENCH_PG_DIR": f"/tmp/ragbench-bench-pg-{PG_PORT}"}
        out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
                             env=self.env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"scripts/postgres.sh start failed: {out.stderr[-2000:]}")
        admin = out.stdout.strip().splitlines()[-1]
        import sqlalchemy as sa

        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text('DROP DATABASE IF EXISTS "ragbench_bench" WITH (FORCE)'))
            conn.execute(sa.text('CREATE DATABASE "ragbench_bench"'))
            self.version = conn.execute(sa.text("SHOW server_version")).scalar()
        engine.dispose()
        self.url = admin.rsplit("/", 1)[0] + "/ragbench_bench"

    def stop(self) -> None:
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop"], env=self.env,
                       capture_output=True, timeout=120)
