"""A system under test that answers every retrieval after a fixed delay.

It speaks the ragbench contract (``GET /health``, ``POST /api/v1/retrieve``; no
embed endpoint: 404) on a raw asyncio protocol with the ``httptools`` parser on
uvloop: no framework, responses encoded once per (query, top_k), so the system
itself costs a few tens of microseconds of CPU per request and cannot be what limits
a runner. The delay is a timer (``loop.call_later``, what ``asyncio.sleep`` uses)
started when the request has been read, so under any concurrency each answer takes
``latency_ms`` plus transfer time.

Rankings come from a JSON file ``{query text: [[doc_id, score], ...]}`` (best
first); an unknown query (e.g. a registration probe) gets a ranking drawn from the
known documents, seeded by the query text.

    python bench/fixed_latency_system.py --rankings rankings.json --latency-ms 20 \\
        --port 0     # prints "listening http://127.0.0.1:PORT" once ready
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import signal
import sys
from collections import deque
from pathlib import Path

import httptools

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            422: "Unprocessable Entity"}


def _response(status: int, body: bytes, keep_alive: bool) -> bytes:
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n")
    return head.encode() + body


class FixedLatencySystem:
    """The application: routes a parsed request to a status and a JSON body."""

    def __init__(self, rankings: dict[str, list], latency_s: float) -> None:
        self.rankings = rankings
        self.latency_s = latency_s
        self.doc_ids = sorted({d for hits in rankings.values() for d, _ in hits}) or ["d1"]
        self._encoded: dict[tuple[str, int], bytes] = {}
        self.requests = 0

    def ranking(self, query: str, top_k: int) -> bytes:
        key = (query, top_k)
        body = self._encoded.get(key)
        if body is None:
            hits = self.rankings.get(query)
            if hits is None:
                rng = random.Random(hashlib.sha256(query.encode()).digest())
                docs = rng.sample(self.doc_ids, min(100, len(self.doc_ids)))
                hits = [[d, round(1.0 - i / 100, 4)] for i, d in enumerate(docs)]
            body = json.dumps({"results": [{"doc_id": d, "score": s}
                                           for d, s in hits[:top_k]]}).encode()
            self._encoded[key] = body
        return body

    def handle(self, method: bytes, path: bytes, body: bytes) -> tuple[int, bytes, float]:
        """Status, body and the delay (s) before answering."""
        self.requests += 1
        path = path.split(b"?", 1)[0]
        if path == b"/health":
            return 200, b'{"status":"ok"}', 0.0
        if path == b"/api/v1/retrieve":
            if method != b"POST":
                return 405, b'{"detail":"method not allowed"}', 0.0
            try:
                req = json.loads(body)
                query, top_k = req["query"], int(req.get("top_k", 10))
                if not isinstance(query, str) or top_k < 1:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                return 422, b'{"detail":"need {\\"query\\": str, \\"top_k\\": int >= 1}"}', 0.0
            return 200, self.ranking(query, top_k), self.latency_s
        return 404, b'{"detail":"not found"}', 0.0


class Connection(asyncio.Protocol):
    """One client connection. Answers go out in request order (HTTP/1.1), each
    once its own delay has passed."""

    def __init__(self, app: FixedLatencySystem) -> None:
        self.app = app
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.pending: deque[list] = deque()  # [ready, bytes, keep_alive]
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(_response(400, b'{"detail":"bad request"}', False))
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status, body, delay = self.app.handle(self.parser.get_method(), self.url,
                                              b"".join(self.body))
        entry = [False, _response(status, body, self.parser.should_keep_alive()),
                 self.parser.should_keep_alive()]
        self.pending.append(entry)
        if delay > 0:
            self.loop.call_later(delay, self._ready, entry)
        else:
            self._ready(entry)

    def _ready(self, entry: list) -> None:
        entry[0] = True
        while self.pending and self.pending[0][0]:
            _, data, keep_alive = self.pending.popleft()
            if self.transport is None:
                return
            self.transport.write(data)
            if not keep_alive:
                self.transport.close()
                return


async def serve(rankings: dict[str, list], *, host: str, port: int, latency_ms: float) -> None:
    app = FixedLatencySystem(rankings, latency_ms / 1000.0)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(app), host, port, backlog=2048)
    port = server.sockets[0].getsockname()[1]
    print(f"listening http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(f"served {app.requests} requests", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rankings", type=Path, required=True,
                    help="JSON {query text: [[doc_id, score], ...]}")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    args = ap.parse_args(argv)
    rankings = json.loads(args.rankings.read_text())
    coro = serve(rankings, host=args.host, port=args.port, latency_ms=args.latency_ms)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)
    return 0


if __name__ == "__main__":
    sys.exit(main())
