"""HTTP calls to a system under test, and the values and errors they produce.

Import these from :mod:`ragbench.systems.client`. :class:`SystemClient` does the
transport (one :class:`ragbench.http.HttpClient`, the SSRF guard before the first request, error
classification, timing); the adapters in :mod:`ragbench.systems.adapters` say which
requests to send and how to read the answers.

Every failure is a :class:`SystemCallError` whose message names the operation, what
went wrong and where (``retrieve: HTTP 500 from http://h/api/v1/retrieve``,
``retrieve: results[0].score is a string, expected a number``) and whose
``retryable`` says whether trying again may help: timeouts, connection errors, 5xx
and 429 may; other 4xx, malformed JSON and wrong types will not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ragbench import json_codec
from ragbench.http import HttpClient, HttpError, HttpResponse, HttpTimeout
from ragbench.systems.ssrf import UnsafeURL, UrlPolicy

#: How much of an error response's body a message quotes.
BODY_EXCERPT = 200


@dataclass(frozen=True)
class Hit:
    """One retrieved document: the system's id for it, its score, maybe its text."""

    doc_id: str
    score: float
    text: str | None = None


@dataclass(frozen=True)
class HealthResult:
    """One health check: ``ok``, the HTTP status (None without an answer), the
    round-trip time in milliseconds and the error message when not ok."""

    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None = None


class SystemCallError(Exception):
    """A call to a system failed.

    ``stage`` says where: ``"guard"`` (the SSRF guard refused the URL), ``"transport"``
    (no answer: timeout, connection error), ``"http"`` (an answer with an error status)
    or ``"format"`` (an answer that is not what the contract says).
    """

    def __init__(self, message: str, retryable: bool, status_code: int | None = None, *,
                 stage: str = "http") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.stage = stage

    def __repr__(self) -> str:
        return (f"SystemCallError({self.message!r}, retryable={self.retryable}, "
                f"status_code={self.status_code})")


