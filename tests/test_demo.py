"""The README's main command, end to end: ``ragbench demo`` (what scripts/demo.sh runs)
on a small collection. It must register and evaluate the three reference systems over
real HTTP, print a leaderboard, stay up with /docs, and on Ctrl-C stop every process
it started."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from servers import free_port


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_runs_end_to_end_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "COLUMNS": "160"}
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "ragbench.cli", "demo", str(tmp_path / "demo"),
         "--port", str(port), "--docs", "200", "--queries", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 900
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
                break
        out = "".join(lines)
        assert "Ctrl-C stops everything" in out, out
        system_ports = [int(p) for p in re.findall(r"(?:bm25|dense|hybrid) :(\d+)", out)]
        assert len(system_ports) == 3, out
        for name in ("bm25", "dense-minilm", "hybrid-minilm"):
            assert re.search(rf"{name}: id \d+; url ok, connectivity ok, endpoints ok, "
                             rf"format ok, performance ok", out), out
        assert out.count("completed") >= 3
        assert "Leaderboard" in out and "p corrected" in out
        # The service stays up, with its docs.
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10).status_code == 200
        board = httpx.get(f"http://127.0.0.1:{port}/api/v1/comparisons/leaderboard/1",
                          params={"metric": "nDCG@10"}, timeout=30).json()
        assert sorted(r["name"] for r in board["ranking"]) == [
            "bm25", "dense-minilm", "hybrid-minilm"]
        assert board["n_queries"] == 20

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.5)
    assert not _accepts(port), "the service is still listening"
    for p in system_ports:
        assert not _accepts(p), f"a reference system is still listening on {p}"
