"""Plumbing shared by the benchmarks: data paths, the measure table, child processes,
timing and machine description.

Every tool is timed in its own fresh child process (``python bench/<script>.py --child
TOOL --result FILE``) so that imports, caches and peak RSS (``ru_maxrss``) belong to
that tool alone. The child writes one JSON object to ``FILE``; the parent reads it.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
OUT = DATA / "out"  # per-query values written by the children, for the agreement table

# canonical name -> (ragbench/trec_eval output, pytrec_eval key, ranx metric)
MEASURES: dict[str, tuple[str, str, str]] = {
    "P@10": ("P_10", "P_10", "precision@10"),
    "R@100": ("recall_100", "recall_100", "recall@100"),
    "R@1000": ("recall_1000", "recall_1000", "recall@1000"),
    "nDCG@10": ("ndcg_cut_10", "ndcg_cut_10", "ndcg@10"),
    "nDCG@100": ("ndcg_cut_100", "ndcg_cut_100", "ndcg@100"),
    "AP": ("map", "map", "map"),
    "AP@100": ("map_cut_100", "map_cut_100", "map@100"),
    # trec_eval's recip_rank has no cutoff; ranx's is mrr@10: not the same measure.
    "RR": ("recip_rank", "recip_rank", "mrr@10"),
    "Rprec": ("Rprec", "Rprec", "r-precision"),
    "bpref": ("bpref", "bpref", "bpref"),
}
# ragbench's -m specs and the trec_eval family each one needs.
RAGBENCH_SPECS = ["P.10", "recall.100,1000", "ndcg_cut.10,100", "map", "map_cut.100",
                  "recip_rank", "Rprec", "bpref"]
PYTREC_MEASURES = {v[1] for v in MEASURES.values()}
RANX_METRICS = [v[2] for v in MEASURES.values()]


def data_paths(tiny: bool = False, *, notie: bool = False) -> tuple[Path, Path]:
    """The full files; ``tiny``: 20 queries for warm-ups; ``notie``: 500 queries
    without tied scores, for the agreement check."""
    prefix = "tiny_" if tiny else "notie_" if notie else ""
    return DATA / f"{prefix}qrels.txt", DATA / f"{prefix}run.txt"


def ensure_data(queries: int = 7000, depth: int = 1000, seed: int = 20240601) -> dict:
    sys.path.insert(0, str(BENCH))
    import gen_data

    if not gen_data.is_current(DATA, queries, depth, seed):
        print(f"generating data in {DATA} ...", flush=True)
        gen_data.generate(queries, depth, seed, DATA)
    return json.loads((DATA / "meta.json").read_text())


def warm_page_cache(*paths: Path) -> None:
    """Read files once so that no tool pays the first disk read."""
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(1 << 24):
                pass


# ---- in the child ---------------------------------------------------------------

class Clock:
    """Named laps: ``with clock("parse"): ...`` adds to ``clock.laps["parse"]``.
    With ``memory_log``, each lap also records the process's RSS when it ends."""

    def __init__(self, memory_log: dict | None = None) -> None:
        self.laps: dict[str, float] = {}
        self.memory_log = memory_log

    def __call__(self, name: str):
        return _Lap(self, name)


class _Lap:
    def __init__(self, clock: Clock, name: str) -> None:
        self.clock, self.name = clock, name

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        dt = time.perf_counter() - self.t0
        self.clock.laps[self.name] = self.clock.laps.get(self.name, 0.0) + dt
        if self.clock.memory_log is not None:
            self.clock.memory_log[self.name] = memory()


def repeat(reps: int, body, memory_log: dict | None = None) -> list[dict[str, float]]:
    """Run ``body(clock)`` ``reps`` times (gc between runs); one dict of laps per run.
    ``memory_log`` receives, per lap of the first run, the RSS after it (peak so far
    and current), which shows which stage sets the peak."""
    out = []
    for i in range(reps):
        gc.collect()
        clock = Clock(memory_log if i == 0 else None)
        body(clock)
        out.append(clock.laps)
    return out


class NullClock:
    """A clock that times nothing (warm-ups)."""

    def __call__(self, name: str):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def memory() -> dict[str, float]:
    """Peak RSS of this process so far (MiB), and the current RSS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    current = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"peak_rss_mib": peak, "rss_mib": current}


def child_main(tools: dict, argv: list[str] | None = None) -> int:
    """Entry point of a child: ``--child TOOL --result FILE [--reps N] [--extra JSON]``."""
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--child", required=True, choices=sorted(tools))
    ap.add_argument("--result", required=True, type=Path)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--extra", default="{}", help="JSON options for the tool")
    args = ap.parse_args(argv)
    result = tools[args.child](args.reps, **json.loads(args.extra))
    result.setdefault("memory", memory())
    args.result.write_text(json.dumps(result, indent=1, default=float))
    return 0


# ---- in the parent --------------------------------------------------------------

def run_child(script: str, tool: str, reps: int, *, extra: dict | None = None,
              env: dict | None = None, timeout: float = 3600) -> dict:
    """Run one tool in a fresh interpreter; its JSON result plus wall time (or an
    ``error`` entry with the tail of stderr if it failed)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, str(BENCH / script), "--child", tool, "--result", str(result),
               "--reps", str(reps), "--extra", json.dumps(extra or {})]
        child_env = dict(os.environ)
        child_env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), str(BENCH)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        child_env.update(env or {})
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=child_env, capture_output=True, text=True,
                              timeout=timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not result.exists():
            return {"error": (proc.stderr or proc.stdout)[-3000:], "wall_s": wall}
        data = json.loads(result.read_text())
    data["wall_s"] = wall
    return data


def medians(reps: list[dict[str, float]]) -> dict[str, float]:
    keys = list(dict.fromkeys(k for r in reps for k in r))
    return {k: statistics.median(r[k] for r in reps if k in r) for k in keys}


def machine_info() -> dict:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"],
                               capture_output=True, text=True).stdout.strip()
        rev = rev + (" + uncommitted changes in src/" if dirty else "")
    except OSError:
        rev = "unknown"
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "ragbench": rev,
        "packages": {d: version(d) for d in ("numpy", "scipy", "pyarrow", "numba", "ranx",
                                             "pytrec-eval-terrier")},
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "NUMBA_NUM_THREADS", "MKL_NUM_THREADS")
                if k in os.environ},
    }


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"
