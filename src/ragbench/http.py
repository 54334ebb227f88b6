"""The one place HTTP clients towards systems under test are made.

Redirects are not followed (a redirect could lead past the SSRF guard), the
pool is sized to the concurrency the caller asks for, and no client ever logs
request headers (they may carry a system's API key).

Async clients keep httpx's API (requests, responses, exceptions) but send through
an aiohttp connection pool (:class:`AiohttpTransport`): against a system answering
in a fixed 20 ms at concurrency 32 on 2 cores, httpx's own pool managed about 210
requests/s, aiohttp's about 1,150 (the system allows 1,600) — httpcore walks its
whole pool on every request.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
import yarl

USER_AGENT = "ragbench/0.1"
#: Responses larger than this are refused (a retrieval answer is a few hundred KB).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_DROP_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one ``aiohttp.ClientSession`` (created on first use,
    in the running loop). Bodies are read whole; aiohttp's errors become httpx's:
    connect timeout -> ``ConnectTimeout``, read timeout -> ``ReadTimeout``,
    refused / unresolvable -> ``ConnectError``, dropped connection ->
    ``RemoteProtocolError``, anything else on the wire -> ``ReadError``."""

    def __init__(self, *, max_connections: int) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections,
                                             keepalive_timeout=30.0)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  auto_decompress=True,
                                                  skip_auto_headers=("User-Agent",))
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        t = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(total=None, connect=t.get("pool"),
                                        sock_connect=t.get("connect"),
                                        sock_read=t.get("read"))
        body = await request.aread()
        try:
            async with self._client().request(
                    request.method, yarl.URL(str(request.url), encoded=True),
                    headers=request.headers.multi_items(), data=body or None,
                    allow_redirects=False, timeout=timeout) as resp:
                if (resp.content_length or 0) > MAX_RESPONSE_BYTES:
                    raise httpx.ReadError(f"response larger than {MAX_RESPONSE_BYTES} bytes",
                                          request=request)
                content = await resp.content.read(MAX_RESPONSE_BYTES + 1)
                if len(content) > MAX_RESPONSE_BYTES:
                    raise httpx.ReadError(f"response larger than {MAX_RESPONSE_BYTES} bytes",
                                          request=request)
                headers = [(k, v) for k, v in resp.headers.items()
                           if k.lower() not in _DROP_HEADERS]
                return httpx.Response(resp.status, headers=headers, content=content,
                                      request=request)
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timeout", request=request) from exc
        except (aiohttp.SocketTimeoutError, asyncio.TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timeout", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(str(exc) or "server disconnected",
                                            request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def async_client(*, timeout: float, max_connections: int = 16,
                 headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with ``timeout`` seconds per request (connect, read,
    write and pool each) and at most ``max_connections`` connections."""
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout),
                             transport=AiohttpTransport(max_connections=max_connections),
                             follow_redirects=False, trust_env=False,
                             headers={"User-Agent": USER_AGENT, **(headers or {})})


def sync_client(*, timeout: float, headers: dict[str, str] | None = None) -> httpx.Client:
    """The blocking twin of :func:`async_client` (CLI and scripts)."""
    return httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False,
                        trust_env=False, headers={"User-Agent": USER_AGENT, **(headers or {})})