class SystemClient:
    """An adapter bound to one :class:`ragbench.http.HttpClient`; use as ``async with``.

    Subclasses implement :meth:`retrieve`, :meth:`embed` and :meth:`health` with
    :meth:`_call`, which sends one request and returns its decoded JSON body.
    """

    adapter = ""

    def __init__(self, *, base_url: str, http: HttpClient,
                 policy: UrlPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self._policy = policy
        self._guarded = policy is None

    async def retrieve(self, query: str, top_k: int) -> list[Hit]:
        """The system's ranking for ``query``: at most ``top_k`` hits, best first."""
        raise NotImplementedError

    async def retrieve_pairs(self, query: str, top_k: int) -> list[tuple[str, float]]:
        """:meth:`retrieve` as ``(doc_id, score)`` pairs, for callers that need no
        :class:`Hit` (the evaluation runner): same checks, same errors."""
        return [(hit.doc_id, hit.score) for hit in await self.retrieve(query, top_k)]

    async def embed(self, text: str) -> list[float]:
        """The system's embedding of ``text`` (a non-empty list of finite floats)."""
        raise NotImplementedError

    async def health(self) -> HealthResult:
        """Check the system now; never raises for the system's own failures."""
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> SystemClient:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.aclose()

    # -- transport --------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base_url + path

    async def _guard(self, op: str) -> None:
        if self._guarded:
            return
        try:
            await self._policy.check_async(self.base_url)
        except UnsafeURL as exc:
            raise SystemCallError(f"{op}: {self.base_url} refused by the SSRF guard: {exc}",
                                  retryable=False, stage="guard") from None
        self._guarded = True

    async def _send(self, op: str, method: str, url: str, *,
                    json_body: Any = None) -> HttpResponse:
        """Send one request; raise :class:`SystemCallError` unless the answer is 2xx."""
        if not self._guarded:
            await self._guard(op)
        try:
            response = await self.http.request(method, url, json=json_body)
        except HttpTimeout:
            raise SystemCallError(f"{op}: no answer from {url} within {self.http.timeout:g} s "
                                  "(timeout)", retryable=True, stage="transport") from None
        except HttpError as exc:
            raise SystemCallError(f"{op}: cannot reach {url}: {type(exc).__name__}: {exc}",
                                  retryable=True, stage="transport") from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        if 300 <= status < 400:
            where = response.headers.get("location", "?")
            raise SystemCallError(f"{op}: HTTP {status} redirect from {url} to {where} "
                                  "(redirects are not followed; register the final URL)",
                                  retryable=False, status_code=status)
        raise SystemCallError(f"{op}: HTTP {status} from {url}{_excerpt(response)}",
                              retryable=status >= 500 or status == 429, status_code=status)

    async def _call(self, op: str, method: str, url: str, *, json_body: Any = None) -> Any:
        """:meth:`_send`, then the decoded JSON body."""
        response = await self._send(op, method, url, json_body=json_body)
        try:
            return json_codec.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SystemCallError(f"{op}: the answer from {url} is not valid JSON ({exc}): "
                                  f"{_excerpt(response, prefix='')}", retryable=False,
                                  status_code=response.status_code, stage="format") from None

    async def _timed_health(self, op: str, url: str) -> HealthResult:
        """GET ``url``; healthy iff it answers 200."""
        start = time.perf_counter()
        try:
            response = await self._send(op, "GET", url)
        except SystemCallError as exc:
            return HealthResult(False, exc.status_code, _ms_since(start), exc.message)
        if response.status_code != 200:
            return HealthResult(False, response.status_code, _ms_since(start),
                                f"{op}: HTTP {response.status_code} from {url}, expected 200")
        return HealthResult(True, 200, _ms_since(start), None)


def format_error(op: str, message: str, status_code: int | None = 200) -> SystemCallError:
    """A wrong-shape answer: never retryable (the same request gets the same answer)."""
    return SystemCallError(f"{op}: {message}", retryable=False, status_code=status_code,
                           stage="format")


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type, with its article (``a string``, ``an object``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def number(op: str, where: str, value: Any) -> float:
    """``value`` as a finite float, or a format error naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise format_error(op, f"{where} is {json_type(value)}, expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise format_error(op, f"{where} is {value}, expected a finite number")
    return value


def hit_from(op: str, where: str, doc_id: Any, score: Any, text: Any, *,
             int_ids: bool = False,
             names: tuple[str, str, str | None] = ("doc_id", "score", "text")) -> Hit:
    """A :class:`Hit` from decoded JSON values. ``int_ids`` accepts integer ids as text;
    ``names`` are the fields' names in messages (``where.name``)."""
    id_name, score_name, text_name = names
    if int_ids and isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str):
        raise format_error(op, f"{where}.{id_name} is {json_type(doc_id)}, expected a string")
    if not doc_id:
        raise format_error(op, f"{where}.{id_name} is empty")
    score = number(op, f"{where}.{score_name}", score)
    if text is not None and not isinstance(text, str):
        raise format_error(op, f"{where}.{text_name} is {json_type(text)}, expected a string")
    return Hit(doc_id, score, text)


def contract_hits(op: str, results: list[Any], *, pairs: bool = False) -> list[Any]:
    """The items of a ``results`` list of the ragbench contract (``{"doc_id": str,
    "score": number, "text": str?}``) as :class:`Hit` objects, or as ``(doc_id,
    score)`` tuples with ``pairs``.

    One pass with exact type tests, which is what JSON decoding produces; an item that
    does not pass them goes through :func:`contract_hit`, which builds the message
    naming it (``results[3].score is a string, expected a number``) or accepts it.
    """
    out: list[Any] = []
    append = out.append
    isfinite = math.isfinite
    for item in results:
        if item.__class__ is dict:
            doc_id = item.get("doc_id")
            score = item.get("score")
            text = item.get("text")
            kind = score.__class__
            if kind is int:
                try:
                    score, kind = float(score), float
                except OverflowError:
                    pass  # contract_hit reports the item's first problem
            if (kind is float and doc_id.__class__ is str and doc_id and isfinite(score)
                    and (text is None or text.__class__ is str)):
                append((doc_id, score) if pairs else Hit(doc_id, score, text))
                continue
        hit = contract_hit(op, len(out), item)
        append((hit.doc_id, hit.score) if pairs else hit)
    return out


def contract_hit(op: str, index: int, item: Any) -> Hit:
    """Item ``index`` of a contract ``results`` list as a :class:`Hit`, or the format
    error that says what is wrong with it."""
    where = f"results[{index}]"
    if not isinstance(item, dict):
        raise format_error(op, f"{where} is {json_type(item)}, expected an "
                           "object with doc_id and score")
    for key in ("doc_id", "score"):
        if key not in item:
            raise format_error(op, f"{where}.{key} is missing")
    return hit_from(op, where, item["doc_id"], item["score"], item.get("text"))


def embedding_from(op: str, where: str, value: Any) -> list[float]:
    """A non-empty list of finite floats, or a format error."""
    if not isinstance(value, list):
        raise format_error(op, f"{where} is {json_type(value)}, expected a list of numbers")
    if not value:
        raise format_error(op, f"{where} is empty, expected at least one number")
    return [number(op, f"{where}[{i}]", x) for i, x in enumerate(value)]


def _excerpt(response: HttpResponse, *, prefix: str = ": ") -> str:
    text = response.content[:BODY_EXCERPT * 4].decode("utf-8", "replace").strip()
    if not text:
        return ""
    if len(text) > BODY_EXCERPT:
        text = text[:BODY_EXCERPT] + "…"
    return prefix + text


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
