"""``ragbench batch``: run and follow batch jobs on a ragbench service over its API.

The service is at ``--url`` (or ``RAGBENCH_URL``; default http://127.0.0.1:8000)
with the key ``--api-key`` (or ``RAGBENCH_API_KEY``) when it has auth on. The
HTTP client and progress display are imported when a command runs, so the rest
of the CLI does not pay for them at start-up.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console

batch_app = typer.Typer(help="Batch jobs: evaluate many systems on many datasets.",
                        no_args_is_help=True)

DEFAULT_URL = "http://127.0.0.1:8000"
FINISHED = ("completed", "failed", "cancelled")
#: Seconds between progress reads while following a job.
POLL_S = 0.5

Url = Annotated[str, typer.Option("--url", envvar="RAGBENCH_URL",
                                  help="Base URL of the ragbench service")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="RAGBENCH_API_KEY",
                                               help="API key (when the service has auth on)")]
JobId = Annotated[int, typer.Argument(help="Job id")]

console = Console(soft_wrap=True)


class ServiceError(Exception):
    """The service refused a request or could not be reached."""


class BatchApi:
    """The batch endpoints of one service, over :func:`ragbench.http.sync_client`."""

    def __init__(self, url: str, api_key: str | None, *, timeout_s: float = 30.0) -> None:
        from ragbench.http import sync_client

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self.url = url.rstrip("/")
        self.http = sync_client(timeout=timeout_s, headers=headers)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict:
        import httpx

        try:
            response = self.http.request(method, f"{self.url}/api/v1/batch{path}", json=body)
        except httpx.HTTPError as exc:
            raise ServiceError(f"cannot reach the ragbench service at {self.url}: {exc}") \
                from None
        if response.is_success:
            return response.json()
        try:
            error = response.json()["error"]
            message = error["message"]
            if isinstance(error.get("details"), dict) and error["details"].get("field"):
                message += f" ({error['details']['field']})"
        except (ValueError, KeyError, TypeError):
            message = response.text[:500] or response.reason_phrase
        raise ServiceError(f"{response.status_code}: {message}")

    def close(self) -> None:
        self.http.close()


def _ids(text: str, option: str) -> list[int]:
    try:
        ids = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise typer.BadParameter(f"expected ids separated by commas, got {text!r}",
                                 param_hint=option) from None
    if not ids:
        raise typer.BadParameter("at least one id is needed", param_hint=option)
    return ids


def _api(url: str, api_key: str | None) -> BatchApi:
    return BatchApi(url or DEFAULT_URL, api_key)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@batch_app.command("run")
def run(
    systems: Annotated[str, typer.Option("--systems", help="System ids, e.g. 1,2,5")],
    datasets: Annotated[str, typer.Option("--datasets", help="Dataset ids, e.g. 3,4")],
    name: Annotated[str | None, typer.Option(help="Job name")] = None,
    measures: Annotated[str | None, typer.Option(
        help="Measures, comma separated (default: nDCG@10,AP,RR@10,P@10,R@100)")] = None,
    top_k: Annotated[int | None, typer.Option(help="Documents asked per query")] = None,
    concurrency: Annotated[int | None, typer.Option(
        help="Requests in flight per task")] = None,
    retries: Annotated[int | None, typer.Option(help="Retries per failed request")] = None,
    rate_limit_qps: Annotated[float | None, typer.Option(
        help="Requests per second per task")] = None,
    follow: Annotated[bool, typer.Option(help="Show live progress until the job "
                                              "finishes")] = True,
    url: Url = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Start a job (every system on every dataset) and follow it with progress bars.

    Exits 0 when the job completed, 1 when it failed or was cancelled. Ctrl-C
    stops following; the job keeps running on the service."""
    config: dict[str, Any] = {}
    if measures:
        config["measures"] = [m.strip() for m in measures.split(",") if m.strip()]
    for key, value in (("top_k", top_k), ("concurrency", concurrency), ("retries", retries),
                       ("rate_limit_qps", rate_limit_qps)):
        if value is not None:
            config[key] = value
    system_ids, dataset_ids = _ids(systems, "--systems"), _ids(datasets, "--datasets")
    body = {"name": name or f"systems {systems} on datasets {datasets}",
            "system_ids": system_ids, "dataset_ids": dataset_ids, "evaluation_config": config}
    api = _api(url, api_key)
    try:
        job = api.call("POST", "/jobs", body)
    except ServiceError as exc:
        api.close()
        _fail(str(exc))
    console.print(f"job {job['id']} started: {job['tasks']['total']} tasks "
                  f"({len(system_ids)} systems × {len(dataset_ids)} datasets)",
                  highlight=False)
    try:
        if not follow:
            return
        final = _follow(api, job["id"])
    except ServiceError as exc:
        _fail(f"{exc}; job {job['id']} may still be running (ragbench batch status "
              f"{job['id']})")
    except KeyboardInterrupt:
        console.print(f"\nstopped following; job {job['id']} keeps running on the service. "
                      f"Cancel it with: ragbench batch cancel {job['id']}", highlight=False)
        raise typer.Exit(130) from None
    finally:
        api.close()
    _summary(final)
    raise typer.Exit(0 if final["status"] == "completed" else 1)


