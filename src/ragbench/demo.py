"""The demo: a whole evaluation service on one machine, end to end.

1. writes a synthetic BEIR collection (deterministic);
2. starts the three reference systems (bm25, dense, hybrid) as real HTTP servers;
3. starts the ragbench service (SQLite in the demo folder);
4. uploads the collection, registers the systems (each validated first), evaluates
   each one over HTTP, and prints the leaderboard with paired significance tests;
5. keeps the service up (``/docs``) until Ctrl-C, then stops every process it started.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

SYSTEMS = ("bm25", "dense", "hybrid")
# At least 120 columns, so tables stay readable when the output is a pipe or a log.
console = Console(highlight=False, width=max(120, Console().width))


class DemoError(RuntimeError):
    pass


@dataclass
class Processes:
    """Child processes started by the demo, stopped together (by PID, group first)."""

    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        fh = open(log, "wb")
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        fh.close()
        self.procs.append((name, proc))

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise DemoError(f"{name} exited with code {proc.returncode} (see its log)")

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    import socket
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_healthy(url: str, procs: Processes, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            procs.check()
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
    raise DemoError(f"{what} at {url} did not become healthy within {timeout:.0f} s")


def _zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
            zf.write(folder / name, f"demo/{name}")
    return buf.getvalue()


def _check(resp: httpx.Response, what: str) -> dict:
    if resp.status_code >= 400:
        raise DemoError(f"{what}: HTTP {resp.status_code}: {resp.text[:2000]}")
    return resp.json()


def run_demo(folder: Path, *, port: int = 8000, docs: int = 1000, queries: int = 50,
             seed: int = 0, stay_up: bool = True, test: str = "randomization") -> dict:
    """Run the demo; returns the leaderboard body. Blocks until Ctrl-C if ``stay_up``."""
    from ragbench.core.synthetic import write_synthetic

    folder = folder.resolve()
    collection = folder / "collection"
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]1. Collection[/]: {docs} documents, {queries} queries -> {collection}")
    write_synthetic(collection, seed, num_docs=docs, num_queries=queries)

    if not _port_free(port):
        new = _free_port()
        console.print(f"   port {port} is busy; the service will use {new}")
        port = new
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "RAGBENCH_DATA_DIR": str(folder / "service"), "RAGBENCH_DATABASE_URL": "",
           "RAGBENCH_AUTH_ENABLED": "false", "RAGBENCH_HEALTH_CHECK_INTERVAL_S": "60"}
    # -P: the working folder must not shadow modules (a stray timeit.py, say).
    exe = [sys.executable, "-P", "-m", "ragbench.cli"]
    # SIGTERM stops the demo like Ctrl-C does: children are stopped in `finally`.
    signal.signal(signal.SIGTERM, _interrupt)
    procs = Processes()
    ports = {kind: _free_port() for kind in SYSTEMS}
    api = f"http://127.0.0.1:{port}"
    try:
        console.print("[bold]2. Reference systems[/] (real HTTP servers): "
                      + ", ".join(f"{k} :{p}" for k, p in ports.items()))
        cache = folder / "embedding-cache"

        def start_system(kind: str) -> None:
            procs.start(f"{kind} system", exe + ["serve-system", kind, "--dataset",
                        str(collection), "--port", str(ports[kind]), "--cache-dir", str(cache)],
                        logs / f"{kind}.log", env)

        start_system("bm25")
        start_system("dense")
        console.print(f"[bold]3. ragbench service[/] at {api} (docs: {api}/docs)")
        procs.start("ragbench service", exe + ["serve", "--port", str(port)],
                    logs / "service.log", env)
        _wait_healthy(api, procs, 120, "the ragbench service")
        _wait_healthy(f"http://127.0.0.1:{ports['bm25']}", procs, 300, "the bm25 system")
        console.print("   encoding the corpus with MiniLM (cached for the next run)…")
        _wait_healthy(f"http://127.0.0.1:{ports['dense']}", procs, 900, "the dense system")
        # Hybrid reuses the embeddings the dense system just cached.
        start_system("hybrid")
        _wait_healthy(f"http://127.0.0.1:{ports['hybrid']}", procs, 300, "the hybrid system")
        board = _drive(api, collection, ports, test=test)
        if stay_up:
            console.print(f"\nThe service stays up: [bold]{api}/docs[/] "
                          f"(logs in {logs}). Ctrl-C stops everything.")
            try:
                while True:
                    procs.check()
                    time.sleep(1)
            except KeyboardInterrupt:
                console.print("\nstopping…")
        return board
    finally:
        procs.stop()


def _drive(api: str, collection: Path, ports: dict[str, int], *, test: str) -> dict:
    with httpx.Client(base_url=api, timeout=600.0, trust_env=False) as client:
        console.print("[bold]4. Upload the collection[/] (BEIR zip, validated)")
        ds = _check(client.post("/api/v1/datasets", data={"name": "demo", "split": "test"},
                                files={"archive": ("demo.zip", _zip_folder(collection),
                                                   "application/zip")}), "upload dataset")
        stats = ds.get("stats", {})
        console.print(f"   dataset {ds['id']} version {ds['version'][:12]}: "
                      f"{ds['num_documents']} documents, {ds['num_queries']} queries, "
                      f"{ds['num_judgments']} judgments, grades {stats.get('relevance_levels')}")

        console.print("[bold]5. Register the systems[/] (health, endpoints, formats, probe)")
        system_ids = {}
        for kind in SYSTEMS:
            body = {"name": f"{kind}-minilm" if kind != "bm25" else "bm25",
                    "base_url": f"http://127.0.0.1:{ports[kind]}", "adapter": "ragbench",
                    "description": f"built-in {kind} reference system", "tags": ["demo", kind],
                    "max_concurrency": 8}
            sys_ = _check(client.post("/api/v1/systems", json=body), f"register {kind}")
            system_ids[kind] = sys_["id"]
            checks = ", ".join(f"{c['name']} {'ok' if c['ok'] else 'FAILED'}"
                               for c in sys_.get("validation", {}).get("checks", []))
            probe = sys_.get("probe") or {}
            console.print(f"   {sys_['name']}: id {sys_['id']}; {checks}; probe p50 "
                          f"{probe.get('p50', float('nan')):.1f} ms")

        console.print("[bold]6. Evaluate[/] every system over HTTP")
        evals = {}
        for kind in SYSTEMS:
            ev = _check(client.post("/api/v1/evaluations", json={
                "system_id": system_ids[kind], "dataset_id": ds["id"], "top_k": 100,
                "measures": ["nDCG@10", "AP", "RR@10", "P@10", "R@100"]}), f"evaluate {kind}")
            evals[kind] = ev["id"]
        done = {}
        while len(done) < len(evals):
            for kind, eid in evals.items():
                if kind in done:
                    continue
                ev = _check(client.get(f"/api/v1/evaluations/{eid}"), f"evaluation {eid}")
                if ev["status"] in ("completed", "failed", "cancelled"):
                    done[kind] = ev
            time.sleep(0.3)
        table = Table(title="Evaluations", title_justify="left")
        for col in ("system", "status", "queries", "errors", "nDCG@10", "AP", "RR@10",
                    "R@100", "p50 ms", "p95 ms", "q/s"):
            table.add_column(col, justify="left" if col in ("system", "status") else "right")
        for kind, ev in done.items():
            agg, lat = ev.get("aggregates") or {}, ev.get("latency") or {}
            table.add_row(kind, ev["status"], str(ev.get("queries_total")),
                          str(ev.get("errors_count")),
                          *(f"{agg.get(m, float('nan')):.4f}" for m in
                            ("nDCG@10", "AP", "RR@10", "R@100")),
                          f"{lat.get('p50', float('nan')):.1f}",
                          f"{lat.get('p95', float('nan')):.1f}",
                          f"{ev.get('throughput_qps') or 0:.0f}")
        console.print(table)
        failed = [k for k, ev in done.items() if ev["status"] != "completed"]
        if failed:
            raise DemoError(f"evaluation of {', '.join(failed)} did not complete")

        console.print(f"[bold]7. Leaderboard[/] (nDCG@10, paired {test} test, Holm)")
        board = _check(client.get(f"/api/v1/comparisons/leaderboard/{ds['id']}",
                                  params={"metric": "nDCG@10", "test": test}), "leaderboard")
        print_leaderboard(board)
        return board


def print_leaderboard(board: dict) -> None:
    """The leaderboard body of the comparisons API as two tables: the ranking with
    95% CIs and significance groups, then every tested pair."""
    names = {r["system_id"]: r["name"] for r in board["ranking"]}
    ranking = Table(title=f"{board['measure']} over {board['n_queries']} queries: "
                          f"{board['test']} test, {board['correction']} correction, "
                          f"alpha {board['alpha']}", title_justify="left",
                    caption="systems sharing a group letter are not significantly different",
                    caption_justify="left")
    for col in ("rank", "system", "mean", "95% CI", "group"):
        ranking.add_column(col, justify="left" if col in ("system", "group") else "right")
    for r in board["ranking"]:
        ranking.add_row(str(r["rank"]), r["name"], f"{r['mean']:.4f}",
                        f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]", "".join(r["groups"]))
    console.print(ranking)
    pairs = Table(title="Pairwise (paired on the same queries)", title_justify="left",
                  caption="* significant after correction", caption_justify="left")
    for col in ("pair", "mean Δ", "95% CI of Δ", "p", "p corrected", "d_z", "W/T/L"):
        pairs.add_column(col, justify="left" if col == "pair" else "right")
    for p in board["pairs"]:
        star = "*" if p["significant"] else ""
        dz = "—" if p["effect_size_dz"] is None else f"{p['effect_size_dz']:.2f}"
        pairs.add_row(f"{names[p['system_id']]} − {names[p['other_system_id']]}",
                      f"{p['mean_difference']:+.4f}",
                      f"[{p['ci_low']:+.4f}, {p['ci_high']:+.4f}]", f"{p['p_value']:.4f}",
                      f"{p['p_value_corrected']:.4f}{star}", dz,
                      f"{p['wins']}/{p['ties']}/{p['losses']}")
    console.print(pairs)
