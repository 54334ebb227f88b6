"""The one place HTTP clients towards systems under test are made.

Redirects are not followed (a redirect could lead past the SSRF guard), the
pool is sized to the concurrency the caller asks for, proxies from the
environment are ignored and no client ever logs request headers (they may carry
a system's API key).

Async calls to systems go through :class:`HttpClient`, an HTTP/1.1 keep-alive
client of our own on asyncio protocols with the ``httptools`` (llhttp) parser.
The evaluation runner spends most of its CPU here, and that CPU decides how close
it gets to what a system allows: against a system answering in a fixed 20 ms at
concurrency 32 on 2 cores (ceiling 1,600 requests/s), with the JSON decoding and
hit checks of a retrieval included, httpx's own pool managed about 200
requests/s, aiohttp 1,464 at 0.25 ms of CPU per request, this client 1,546 at
0.105 ms (``bench/bench_runner.py``, ``bench/RESULTS.md``). It does what a call
to a system needs and no more: GET and POST with a body read whole, ``http`` and
``https`` (certificates verified), chunked and gzip/deflate answers, keep-alive
with one retry on a new connection when a reused one turns out closed before
answering, one deadline per request.

The blocking :func:`sync_client` (the CLI towards a ragbench service) stays httpx.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httptools
import httpx

from ragbench.json_codec import dumpb as encode_json

USER_AGENT = "ragbench/0.1"
#: Responses larger than this are refused (a retrieval answer is a few hundred KB).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Seconds an idle keep-alive connection is kept for reuse.
KEEPALIVE_S = 30.0


class HttpError(Exception):
    """A request got no usable answer. Subclasses say why."""


class HttpTimeout(HttpError):
    """The request's deadline passed (``stage``: ``pool``, ``connect`` or ``read``)."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


class ConnectError(HttpError):
    """No connection: refused, unreachable, unresolvable, TLS handshake failed."""


class RemoteProtocolError(HttpError):
    """The server closed the connection or answered something that is not HTTP/1.x."""