def _follow(api: BatchApi, job_id: int) -> dict:
    """Progress bars (one per task, one overall) until the job is finished;
    returns the last progress read."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn,
                               TimeRemainingColumn)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[state]}"), TimeRemainingColumn(),
                  console=console, transient=False) as bars:
        rows: dict[int, TaskID] = {}
        overall: TaskID | None = None
        while True:
            progress = api.call("GET", f"/jobs/{job_id}/progress")
            if overall is None:
                overall = bars.add_task(f"job {job_id}", total=progress["queries_total"],
                                        state="")
                for item in progress["items"]:
                    rows[item["task_id"]] = bars.add_task(
                        f"  {item['system_name']} × {item['dataset_name']}",
                        total=item["queries_total"], state="")
            for item in progress["items"]:
                done = item["queries_total"] if item["status"] in FINISHED and \
                    item["status"] != "failed" else item["queries_done"]
                bars.update(rows[item["task_id"]], completed=done,
                            total=item["queries_total"], state=_state(item))
            bars.update(overall, completed=progress["queries_done"],
                        total=progress["queries_total"],
                        state=f"{progress['status']} {progress['percent']:.0f}%")
            if progress["status"] in FINISHED:
                return progress
            time.sleep(POLL_S)


def _state(item: dict) -> str:
    if item["errors_count"] and item["status"] in ("running", "completed"):
        return f"{item['status']} ({item['errors_count']} failed queries)"
    return item["status"]


def _summary(progress: dict) -> None:
    tasks = progress["tasks"]
    console.print(f"job {progress['job_id']} {progress['status']}: {tasks['completed']} of "
                  f"{tasks['total']} tasks completed, {tasks['failed']} failed, "
                  f"{tasks['cancelled']} cancelled", highlight=False)
    for item in progress["items"]:
        if item["status"] == "failed":
            console.print(f"  task {item['task_id']} ({item['system_name']} × "
                          f"{item['dataset_name']}) failed: {item['error']}", highlight=False)
    if tasks["failed"]:
        console.print(f"run the failed tasks again with: ragbench batch retry "
                      f"{progress['job_id']}", highlight=False)


@batch_app.command("status")
def status(job_id: JobId, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """A job's status and its tasks' progress."""
    from rich.table import Table

    api = _api(url, api_key)
    try:
        job = api.call("GET", f"/jobs/{job_id}")
        progress = api.call("GET", f"/jobs/{job_id}/progress")
    except ServiceError as exc:
        _fail(str(exc))
    finally:
        api.close()
    console.print(f"job {job['id']} {job['name']!r}: {job['status']} "
                  f"({progress['percent']:.0f}%)", highlight=False)
    if job["error"]:
        console.print(f"error: {job['error']}", highlight=False)
    table = Table("task", "system", "dataset", "status", "queries", "failed", "ETA s",
                  "evaluation", "error")
    for item in progress["items"]:
        table.add_row(str(item["task_id"]), item["system_name"], item["dataset_name"],
                      item["status"], f"{item['queries_done']}/{item['queries_total']}",
                      str(item["errors_count"]),
                      "" if item["eta_s"] is None else f"{item['eta_s']:.0f}",
                      str(item["evaluation_id"] or ""), item["error"] or "")
    console.print(table)


@batch_app.command("cancel")
def cancel(job_id: JobId, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Cancel a job: its unfinished tasks stop; finished ones keep their results."""
    api = _api(url, api_key)
    try:
        job = api.call("POST", f"/jobs/{job_id}/cancel")
    except ServiceError as exc:
        _fail(str(exc))
    finally:
        api.close()
    tasks = job["tasks"]
    console.print(f"job {job_id} cancelled ({tasks['completed']} tasks had completed, "
                  f"{tasks['cancelled']} cancelled)", highlight=False)


@batch_app.command("retry")
def retry(job_id: JobId, url: Url = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Run a job's failed tasks again (only those)."""
    api = _api(url, api_key)
    try:
        before = api.call("GET", f"/jobs/{job_id}")
        job = api.call("POST", f"/jobs/{job_id}/retry")
    except ServiceError as exc:
        _fail(str(exc))
    finally:
        api.close()
    console.print(f"job {job_id} {job['status']}: {before['tasks']['failed']} failed tasks "
                  f"queued again; follow with: ragbench batch status {job_id}",
                  highlight=False)
