"""ragbench's own HTTP/1.1 client (:mod:`ragbench.http`) against real servers.

Every test talks over loopback to a real server on an ephemeral port: uvicorn
serving a FastAPI app for the ordinary path, and raw asyncio servers
(``http_servers.RawServer``) that write crafted bytes where the exact wire
behaviour matters (framing, interim answers, closed connections, garbage,
silence). The servers count connections and keep what they read, so keep-alive
reuse and "nothing was sent" are checked on the server's side.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import sys
import time
import zlib

import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.middleware.gzip import GZipMiddleware

from http_servers import (RawServer, ServerConnection, answer_each, chunked,
                          issue_certificates, response, within)
from servers import free_port, serve_app

from ragbench import http
from ragbench.http import (ConnectError, HttpClient, HttpError, HttpTimeout,
                           ReadError, RemoteProtocolError, async_client, encode_json)

pytestmark = pytest.mark.anyio

#: A plain keep-alive answer: tests about what happens on a reused connection
#: answer their first request with it.
KEPT = response(200, b"kept")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _echo_app() -> FastAPI:
    app = FastAPI()
    # Only the /large answer is big enough to be compressed.
    app.add_middleware(GZipMiddleware, minimum_size=8000)

    @app.get("/large")
    async def large() -> PlainTextResponse:
        return PlainTextResponse("relevant document " * 1000)

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def echo(request: Request) -> JSONResponse:
        scope = request.scope
        answer = JSONResponse(
            {"method": request.method,
             "raw_path": scope["raw_path"].decode("latin-1"),
             "query_string": scope["query_string"].decode("latin-1"),
             "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                         for k, v in scope["headers"]],
             "body": (await request.body()).decode("latin-1")},
            status_code=201 if request.method == "POST" else 200)
        answer.headers.append("X-Trace", "first")
        answer.headers.append("X-Trace", "second")
        return answer

    return app


@pytest.fixture(scope="module")
def echo_url():
    with serve_app(_echo_app()) as url:
        yield url


def _headers(echoed: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in echoed["headers"]:
        out.setdefault(name, []).append(value)
    return out


# -- the ordinary path (uvicorn + FastAPI) -----------------------------------------------

async def test_get_round_trip_keeps_the_query_as_given(echo_url):
    port = echo_url.rsplit(":", 1)[1]
    async with async_client(timeout=5, headers={"Authorization": "Bearer k-123",
                                                "X-Team": "ir"}) as client:
        got = await client.request("GET", f"{echo_url}/search/p%2Fq?q=a%26b&lang=%C3%A9n")

    assert got.status_code == 200
    echoed = orjson.loads(got.content)
    assert echoed["method"] == "GET"
    # Percent-encoding arrives as written: %2F and %26 not decoded, nothing re-quoted.
    assert echoed["raw_path"] == "/search/p%2Fq"
    assert echoed["query_string"] == "q=a%26b&lang=%C3%A9n"
    sent = _headers(echoed)
    assert sent["host"] == [f"127.0.0.1:{port}"]
    assert sent["user-agent"] == ["ragbench/0.1"]
    assert sent["authorization"] == ["Bearer k-123"]
    assert sent["x-team"] == ["ir"]
    assert sent["accept-encoding"] == ["gzip, deflate"]
    assert "content-length" not in sent and "content-type" not in sent
    assert echoed["body"] == ""
    # Starlette sent two X-Trace lines; the client joins them in order.
    assert got.headers["x-trace"] == "first, second"
    assert got.headers["content-type"] == "application/json"
    assert int(got.headers["content-length"]) == len(got.content)
    assert all(name == name.lower() for name in got.headers)


async def test_post_json_round_trip(echo_url):
    payload = {"query": "what is retrieval? ünïcode", "k": 10, "filters": [1.5, None, True]}
    expected_body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    async with async_client(timeout=5) as client:
        got = await client.request("POST", f"{echo_url}/api/v1/retrieve", json=payload)

    assert got.status_code == 201
    echoed = orjson.loads(got.content)
    assert echoed["method"] == "POST"
    assert echoed["raw_path"] == "/api/v1/retrieve"
    assert echoed["body"].encode("latin-1") == expected_body
    sent = _headers(echoed)
    assert sent["content-type"] == ["application/json"]
    assert sent["content-length"] == [str(len(expected_body))]


async def test_post_raw_content_is_sent_as_is(echo_url):
    async with async_client(timeout=5) as client:
        got = await client.request("POST", f"{echo_url}/raw", content=b"\x00\x01 bytes\xff")
    echoed = orjson.loads(got.content)
    assert echoed["body"].encode("latin-1") == b"\x00\x01 bytes\xff"
    sent = _headers(echoed)
    assert sent["content-length"] == ["9"]  # 2 control bytes, " bytes", 0xff
    assert "content-type" not in sent


async def test_gzip_answer_of_a_real_server_is_decompressed(echo_url):
    async with async_client(timeout=5) as client:
        got = await client.request("GET", f"{echo_url}/large")
    assert got.headers["content-encoding"] == "gzip"
    assert int(got.headers["content-length"]) < 18000 // 10  # really compressed on the wire
    assert got.content == b"relevant document " * 1000


# -- the request on the wire -------------------------------------------------------------

async def test_request_head_on_the_wire():
    async with RawServer() as server, HttpClient(timeout=5) as client:
        await client.request("POST", server.url("/v1/r?q=a%26b%20c#frag"), json=[1, "x"])
    (sent,) = server.requests
    assert sent.head == (
        f"POST /v1/r?q=a%26b%20c HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "User-Agent: ragbench/0.1\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
        "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n").encode()
    assert sent.body == b'[1,"x"]'


async def test_header_values_outside_latin1_are_refused_when_the_client_is_made():
    with pytest.raises(ValueError):
        HttpClient(timeout=1, headers={"X-User": "名前"})


async def test_header_values_with_line_breaks_are_refused():
    with pytest.raises(ValueError, match="line break"):
        HttpClient(timeout=1, headers={"X-Key": "k\r\nX-Injected: 1"})
    with pytest.raises(ValueError, match="max_connections"):
        HttpClient(timeout=1, max_connections=0)


def test_encode_json_falls_back_for_what_orjson_refuses():
    assert encode_json({"a": [1, 2.5]}) == b'{"a":[1,2.5]}'
    # orjson refuses integers beyond 64 bits; the standard library writes them.
    assert json.loads(encode_json({"n": 2**70})) == {"n": 1180591620717411303424}


# -- keep-alive and the pool ------------------------------------------------------------

async def test_sequential_requests_reuse_one_connection():
    async with RawServer() as server, HttpClient(timeout=5) as client:
        for i in range(5):
            got = await client.request("GET", server.url(f"/q{i}"))
            assert (got.status_code, got.content) == (200, b"ok")
    assert len(server.connections) == 1
    assert [r.target for r in server.connections[0].requests] == [f"/q{i}" for i in range(5)]


async def test_concurrency_is_capped_at_max_connections():
    in_flight = peak = 0

    async def slow(conn: ServerConnection) -> None:
        nonlocal in_flight, peak
        while (request := await conn.next_request()) is not None:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.1)
            in_flight -= 1
            await conn.send(response(200, request.target.encode()))

    async with RawServer(slow) as server, HttpClient(timeout=5, max_connections=3) as client:
        start = time.monotonic()
        answers = await asyncio.gather(
            *(client.request("GET", server.url(f"/{i}")) for i in range(10)))
        elapsed = time.monotonic() - start

    assert [a.content for a in answers] == [f"/{i}".encode() for i in range(10)]
    assert peak == 3
    assert len(server.connections) == 3
    # 10 requests, 3 at a time, 100 ms each: at least ceil(10 / 3) = 4 rounds.
    assert elapsed >= 0.4 - 0.01


async def test_concurrent_requests_share_max_connections_connections():
    async with RawServer() as server, HttpClient(timeout=5, max_connections=3) as client:
        for _ in range(3):
            await asyncio.gather(*(client.request("GET", server.url()) for _ in range(10)))
    assert len(server.connections) == 3
    assert sum(len(c.requests) for c in server.connections) == 30


@pytest.mark.parametrize("answer", [
    pytest.param(response(200, b"sized"), id="content-length"),
    pytest.param(response(200, chunked(b"chunk", b"ed"), length=False,
                          headers=(("Transfer-Encoding", "chunked"),)),
                 id="chunked"),
    pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n" + response(200, b"after 100"),
                 id="interim"),
    pytest.param(response(204, reason="No Content", length=False), id="no-content"),
    pytest.param(response(200, b"1.0", version="HTTP/1.0",
                          headers=(("Connection", "keep-alive"),)),
                 id="http10-keep-alive"),
])
async def test_keep_alive_after_each_kind_of_answer(answer):
    async def same_answer(conn: ServerConnection) -> None:
        while await conn.next_request() is not None:
            await conn.send(answer)

    async with RawServer(same_answer) as server, HttpClient(timeout=5) as client:
        for _ in range(3):
            await client.request("GET", server.url())
    assert [len(c.requests) for c in server.connections] == [3]


async def test_idle_connection_older_than_keepalive_is_not_reused(monkeypatch):
    monkeypatch.setattr(http, "KEEPALIVE_S", 0.1)
    async with RawServer() as server, HttpClient(timeout=5) as client:
        await client.request("GET", server.url("/1"))
        await client.request("GET", server.url("/2"))  # idle for less than 0.1 s
        await asyncio.sleep(0.15)
        await client.request("GET", server.url("/3"))
        await within(server.connections[0].eof.wait())  # the expired one was closed
    assert [[r.target for r in c.requests] for c in server.connections] == [
        ["/1", "/2"], ["/3"]]


async def test_connection_close_answer_is_not_reused():
    # The server leaves its end open: only the header tells the client not to reuse it.
    async def closing(conn: ServerConnection) -> None:
        while await conn.next_request() is not None:
            await conn.send(response(200, b"bye", headers=(("Connection", "close"),)))

    async with RawServer(closing) as server, HttpClient(timeout=5) as client:
        first = await client.request("GET", server.url("/1"))
        second = await client.request("GET", server.url("/2"))
        await within(server.connections[0].eof.wait())
    assert (first.content, second.content) == (b"bye", b"bye")
    assert first.headers["connection"] == "close"
    assert [[r.target for r in c.requests] for c in server.connections] == [["/1"], ["/2"]]


# -- framing and encodings --------------------------------------------------------------

async def test_chunked_answer():
    async def chunking(conn: ServerConnection) -> None:
        while await conn.next_request() is not None:
            await conn.send(response(200, chunked(b"hello", b" ", b"chunked world"),
                                     headers=(("Transfer-Encoding", "chunked"),),
                                     length=False), pieces=4, pause_s=0.01)

    async with RawServer(chunking) as server, HttpClient(timeout=5) as client:
        first = await client.request("GET", server.url("/1"))
        second = await client.request("GET", server.url("/2"))
    assert first.content == second.content == b"hello chunked world"
    assert first.headers["transfer-encoding"] == "chunked"
    assert len(server.connections) == 1


async def test_answer_trickled_byte_by_byte():
    answer = response(200, b'{"hits": []}', headers=(("Content-Type", "application/json"),
                                                      ("X-Long-Header-Name", "v" * 40)))

    async def trickle(conn: ServerConnection) -> None:
        await conn.next_request()
        await conn.send(answer, pieces=len(answer))

    async with RawServer(trickle) as server, HttpClient(timeout=5) as client:
        got = await client.request("GET", server.url())
    assert got.content == b'{"hits": []}'
    assert got.headers == {"content-type": "application/json",
                           "x-long-header-name": "v" * 40, "content-length": "12"}


@pytest.mark.parametrize("shape", ["truncated", "two-members"])
async def test_gzip_body_is_decoded_whole_or_refused(shape):
    plain = b'{"hits": [{"id": "d1", "score": 3.5}]}' * 50
    packed = gzip.compress(plain)
    if shape == "truncated":
        body = packed[:len(packed) // 2]
    else:  # RFC 1952 allows members one after another; their contents concatenate
        body = packed + gzip.compress(b"+tail")

    async def gzipped(conn: ServerConnection) -> None:
        await conn.next_request()
        await conn.send(response(200, body, headers=(("Content-Encoding", "gzip"),)))

    async with RawServer(gzipped) as server, HttpClient(timeout=5) as client:
        if shape == "truncated":
            with pytest.raises(ReadError, match="cut short"):
                await client.request("GET", server.url())
        else:
            got = await client.request("GET", server.url())
            assert got.content == plain + b"+tail"


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize("encoding, pack", [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),  # RFC 9110's deflate: zlib framing
    ("deflate", _raw_deflate),  # what some servers send instead: a bare deflate stream
], ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw"])
async def test_compressed_answers_are_decompressed(encoding, pack):
    plain = b'{"hits": [{"id": "d1", "score": 3.5}]}' * 50

    async def compressed(conn: ServerConnection) -> None:
        await conn.next_request()
        await conn.send(response(200, pack(plain), headers=(("Content-Encoding", encoding),)))

    async with RawServer(compressed) as server, HttpClient(timeout=5) as client:
        got = await client.request("GET", server.url())
    assert got.content == plain
    assert got.headers["content-encoding"] == encoding


async def test_unknown_content_encoding_is_a_read_error():
    async def brotli(conn: ServerConnection) -> None:
        await conn.next_request()
        await conn.send(response(200, b"\x8b\x02\x80hi\x03", headers=(("Content-Encoding", "br"),)))

    async with RawServer(brotli) as server, HttpClient(timeout=5) as client:
        with pytest.raises(ReadError, match="unsupported content-encoding 'br'"):
            await client.request("GET", server.url())


LIMIT = 1000  # bytes, as MAX_RESPONSE_BYTES in the size tests


def _sized(kind: str, size: int) -> bytes:
    body = b"x" * size
    if kind == "content-length":
        return response(200, body)
    if kind == "chunked":
        return response(200, chunked(*(body[i:i + 300] for i in range(0, size, 300))),
                        headers=(("Transfer-Encoding", "chunked"),), length=False)
    if kind == "until-close":
        return response(200, body, length=False, headers=(("Connection", "close"),))
    # A gzip bomb: a small body on the wire that inflates past the limit.
    return response(200, gzip.compress(body), headers=(("Content-Encoding", "gzip"),))


@pytest.mark.parametrize("kind", ["content-length", "chunked", "until-close", "gzip"])
@pytest.mark.parametrize("size, refused", [(LIMIT, False), (LIMIT + 1, True)])
async def test_answer_size_limit(monkeypatch, kind, size, refused):
    # _Connection takes http.MAX_RESPONSE_BYTES when a connection is made and
    # _decoded reads it per answer: patching the module covers both.
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", LIMIT)

    async def sized(conn: ServerConnection) -> None:
        await conn.next_request()
        await conn.send(_sized(kind, size), pieces=3)

    async with RawServer(sized) as server, HttpClient(timeout=5) as client:
        if refused:
            with pytest.raises(ReadError, match=f"larger than {LIMIT} bytes"):
                await client.request("GET", server.url())
        else:
            got = await client.request("GET", server.url())
            assert got.content == b"x" * size


async def test_gzip_bomb_is_small_on_the_wire(monkeypatch):
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 100_000)
    bomb = gzip.compress(b"\0" * 10_000_000)
    assert len(bomb) < 100_000  # only decompression can find it too large

    async def bombing(conn: ServerConnection) -> None:
        await conn.next_request()
        await conn.send(response(200, bomb, headers=(("Content-Encoding", "gzip"),)))

    async with RawServer(bombing) as server, HttpClient(timeout=5) as client:
        with pytest.raises(ReadError, match="once decompressed"):
            await client.request("GET", server.url())


async def test_http10_answer_delimited_by_close_is_read_whole():
    async def old_server(conn: ServerConnection) -> None:
        await conn.next_request()
        await conn.send(response(200, b"part one, part two, part three", length=False,
                                 version="HTTP/1.0"), pieces=3, pause_s=0.02)

    async with RawServer(old_server) as server, HttpClient(timeout=5) as client:
        first = await client.request("GET", server.url("/1"))
        second = await client.request("GET", server.url("/2"))
    assert first.content == second.content == b"part one, part two, part three"
    assert len(server.connections) == 2


@pytest.mark.parametrize("together", [True, False], ids=["one-write", "two-writes"])
async def test_interim_answers_are_skipped(together):
    interim = (b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
    final = response(200, b"final", headers=(("X-Final", "yes"),))

    async def continuing(conn: ServerConnection) -> None:
        while await conn.next_request() is not None:
            if together:
                await conn.send(interim + final)
            else:
                await conn.send(interim)
                await asyncio.sleep(0.02)
                await conn.send(final)

    async with RawServer(continuing) as server, HttpClient(timeout=5) as client:
        got = await client.request("POST", server.url(), json={"q": 1})
        again = await client.request("GET", server.url())
    assert (got.status_code, got.content) == (200, b"final")
    assert got.headers == {"x-final": "yes", "content-length": "5"}  # no Link from the 103
    assert again.content == b"final"
    assert len(server.connections) == 1


# -- closed connections and garbage -----------------------------------------------------

async def test_idle_connection_closed_by_server_then_new_connection():
    async def one_per_connection(conn: ServerConnection) -> None:
        await conn.next_request()
        await conn.send(response(200, b"ok"))  # keep-alive promised, then closed

    async with RawServer(one_per_connection) as server, HttpClient(timeout=5) as client:
        await client.request("GET", server.url("/1"))
        await within(server.connections[0].closed.wait())
        await asyncio.sleep(0.05)  # the client sees the FIN while idle
        got = await client.request("GET", server.url("/2"))
    assert got.content == b"ok"
    assert [[r.target for r in c.requests] for c in server.connections] == [["/1"], ["/2"]]


async def test_reused_connection_closed_before_answering_is_retried_once():
    async def close_on_second(conn: ServerConnection) -> None:
        if conn.index == 0:
            await conn.next_request()
            await conn.send(KEPT)
            await conn.next_request()  # read it, answer nothing, close
            return
        await answer_each(conn, b"retried")

    async with RawServer(close_on_second) as server, HttpClient(timeout=5) as client:
        assert (await client.request("GET", server.url("/1"))).content == b"kept"
        got = await client.request("POST", server.url("/2"), json={"n": 2})
    assert got.content == b"retried"
    # The request went twice: once on the connection the server closed, once on a new one.
    assert [(r.connection, r.target, r.body) for r in server.requests] == [
        (0, "/1", b""), (0, "/2", b'{"n":2}'), (1, "/2", b'{"n":2}')]


async def test_reused_connection_closed_after_an_interim_answer_is_not_retried():
    async def close_after_continue(conn: ServerConnection) -> None:
        if conn.index == 0:
            await conn.next_request()
            await conn.send(KEPT)
            await conn.next_request()
            await conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        await answer_each(conn, b"again")

    async with RawServer(close_after_continue) as server, HttpClient(timeout=5) as client:
        await client.request("GET", server.url("/1"))
        with pytest.raises(RemoteProtocolError):
            await client.request("POST", server.url("/2"), json={"n": 2})
    assert [r.target for r in server.requests] == ["/1", "/2"]


async def test_new_connection_closed_before_answering_is_not_retried():
    async def silent_close(conn: ServerConnection) -> None:
        await conn.next_request()

    async with RawServer(silent_close) as server, HttpClient(timeout=5) as client:
        with pytest.raises(RemoteProtocolError, match="without a complete answer"):
            await client.request("POST", server.url(), json={"n": 1})
    assert len(server.requests) == 1


@pytest.mark.parametrize("reused", [False, True], ids=["new-connection", "reused-connection"])
async def test_answer_cut_short_is_a_protocol_error_and_client_recovers(reused):
    async def cut(conn: ServerConnection) -> None:
        if conn.index == 0:
            if reused:
                await conn.next_request()
                await conn.send(response(200, b"whole"))
            await conn.next_request()
            await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            return
        await answer_each(conn, b"whole")

    async with RawServer(cut) as server, HttpClient(timeout=5) as client:
        if reused:
            assert (await client.request("GET", server.url("/0"))).content == b"whole"
        with pytest.raises(RemoteProtocolError, match="without a complete answer"):
            await client.request("GET", server.url("/cut"))
        got = await client.request("GET", server.url("/after"))
    assert got.content == b"whole"
    # Part of an answer had arrived: the request was not sent again.
    assert [r.target for r in server.requests].count("/cut") == 1
    assert [r.connection for r in server.requests if r.target == "/after"] == [1]


@pytest.mark.parametrize("garbage, message", [
    (b"SSH-2.0-OpenSSH_9.6\r\n", "invalid HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "invalid HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "invalid HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid HTTP answer"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
     "switched protocols"),
], ids=["not-http", "bad-length", "two-lengths", "bad-chunk", "upgrade"])
async def test_garbage_instead_of_http_is_a_protocol_error(garbage, message):
    async def not_http(conn: ServerConnection) -> None:
        if conn.index == 0:
            await conn.next_request()
            await conn.send(garbage)
            await conn.wait_eof()
            return
        await answer_each(conn)

    async with RawServer(not_http) as server, HttpClient(timeout=5) as client:
        with pytest.raises(RemoteProtocolError, match=message):
            await client.request("GET", server.url())
        await within(server.connections[0].eof.wait())  # the client dropped it
        assert (await client.request("GET", server.url())).content == b"ok"


async def test_unrequested_bytes_on_an_idle_connection_retire_it():
    async def chatty(conn: ServerConnection) -> None:
        if conn.index == 0:
            await conn.next_request()
            await conn.send(KEPT)
            await asyncio.sleep(0.02)
            await conn.send(response(200, b"never asked"))
            await conn.wait_eof()
            return
        await answer_each(conn, b"fresh")

    async with RawServer(chatty) as server, HttpClient(timeout=5) as client:
        assert (await client.request("GET", server.url())).content == b"kept"
        await within(server.connections[0].eof.wait())
        assert (await client.request("GET", server.url())).content == b"fresh"
    assert len(server.connections) == 2


async def test_bytes_after_the_answer_do_not_leak_into_the_next_answer():
    async def overlong(conn: ServerConnection) -> None:
        if conn.index == 0:
            await conn.next_request()
            # One write: the answer, then the start of an answer nobody asked for.
            await conn.send(KEPT + b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsta")
        await answer_each(conn, b"second")

    async with RawServer(overlong) as server, HttpClient(timeout=5) as client:
        assert (await client.request("GET", server.url())).content == b"kept"
        try:
            got = await client.request("GET", server.url())
        except HttpError:
            got = None  # refusing the polluted connection is acceptable too
    assert got is None or got.content == b"second"


# -- timeouts ---------------------------------------------------------------------------

async def test_read_timeout_then_the_connection_is_not_reused():
    async def silent_second(conn: ServerConnection) -> None:
        if conn.index == 0:
            await conn.next_request()
            await conn.send(KEPT)
            await conn.next_request()
            await conn.wait_eof()  # never answers
            return
        await answer_each(conn)

    async with RawServer(silent_second) as server, HttpClient(timeout=0.3) as client:
        await client.request("GET", server.url("/warm"))
        start = time.monotonic()
        with pytest.raises(HttpTimeout, match=r"no answer within 0.3 s \(read timeout\)") as raised:
            await client.request("GET", server.url("/slow"))
        elapsed = time.monotonic() - start
        assert raised.value.stage == "read"
        assert 0.3 <= elapsed < 0.3 + 1.0
        await within(server.connections[0].eof.wait())  # closed by the client
        got = await client.request("GET", server.url("/next"))
    assert got.content == b"ok"
    assert [(r.connection, r.target) for r in server.requests] == [
        (0, "/warm"), (0, "/slow"), (1, "/next")]


async def test_pool_timeout_when_every_connection_is_busy():
    release = asyncio.Event()

    async def holding(conn: ServerConnection) -> None:
        while await conn.next_request() is not None:
            await release.wait()
            await conn.send(response(200, b"held"))

    async with RawServer(holding) as server, HttpClient(timeout=5, max_connections=1) as client:
        busy = asyncio.create_task(client.request("GET", server.url("/busy")))
        await within(_until(lambda: len(server.requests) == 1))
        # The deadline is taken when a request starts: /busy keeps its 5 s.
        client.timeout = 0.2
        start = time.monotonic()
        with pytest.raises(HttpTimeout, match=r"\(pool timeout\)") as raised:
            await client.request("GET", server.url("/waiting"))
        elapsed = time.monotonic() - start
        assert raised.value.stage == "pool"
        assert 0.2 <= elapsed < 0.2 + 1.0
        release.set()
        assert (await within(busy)).content == b"held"
        # The slot came back: the pool works on after a pool timeout.
        client.timeout = 5
        assert (await client.request("GET", server.url("/after"))).content == b"held"
    assert [r.target for r in server.requests] == ["/busy", "/after"]  # /waiting never sent
    assert len(server.connections) == 1


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs "
                    "to a listener whose accept queue is full")
async def test_connect_timeout_when_the_server_never_accepts():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepted: the queue fills and later SYNs are dropped
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            await asyncio.sleep(0.05)
            async with HttpClient(timeout=0.3) as client:
                start = time.monotonic()
                with pytest.raises(HttpTimeout, match=r"\(connect timeout\)") as raised:
                    await client.request("GET", f"http://127.0.0.1:{port}/")
                elapsed = time.monotonic() - start
        finally:
            for filler in fillers:
                filler.close()
    assert raised.value.stage == "connect"
    assert 0.3 <= elapsed < 0.3 + 1.0


async def _until(condition, step_s: float = 0.005) -> None:
    while not condition():
        await asyncio.sleep(step_s)


# -- connection errors and refused URLs -------------------------------------------------

async def test_refused_port_is_a_connect_error():
    port = free_port()
    async with HttpClient(timeout=5) as client:
        with pytest.raises(ConnectError, match="ConnectionRefusedError"):
            await client.request("GET", f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize("path, message", [
    ("ftp", "unsupported URL scheme 'ftp'"),
    ("/a b", "spaces or control characters"),
    ("/a\x00b", "spaces or control characters"),
    ("/a\x7fb", "spaces or control characters"),
    ("/q?x=1\r\nX-Injected: 1", "contains a tab or a line break"),
])
async def test_unusable_urls_are_connect_errors_and_send_nothing(path, message):
    async with RawServer() as server, HttpClient(timeout=5) as client:
        url = server.url("/x", scheme="ftp") if path == "ftp" else server.url(path)
        with pytest.raises(ConnectError, match=message):
            await client.request("GET", url)
        await asyncio.sleep(0.05)
    assert server.connections == []


async def test_line_breaks_in_a_url_cannot_add_headers():
    # urlsplit would drop tabs and line breaks and send another URL than the one
    # given: such a URL is refused before anything is sent.
    async with RawServer() as server, HttpClient(timeout=5) as client:
        with pytest.raises(ConnectError, match="tab or a line break"):
            await client.request("GET", server.url("/q?x=1\r\nX-Injected:1\t"))
        with pytest.raises(ConnectError, match="tab or a line break"):
            await client.request("GET", server.url("/a\tb"))
    assert server.connections == [] and server.requests == []


async def test_non_ascii_url_path_is_sent_percent_encoded_as_utf8():
    async with RawServer() as server, HttpClient(timeout=5) as client:
        await client.request("GET", server.url("/검색/検索?q=é&r=%26"))
    # 검 = EA B2 80, 색 = EC 83 89, 検 = E6 A4 9C, 索 = E7 B4 A2, é = C3 A9 in UTF-8;
    # what was already percent-encoded stays as it was.
    assert [r.target for r in server.requests] == [
        "/%EA%B2%80%EC%83%89/%E6%A4%9C%E7%B4%A2?q=%C3%A9&r=%26"]


# -- https ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return issue_certificates(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_https_with_a_trusted_ca(monkeypatch, certificates, host):
    # The client builds its context on its first https request: the variable is read then.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    async with RawServer(ssl_context=certificates.server_context()) as server, \
            HttpClient(timeout=5) as client:
        first = await client.request("GET", server.url("/secure", host=host))
        second = await client.request("GET", server.url("/secure", host=host))
    assert first.content == second.content == b"ok"
    assert server.requests[0].header("host") == f"{host}:{server.port}"
    assert len(server.connections) == 1  # one TLS handshake for both


async def test_https_with_an_untrusted_certificate_is_refused(monkeypatch, certificates):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    async with RawServer(ssl_context=certificates.server_context(self_signed=True)) as server, \
            HttpClient(timeout=5) as client:
        with pytest.raises(ConnectError, match="certificate verify failed"):
            await client.request("GET", server.url())
    assert server.requests == []


# -- closing ----------------------------------------------------------------------------

async def test_aclose_closes_idle_connections_and_refuses_requests():
    async with RawServer() as server:
        client = HttpClient(timeout=5)
        await client.request("GET", server.url())
        await asyncio.sleep(0.05)
        assert not server.connections[0].eof.is_set()  # kept open while idle
        await client.aclose()
        await within(server.connections[0].eof.wait())
        with pytest.raises(RuntimeError, match="closed"):
            await client.request("GET", server.url())
    assert len(server.requests) == 1


# -- IPv6 -------------------------------------------------------------------------------

async def test_ipv6_loopback():
    server = RawServer(host="::1")
    try:
        await server.__aenter__()
    except OSError as exc:
        pytest.skip(f"cannot listen on ::1 here: {exc}")
    try:
        async with HttpClient(timeout=5) as client:
            got = await client.request("GET", server.url("/six"))
    finally:
        await server.__aexit__(None, None, None)
    assert got.content == b"ok"
    assert server.url("/six") == f"http://[::1]:{server.port}/six"
    assert server.requests[0].header("host") == f"[::1]:{server.port}"


async def test_a_given_header_replaces_the_default_of_the_same_name_whatever_its_case():
    async with RawServer() as server, HttpClient(timeout=5, headers={"user-agent": "probe/2"}) as client:
        await client.request("GET", server.url("/"))
    (sent,) = server.requests
    assert [v for k, v in sent.headers if k.lower() == "user-agent"] == ["probe/2"]


async def test_only_get_and_post_are_sent():
    async with RawServer() as server, HttpClient(timeout=5) as client:
        with pytest.raises(ValueError, match="GET or POST"):
            await client.request("HEAD", server.url("/"))
    assert server.connections == []
