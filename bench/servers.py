"""Processes the service benchmarks start: ``ragbench serve``, the fixed-latency
system and the load generator, each in its own process, stopped by PID.

Also the measurements taken from outside a process: its CPU seconds (``/proc``), the
machine's load average, a free port.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import BENCH, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def src_fingerprint() -> str:
    """sha256 (12 hex digits) of every ``src/ragbench`` Python file, and the newest
    one's modification time: which code a run measured, with or without a commit."""
    import hashlib
    from datetime import datetime

    digest, newest = hashlib.sha256(), 0.0
    for path in sorted((ROOT / "src" / "ragbench").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
        newest = max(newest, path.stat().st_mtime)
    return (f"{digest.hexdigest()[:12]} (newest file "
            f"{datetime.fromtimestamp(newest).isoformat(timespec='seconds')})")


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), str(BENCH)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.update(extra or {})
    return env


class Server:
    """A server process with a base URL; ``stop()`` sends SIGTERM to its group, then
    SIGKILL after ``grace`` seconds."""

    def __init__(self, name: str, argv: list[str], *, url: str | None, log: Path,
                 env: dict[str, str]) -> None:
        self.name, self.url, self.log = name, url, log
        self._log_fh = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log_fh, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_healthy(self, timeout: float = 120.0, path: str = "/health") -> None:
        import httpx

        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                       f"{self.log_tail()}")
                if self.url is None:
                    self.url = _announced_url(self.log)
                if self.url is not None:
                    try:
                        if client.get(self.url + path).status_code == 200:
                            return
                    except httpx.HTTPError:
                        pass
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, grace: float = 15.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log_fh.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _announced_url(log: Path) -> str | None:
    try:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("listening "):
                return line.split()[1]
    except OSError:
        pass
    return None


def start_fixed_latency_system(rankings: Path, *, latency_ms: float, log: Path) -> Server:
    argv = [sys.executable, str(BENCH / "fixed_latency_system.py"), "--rankings",
            str(rankings), "--latency-ms", str(latency_ms), "--port", "0"]
    server = Server("fixed-latency system", argv, url=None, log=log, env=child_env())
    server.wait_healthy(30)
    return server


def start_ragbench(data_dir: Path, *, log: Path, database_url: str = "",
                   env: dict[str, str] | None = None) -> Server:
    """``ragbench serve`` on a free port (uvicorn, one process, uvloop + httptools when
    installed), auth off, periodic health checks off."""
    port = free_port()
    argv = [sys.executable, "-m", "ragbench.cli", "serve", "--port", str(port)]
    server = Server("ragbench serve", argv, url=f"http://127.0.0.1:{port}", log=log,
                    env=child_env({"RAGBENCH_DATA_DIR": str(data_dir),
                                   "RAGBENCH_DATABASE_URL": database_url,
                                   "RAGBENCH_AUTH_ENABLED": "false",
                                   "RAGBENCH_ENVIRONMENT": "development",
                                   "RAGBENCH_HEALTH_CHECK_INTERVAL_S": "0",
                                   **(env or {})}))
    server.wait_healthy(120)
    return server


def run_load(url: str, targets: list[dict], *, concurrency: int, seconds: float,
             warmup: float = 1.0, client: str = "raw", seed: int = 0,
             server_pid: int | None = None) -> dict:
    """Run ``http_load.py`` in its own process; its result plus the load average and,
    with ``server_pid``, the server's CPU seconds per second and per request."""
    with tempfile.TemporaryDirectory() as tmp:
        tfile, rfile = Path(tmp) / "targets.json", Path(tmp) / "result.json"
        tfile.write_text(json.dumps(targets))
        argv = [sys.executable, str(BENCH / "http_load.py"), "--url", url, "--targets",
                str(tfile), "--concurrency", str(concurrency), "--seconds", str(seconds),
                "--warmup", str(warmup), "--client", client, "--seed", str(seed),
                "--result", str(rfile)]
        proc = subprocess.Popen(argv, env=child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        cpu0 = None
        if server_pid is not None:
            # Sample the server's CPU over the measured window only (after the warm-up).
            time.sleep(warmup)
            cpu0, t0 = cpu_seconds(server_pid), time.perf_counter()
            time.sleep(seconds)
            cpu1, t1 = cpu_seconds(server_pid), time.perf_counter()
        out, _ = proc.communicate(timeout=seconds + warmup + 120)
        if proc.returncode != 0 or not rfile.exists():
            raise RuntimeError(f"load generator failed:\n{out.decode(errors='replace')[-3000:]}")
        result = json.loads(rfile.read_text())
    result["loadavg_1m"] = loadavg()
    if cpu0 is not None:
        result["server_cpu_per_s"] = (cpu1 - cpu0) / (t1 - t0)
        result["server_cpu_ms_per_request"] = (
            (cpu1 - cpu0) / (result["rps"] * (t1 - t0)) * 1e3 if result["rps"] else None)
    return result
