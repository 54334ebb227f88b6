"""A closed-loop HTTP/1.1 load generator, run as its own process.

``concurrency`` keep-alive connections each send one request, wait for the whole
response, and send the next, for ``seconds`` (after ``warmup`` seconds whose results
are dropped). Requests are drawn, seeded, from a list of targets (method, path,
JSON body). Latency is measured from writing the request to reading the last body
byte, in milliseconds.

The default client is a raw asyncio socket client on uvloop (pre-encoded requests,
no per-request objects beyond the bytes), so that the generator costs far less CPU
than the server it measures. The other clients measure what an HTTP client library
alone can drive, on the stdlib asyncio loop as the evaluation runner runs:
``ragbench-http`` (:func:`ragbench.http.async_client`, what the runner uses),
``httpx`` (a plain ``httpx.AsyncClient``, httpcore's pool) and ``aiohttp`` (one
session); each with one pool of ``concurrency`` connections.

    python bench/http_load.py --url http://127.0.0.1:8000 --targets targets.json \\
        --concurrency 50 --seconds 20 --result out.json

``targets.json``: ``[{"method": "GET", "path": "/api/v1/...", "body": null}, ...]``.
The result: requests, errors, status counts, requests/s, latency percentiles (ms),
the generator's own CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np


def encode_request(host: str, target: dict) -> bytes:
    body = b"" if target.get("body") is None else json.dumps(target["body"]).encode()
    head = [f"{target.get('method', 'GET')} {target['path']} HTTP/1.1", f"Host: {host}",
            "User-Agent: ragbench-bench", "Accept: */*"]
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, keep = None, False, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts), keep
    return status, await reader.readexactly(length or 0), keep


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.status: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.recording = False

    def record(self, status: int | None, latency_ms: float, error: str | None = None) -> None:
        if not self.recording:
            return
        if error is not None:
            self.errors[error] = self.errors.get(error, 0) + 1
            return
        self.status[status] = self.status.get(status, 0) + 1
        self.latencies.append(latency_ms)


async def _raw_worker(host: str, port: int, requests: list[bytes], rng: random.Random,
                      stop: asyncio.Event, tally: Tally) -> None:
    reader = writer = None
    while not stop.is_set():
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                tally.record(None, 0.0, f"connect: {exc.__class__.__name__}")
                await asyncio.sleep(0.01)
                continue
        payload = requests[rng.randrange(len(requests))]
        t0 = time.perf_counter()
        try:
            writer.write(payload)
            status, _, keep = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            tally.record(None, 0.0, exc.__class__.__name__)
            writer.close()
            writer = None
            continue
        tally.record(status, (time.perf_counter() - t0) * 1e3)
        if not keep:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _httpx_worker(client, targets: list[dict], rng: random.Random,
                        stop: asyncio.Event, tally: Tally) -> None:
    import httpx

    while not stop.is_set():
        t = targets[rng.randrange(len(targets))]
        t0 = time.perf_counter()
        try:
            resp = await client.request(t.get("method", "GET"), t["path"], json=t.get("body"))
            await resp.aread()
        except httpx.HTTPError as exc:
            tally.record(None, 0.0, exc.__class__.__name__)
            continue
        tally.record(resp.status_code, (time.perf_counter() - t0) * 1e3)


async def _ragbench_worker(client, url: str, targets: list[dict], rng: random.Random,
                           stop: asyncio.Event, tally: Tally) -> None:
    from ragbench.http import HttpError

    while not stop.is_set():
        t = targets[rng.randrange(len(targets))]
        t0 = time.perf_counter()
        try:
            resp = await client.request(t.get("method", "GET"), url + t["path"],
                                        json=t.get("body"))
        except HttpError as exc:
            tally.record(None, 0.0, exc.__class__.__name__)
            continue
        tally.record(resp.status_code, (time.perf_counter() - t0) * 1e3)


async def _aiohttp_worker(session, url: str, targets: list[dict], rng: random.Random,
                          stop: asyncio.Event, tally: Tally) -> None:
    import aiohttp

    while not stop.is_set():
        t = targets[rng.randrange(len(targets))]
        t0 = time.perf_counter()
        try:
            async with session.request(t.get("method", "GET"), url + t["path"],
                                       json=t.get("body")) as resp:
                await resp.read()
        except aiohttp.ClientError as exc:
            tally.record(None, 0.0, exc.__class__.__name__)
            continue
        tally.record(resp.status, (time.perf_counter() - t0) * 1e3)


def httpx_client(concurrency: int):
    """A plain ``httpx.AsyncClient`` (httpcore's pool)."""
    import httpx

    return httpx.AsyncClient(timeout=httpx.Timeout(60.0), trust_env=False,
                             follow_redirects=False,
                             limits=httpx.Limits(max_connections=concurrency,
                                                 max_keepalive_connections=concurrency))


async def drive(url: str, targets: list[dict], *, concurrency: int, seconds: float,
                warmup: float = 1.0, client: str = "raw", seed: int = 0) -> dict:
    """Run the load; see the module docstring for the result's fields."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    stop, tally = asyncio.Event(), Tally()
    rngs = [random.Random(seed * 100_003 + i) for i in range(concurrency)]
    http_client = None
    if client == "raw":
        requests = [encode_request(f"{host}:{port}", t) for t in targets]
        workers = [_raw_worker(host, port, requests, rngs[i], stop, tally)
                   for i in range(concurrency)]
    elif client == "aiohttp":
        import aiohttp

        http_client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency), trust_env=False)
        workers = [_aiohttp_worker(http_client, url, targets, rngs[i], stop, tally)
                   for i in range(concurrency)]
    elif client == "ragbench-http":
        from ragbench.http import async_client

        http_client = async_client(timeout=60.0, max_connections=concurrency)
        workers = [_ragbench_worker(http_client, url, targets, rngs[i], stop, tally)
                   for i in range(concurrency)]
    else:
        http_client = httpx_client(concurrency)
        http_client.base_url = url
        workers = [_httpx_worker(http_client, targets, rngs[i], stop, tally)
                   for i in range(concurrency)]
    tasks = [asyncio.ensure_future(w) for w in workers]
    await asyncio.sleep(warmup)
    tally.recording = True
    cpu0, t0 = _cpu_s(), time.perf_counter()
    await asyncio.sleep(seconds)
    tally.recording = False
    elapsed, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    stop.set()
    await asyncio.wait(tasks, timeout=30)
    for t in tasks:
        t.cancel()
    if http_client is not None:
        await (http_client.close() if client == "aiohttp" else http_client.aclose())
    return summarize(tally, elapsed, cpu, concurrency=concurrency, client=client)


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def summarize(tally: Tally, elapsed: float, cpu_s: float, **info) -> dict:
    lat = np.asarray(tally.latencies)
    ok = sum(n for s, n in tally.status.items() if 200 <= s < 300)
    pct = {f"p{p}": float(np.percentile(lat, p)) if len(lat) else None
           for p in (50, 90, 95, 99)}
    return {**info, "seconds": elapsed, "requests": len(lat), "ok": ok,
            "status": {str(k): v for k, v in sorted(tally.status.items())},
            "errors": tally.errors, "rps": len(lat) / elapsed,
            "latency_ms": {**pct, "mean": float(lat.mean()) if len(lat) else None,
                           "max": float(lat.max()) if len(lat) else None},
            "client_cpu_s": cpu_s}


def run_on_uvloop(coro):
    """``asyncio.run`` on uvloop when it is installed (as ``ragbench serve`` runs)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--targets", required=True, type=Path)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--client", choices=("raw", "ragbench-http", "httpx", "aiohttp"),
                    default="raw")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--result", type=Path, default=None)
    args = ap.parse_args(argv)
    targets = json.loads(args.targets.read_text())
    # The raw client runs on uvloop (it should cost as little as possible); the client
    # libraries on the stdlib loop, as in the evaluation runner (asyncio.run, and a
    # plain asyncio loop in the service's executor thread).
    run = run_on_uvloop if args.client == "raw" else asyncio.run
    result = run(drive(args.url, targets, concurrency=args.concurrency,
                               seconds=args.seconds, warmup=args.warmup, client=args.client,
                               seed=args.seed))
    text = json.dumps(result, indent=1)
    if args.result:
        args.result.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