class ReadError(HttpError):
    """The answer could not be read whole (too large, undecodable compression)."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A whole answer. ``headers``: lower-case names; a repeated header's values
    joined with ``", "``. ``content``: the body, decompressed."""

    status_code: int
    headers: dict[str, str]
    content: bytes


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL means to the pool: where to connect and what to send."""

    key: tuple[str, str, int]  # scheme, host, port
    host_header: str
    path: str  # as given (already percent-encoded), never re-quoted


def _target(url: str) -> _Target:
    if any(c in url for c in "\t\r\n"):  # urlsplit would drop them silently
        raise ConnectError(f"the URL {url!r} contains a tab or a line break")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConnectError(f"unsupported URL scheme {parts.scheme!r} in {url}")
    host = parts.hostname
    if not host:
        raise ConnectError(f"no host in {url}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise ConnectError(f"bad port in {url}: {exc}") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if any(c <= " " or c == "\x7f" for c in path):
        raise ConnectError(f"the path of {url} contains spaces or control characters")
    if not path.isascii():  # what browsers send: the UTF-8 bytes, percent-encoded
        path = "".join(c if c.isascii() else quote(c, safe="") for c in path)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ConnectError(f"bad host name in {url}: {exc}") from None
    shown = f"[{host}]" if ":" in host else host
    default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    return _Target((scheme, host, port), shown if default else f"{shown}:{port}", path)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, its answer
    parsed by llhttp as bytes arrive and handed to ``waiter`` when complete."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self.waiter: asyncio.Future | None = None
        self.keep_alive = False  # what the last complete answer said
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.received = False  # any byte of the current answer
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._headers_done = False

    # -- asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(RemoteProtocolError(f"invalid HTTP answer: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and self._until_close():
            self.on_message_complete()  # an answer delimited by closing the connection
        else:
            self._fail(RemoteProtocolError("server disconnected without a complete answer"))

    # -- llhttp callbacks
    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():
            # An answer nobody asked for, right behind the one that was: the
            # connection is out of step, never reuse it.
            self.keep_alive = False
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self._headers.get(key)
        self._headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        self._headers_done = True
        length = self._headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            self._fail(ReadError(f"response larger than {self.max_bytes} bytes"))

    def on_body(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.max_bytes:
            self._fail(ReadError(f"response larger than {self.max_bytes} bytes"))
            return
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self._reset()
            self.received = True
            return
        # Asked here: once the callback returns, llhttp resets for the next message.
        self.keep_alive = self._parser.should_keep_alive()
        body = b"".join(self._body)
        headers = self._headers
        self._reset()
        waiter.set_result((status, headers, body))

    # --
    def _until_close(self) -> bool:
        return ("content-length" not in self._headers
                and "chunked" not in self._headers.get("transfer-encoding", "").lower())

    def _fail(self, exc: HttpError) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def reusable(self) -> bool:
        return (not self.closed and self.keep_alive
                and time.monotonic() - self.idle_since < KEEPALIVE_S)

    async def exchange(self, request: bytes):
        """Send ``request``; ``(status, headers, body)`` of the answer."""
        self.waiter = asyncio.get_running_loop().create_future()
        self.keep_alive = False
        self._reset()
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None


def _decoded(headers: dict[str, str], body: bytes) -> bytes:
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity") or not body:
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ReadError(f"unsupported content-encoding {encoding!r}")
    # gzip or zlib framing (wbits 47 detects which); a raw deflate stream as a fallback.
    # A gzip body may hold several members, each decoded in turn.
    for wbits in (47, -15):
        out: list[bytes] = []
        size, rest = 0, body
        try:
            while rest:
                inflater = zlib.decompressobj(wbits)
                part = inflater.decompress(rest, MAX_RESPONSE_BYTES + 1 - size)
                size += len(part)
                if size > MAX_RESPONSE_BYTES or inflater.unconsumed_tail:
                    raise ReadError(f"response larger than {MAX_RESPONSE_BYTES} bytes once "
                                    "decompressed")
                if not inflater.eof:
                    raise zlib.error("the compressed body is cut short")
                out.append(part)
                rest = inflater.unused_data if wbits == 47 else b""
        except zlib.error:
            continue
        return b"".join(out)
    raise ReadError(f"the {encoding} body of the answer could not be decompressed "
                    "(damaged or cut short)")


class HttpClient:
    """Keep-alive HTTP/1.1 to systems under test (see the module doc).

    At most ``max_connections`` requests are in flight (a request waits for a
    free connection inside its deadline); each request must be answered within
    ``timeout`` seconds, from asking for a connection to the last byte. Use in
    one event loop, and close with :meth:`aclose`."""

    def __init__(self, *, timeout: float, max_connections: int = 16,
                 headers: dict[str, str] | None = None) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.timeout = float(timeout)
        self.max_connections = max_connections
        fixed = {"user-agent": ("User-Agent", USER_AGENT), "accept": ("Accept", "*/*"),
                 "accept-encoding": ("Accept-Encoding", "gzip, deflate")}
        for name, value in (headers or {}).items():  # a given header replaces a default
            fixed[name.lower()] = (name, value)
        lines = []
        for name, value in fixed.values():
            if any(c in f"{name}{value}" for c in "\r\n\0"):
                raise ValueError(f"header {name!r} contains a line break")
            line = f"{name}: {value}\r\n"
            try:
                line.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"header {name!r} has characters outside latin-1") from None
            lines.append(line)
        self._fixed_headers = "".join(lines)
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._all: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    async def request(self, method: str, url: str, *, json: Any = None,
                      content: bytes | None = None) -> HttpResponse:
        """Send ``method url`` (GET or POST; with ``json`` encoded, or ``content`` as is) and
        return the whole answer, whatever its status. Raises :class:`HttpTimeout`,
        :class:`ConnectError`, :class:`RemoteProtocolError` or :class:`ReadError`."""
        if self._closed:
            raise RuntimeError("the HTTP client is closed")
        if method not in ("GET", "POST"):
            # A HEAD answer has no body, which this client would wait for.
            raise ValueError(f"method must be GET or POST, got {method!r}")
        target = self._targets.get(url)
        if target is None:
            target = _target(url)
            if len(self._targets) < 1024:  # a system is asked at a handful of URLs
                self._targets[url] = target
        body = encode_json(json) if json is not None else content
        head = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n",
                self._fixed_headers]
        if body is not None:
            if json is not None:
                head.append("Content-Type: application/json\r\n")
            head.append(f"Content-Length: {len(body)}\r\n")
        request = "".join(head).encode("latin-1") + b"\r\n" + (body or b"")
        stage = "pool"
        try:
            async with asyncio.timeout(self.timeout):
                async with self._slots:
                    stage = "connect"
                    conn, reused = await self._connection(target)
                    stage = "read"
                    status, headers, raw = await self._exchange(conn, reused, target, request)
        except TimeoutError:
            raise HttpTimeout(f"no answer within {self.timeout:g} s ({stage} timeout)",
                              stage) from None
        return HttpResponse(status, headers, _decoded(headers, raw))

    async def _exchange(self, conn: _Connection, reused: bool, target: _Target,
                        request: bytes):
        try:
            try:
                answer = await conn.exchange(request)
            except RemoteProtocolError:
                # A reused connection the server closed while it sat idle: one more
                # try on a new connection, as long as nothing of an answer arrived.
                if not reused or conn.received:
                    raise
                self._discard(conn)
                conn, _ = await self._connection(target, fresh=True)
                answer = await conn.exchange(request)
        except BaseException:
            self._discard(conn)  # half a conversation: never reuse it
            raise
        if conn.reusable():
            conn.idle_since = time.monotonic()
            self._idle.setdefault(target.key, deque()).append(conn)
        else:
            self._discard(conn)
        return answer

    async def _connection(self, target: _Target, *, fresh: bool = False):
        """``(connection, reused)``: an idle one for ``target`` or a new one."""
        idle = self._idle.get(target.key)
        while idle and not fresh:
            conn = idle.pop()
            if conn.reusable():
                return conn, True
            self._discard(conn)
        scheme, host, port = target.key
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(MAX_RESPONSE_BYTES), host, port,
                ssl=self._ssl_context() if scheme == "https" else None,
                server_hostname=host if scheme == "https" else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"{exc.__class__.__name__}: {exc}") from None
        self._all.add(conn)
        return conn, False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._all.discard(conn)

    async def aclose(self) -> None:
        self._closed = True
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # lets the transports finish closing

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.aclose()


def async_client(*, timeout: float, max_connections: int = 16,
                 headers: dict[str, str] | None = None) -> HttpClient:
    """An :class:`HttpClient`: ``timeout`` seconds per request, at most
    ``max_connections`` connections, ``headers`` on every request."""
    return HttpClient(timeout=timeout, max_connections=max_connections, headers=headers)


def sync_client(*, timeout: float, headers: dict[str, str] | None = None) -> httpx.Client:
    """A blocking httpx client (the CLI towards a ragbench service)."""
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False,
                        trust_env=False, headers={"User-Agent": USER_AGENT, **(headers or {})})
