"""``ragbench serve-system``: the real command, started as a process, serves the contract."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from servers import free_port  # tests/servers.py (tests/ is on sys.path via its conftest)

RAGBENCH = Path(sys.executable).with_name("ragbench")


def start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        return subprocess.Popen([str(RAGBENCH), *args], stdout=out, stderr=subprocess.STDOUT,
                                env=env)


def wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve-system exited with {proc.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(f"{url}/health", timeout=1.0, trust_env=False).json()
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"serve-system not healthy after {timeout} s:\n{log.read_text()}")


def test_serve_system_bm25(tiny_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "bm25.log"
    proc = start(["serve-system", "bm25", "--dataset", str(tiny_dir), "--port", str(port)], log)
    try:
        assert wait_healthy(proc, url, log) == {"status": "ok", "kind": "bm25",
                                                "documents": 5, "model": None}
        response = httpx.post(f"{url}/api/v1/retrieve", trust_env=False,
                              json={"query": "cat chasing", "top_k": 10})
        # The BM25 scores worked out in test_bm25.py::test_scores_match_the_formula_by_hand.
        assert [(r["doc_id"], r["score"]) for r in response.json()["results"]] == [
            ("d1", pytest.approx(0.7978388883, rel=1e-6)),
            ("d2", pytest.approx(0.6488487645, rel=1e-6))]
        assert httpx.post(f"{url}/api/v1/embed", json={"text": "cat"},
                          trust_env=False).status_code == 404
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal for the caller.
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
    output = log.read_text()
    assert "bm25: indexed 5 documents" in output
    assert "Application shutdown complete" in output


def test_serve_system_without_corpus_exits_2(tmp_path):
    result = subprocess.run([str(RAGBENCH), "serve-system", "bm25", "--dataset", str(tmp_path),
                             "--port", str(free_port())], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "no corpus.jsonl" in result.stderr


def test_busy_port_is_refused_before_indexing(tiny_dir):
    from ragbench.reference.server import run_reference_system

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            run_reference_system("bm25", dataset=tiny_dir, host="127.0.0.1", port=port)
