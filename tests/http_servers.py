"""Raw HTTP/1.x servers on loopback for the client tests.

:class:`RawServer` is an ``asyncio.start_server`` server in the test's own event
loop: it hands every accepted connection to a handler coroutine that reads the
requests as sent and writes exactly the bytes the test chooses, and it counts
connections and keeps every request it read, so a test can check what went over
the wire. :func:`issue_certificates` makes a throwaway CA and certificates for
the https tests.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

#: Seconds a server-side wait may take before the test fails instead of hanging.
WAIT_S = 5.0


@dataclass
class Request:
    """One request as the server read it: ``target`` is the request line's
    target byte for byte; ``headers`` in the order sent, names as sent."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    head: bytes  # the raw request line and headers, up to and including the blank line
    connection: int  # index of the connection it came on (0 = first accepted)

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None


def response(status: int = 200, body: bytes = b"", *, reason: str = "OK",
             headers: tuple[tuple[str, str], ...] = (), version: str = "HTTP/1.1",
             length: bool = True) -> bytes:
    """The bytes of an answer; ``Content-Length`` added unless ``length`` is false."""
    lines = [f"{version} {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*pieces: bytes) -> bytes:
    """``pieces`` in chunked transfer coding, with the final zero-size chunk."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n\r\n"


class ServerConnection:
    """The server's end of one accepted connection."""

    def __init__(self, server: RawServer, index: int, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.index = index
        self.reader = reader
        self.writer = writer
        self.requests: list[Request] = []
        self.eof = asyncio.Event()  # the client closed its end
        self.closed = asyncio.Event()  # the server closed its end

    async def next_request(self) -> Request | None:
        """The next request, or None when the client closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            self.eof.set()
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1))
                   for line in lines[1:] if line]
        request = Request(method, target, version, headers, b"", head, self.index)
        length = int(request.header("content-length") or 0)
        if length:
            request.body = await self.reader.readexactly(length)
        self.requests.append(request)
        self.server.requests.append(request)
        return request

    async def wait_eof(self) -> None:
        """Until the client closes its end (reading and dropping anything sent)."""
        while not self.eof.is_set():
            try:
                data = await self.reader.read(65536)
            except ConnectionError:
                data = b""
            if not data:
                self.eof.set()

    async def send(self, data: bytes, *, pieces: int = 1, pause_s: float = 0.0) -> None:
        """Write ``data``, cut into ``pieces`` writes ``pause_s`` seconds apart."""
        step = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), step):
            if start and pause_s:
                await asyncio.sleep(pause_s)
            self.writer.write(data[start:start + step])
            await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
        self.closed.set()


Handler = Callable[[ServerConnection], Awaitable[None]]


async def answer_each(conn: ServerConnection, body: bytes = b"ok") -> None:
    """A keep-alive server: every request answered 200 with ``body``."""
    while (await conn.next_request()) is not None:
        await conn.send(response(200, body))


class RawServer:
    """``async with RawServer(handler) as server``: ``handler(conn)`` runs for each
    accepted connection, which is closed when it returns."""

    def __init__(self, handler: Handler = answer_each, *, host: str = "127.0.0.1",
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.host = host
        self.ssl_context = ssl_context
        self.connections: list[ServerConnection] = []
        self.requests: list[Request] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    def url(self, path: str = "/", *, scheme: str | None = None, host: str | None = None) -> str:
        scheme = scheme or ("https" if self.ssl_context else "http")
        host = host or self.host
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ServerConnection(self, len(self.connections), reader, writer)
        self.connections.append(conn)
        self._tasks.add(asyncio.current_task())
        try:
            await self.handler(conn)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away mid-answer: what some tests are about
        except asyncio.CancelledError:
            pass  # the server is stopping under a handler that waits for ever
        finally:
            await conn.close()
            self._tasks.discard(asyncio.current_task())

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0,
                                                  ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=WAIT_S)
        await self._server.wait_closed()


async def within(awaitable: Awaitable, seconds: float = WAIT_S):
    """``awaitable``'s result, or TimeoutError after ``seconds`` (never a hung test)."""
    async with asyncio.timeout(seconds):
        return await awaitable


@dataclass
class Certificates:
    """PEM files of a throwaway CA, a server certificate it issued for
    ``localhost`` / ``127.0.0.1``, and a self-signed one for the same names."""

    ca: Path
    server_cert: Path
    server_key: Path
    self_signed_cert: Path
    self_signed_key: Path

    def server_context(self, *, self_signed: bool = False) -> ssl.SSLContext:
        cert, key = ((self.self_signed_cert, self.self_signed_key) if self_signed
                     else (self.server_cert, self.server_key))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context


def issue_certificates(directory: Path) -> Certificates:
    """Write a CA, a certificate it signs and a self-signed one under ``directory``
    (EC P-256 keys, valid from a day ago for two days)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write_key(key, path: Path) -> Path:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return path

    def write_cert(cert, path: Path) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    def builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                               critical=False))

    def leaf(builder_: x509.CertificateBuilder) -> x509.CertificateBuilder:
        return (builder_
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("ragbench test CA")
    ca_cert = (builder(ca_name, ca_name, ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=False, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=True,
                   crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (leaf(builder(name("localhost"), ca_name, server_key.public_key()))
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       ca_key.public_key()), critical=False)
                   .sign(ca_key, hashes.SHA256()))

    lone_key = ec.generate_private_key(ec.SECP256R1())
    lone_cert = (leaf(builder(name("localhost"), name("localhost"), lone_key.public_key()))
                 .sign(lone_key, hashes.SHA256()))

    return Certificates(
        ca=write_cert(ca_cert, directory / "ca.pem"),
        server_cert=write_cert(server_cert, directory / "server.pem"),
        server_key=write_key(server_key, directory / "server.key"),
        self_signed_cert=write_cert(lone_cert, directory / "self-signed.pem"),
        self_signed_key=write_key(lone_key, directory / "self-signed.key"))
