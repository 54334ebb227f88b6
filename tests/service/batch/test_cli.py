"""``ragbench batch run|status|cancel|retry`` against a real served app."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from ragbench.batch import cli
from ragbench.batch.cli import batch_app
from ragbench.main import create_app
from servers import free_port, serve_app

from .conftest import wait_job


def test_batch_run_shows_progress_until_the_job_completes(settings, database, dataset_ids,
                                                          system, monkeypatch):
    _, first = system("first")
    _, second = system("second", latency_s=0.01)
    runner = CliRunner()
    with serve_app(create_app(settings)) as url:
        result = runner.invoke(batch_app, [
            "run", "--systems", f"{first},{second}",
            "--datasets", ",".join(map(str, dataset_ids)), "--name", "from the cli",
            "--measures", "ndcg@10, AP", "--url", url])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == "job 1 started: 4 tasks (2 systems × 2 datasets)"
        # The bars' final state: every task at 12 of 12 queries, the job at 48 of 48.
        bars = [line for line in lines if " × synthetic-" in line]
        assert len(bars) == 4 and all("12/12" in line and "completed" in line for line in bars)
        assert any(line.startswith("job 1 ") and "48/48" in line for line in lines)
        assert lines[-1] == "job 1 completed: 4 of 4 tasks completed, 0 failed, 0 cancelled"

        status = runner.invoke(batch_app, ["status", "1"], env={"RAGBENCH_URL": url})
        assert status.exit_code == 0, status.output
        assert status.output.startswith("job 1 'from the cli': completed (100%)")
        assert status.output.count("12/12") == 4

        cancel = runner.invoke(batch_app, ["cancel", "1", "--url", url])
        assert cancel.exit_code == 2
        assert "409: batch job 1 is completed and cannot be cancelled" in cancel.output
        retry = runner.invoke(batch_app, ["retry", "1", "--url", url])
        assert retry.exit_code == 2 and "has no failed task" in retry.output
        missing = runner.invoke(batch_app, ["run", "--systems", "99", "--datasets", "1",
                                            "--url", url])
        assert missing.exit_code == 2
        assert "404: no system with id 99 (system_ids[0])" in missing.output

        # Ctrl-C while following: the job keeps running, and the way to cancel is shown.
        def interrupted(*_args):
            raise KeyboardInterrupt
        monkeypatch.setattr(cli, "_follow", interrupted)
        result = runner.invoke(batch_app, ["run", "--systems", str(first), "--datasets",
                                           str(dataset_ids[0]), "--url", url])
        assert result.exit_code == 130
        assert "job 2 keeps running on the service" in result.output
        assert "ragbench batch cancel 2" in result.output
        with httpx.Client(base_url=url) as client:
            assert wait_job(client, 2)["status"] == "completed"

    gone = runner.invoke(batch_app, ["status", "1", "--url", f"http://127.0.0.1:{free_port()}"])
    assert gone.exit_code == 2 and "cannot reach the ragbench service" in gone.output
    bad = runner.invoke(batch_app, ["run", "--systems", "1,x", "--datasets", "1"])
    assert bad.exit_code == 2 and "expected ids separated by commas" in bad.output
