"""Adapters: how ragbench talks to a system.

``ragbench``
    The contract in the README: ``GET /health``; ``POST /api/v1/retrieve {query,
    top_k}`` → ``{"results": [{doc_id, score, text?}, ...]}``; ``POST /api/v1/embed
    {text}`` → ``{"embedding": [...]}`` (optional).

``generic-json``
    Any JSON search API, mapped by :class:`GenericJsonConfig`: the request (method,
    path, headers, body template with ``{query}``/``{top_k}`` placeholders) and where
    the hits and their fields are in the answer (dotted paths). It has no embed call.
    Integer document ids are accepted and read as text (many engines number documents).
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ragbench.systems.transport import (HealthResult, Hit, SystemCallError, SystemClient,
                                        contract_hits, embedding_from, format_error, hit_from,
                                        json_type)

ADAPTER_NAMES = ("ragbench", "generic-json")

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDERS = ("query", "top_k")
#: The query a generic-json system without a health path is searched for by a health check.
HEALTH_QUERY = "health check"


class RagbenchClient(SystemClient):
    adapter = "ragbench"

    async def retrieve(self, query: str, top_k: int) -> list[Hit]:
        return contract_hits("retrieve", await self._results(query, top_k))

    async def retrieve_pairs(self, query: str, top_k: int) -> list[tuple[str, float]]:
        return contract_hits("retrieve", await self._results(query, top_k), pairs=True)

    async def _results(self, query: str, top_k: int) -> list[Any]:
        """The first ``top_k`` items of the answer's ``results`` list, unchecked."""
        url = self.url("/api/v1/retrieve")
        body = await self._call("retrieve", "POST", url,
                                json_body={"query": query, "top_k": top_k})
        if not isinstance(body, dict) or "results" not in body:
            raise format_error("retrieve", f"the answer from {url} has no 'results' list "
                               f"(it is {json_type(body)})")
        results = body["results"]
        if not isinstance(results, list):
            raise format_error("retrieve", f"results is {json_type(results)}, expected a list")
        return results[:top_k]

    async def embed(self, text: str) -> list[float]:
        url = self.url("/api/v1/embed")
        body = await self._call("embed", "POST", url, json_body={"text": text})
        if not isinstance(body, dict) or "embedding" not in body:
            raise format_error("embed", f"the answer from {url} has no 'embedding' list "
                               f"(it is {json_type(body)})")
        return embedding_from("embed", "embedding", body["embedding"])

    async def health(self) -> HealthResult:
        return await self._timed_health("health", self.url("/health"))


class GenericJsonConfig(BaseModel):
    """How a generic JSON search API is called and read.

    Paths into the answer are dotted (``hits.hits``, ``_source.doc_id``); a numeric
    segment indexes a list (``responses.0.hits`` or ``responses[0].hits``); an empty
    ``results_path`` means the answer itself is the list of hits.
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST"] = "POST"
    #: Appended to base_url; ``{query}`` and ``{top_k}`` are URL-encoded into it.
    path: str = Field(min_length=1, max_length=2000)
    headers: dict[str, str] = {}
    #: JSON body (POST only). A string equal to "{query}" becomes the query, one equal
    #: to "{top_k}" the integer; placeholders inside longer strings are replaced as text.
    body_template: Any = None
    results_path: str = ""
    doc_id_path: str = "id"
    score_path: str = "score"
    text_path: str | None = None
    #: GET here must answer 200; without it a health check is a search.
    health_path: str | None = None
    #: Where the API key goes: ``{auth_header}: {auth_scheme} {key}`` (no scheme: the key).
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path", "health_path")
    @classmethod
    def _relative_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("/") or value.startswith("//"):
            raise ValueError("must start with a single '/' (it is appended to base_url)")
        if "#" in value or "\\" in value or any(ord(c) < 33 for c in value):
            raise ValueError("must not contain '#', '\\', spaces or control characters")
        unknown = [name for name in _PLACEHOLDER.findall(value) if name not in _PLACEHOLDERS]
        if unknown:
            raise ValueError(f"unknown placeholder {{{unknown[0]}}}; "
                             "only {query} and {top_k} are replaced")
        return value

    @field_validator("results_path", "doc_id_path", "score_path", "text_path")
    @classmethod
    def _dotted(cls, value: str | None, info) -> str | None:
        if not value:
            if info.field_name in ("doc_id_path", "score_path"):
                raise ValueError("must name a field of a hit")
            return "" if info.field_name == "results_path" else None
        if any(segment == "" for segment in _segments(value)):
            raise ValueError(f"{value!r} is not a dotted path (empty segment)")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in ("host", "content-length", "transfer-encoding"):
                raise ValueError(f"the {name} header is set by the HTTP client")
            if any(c in header_value for c in "\r\n\0"):
                raise ValueError(f"the value of {name} contains a line break")
        return value

    @model_validator(mode="after")
    def _body(self) -> GenericJsonConfig:
        if self.method == "GET" and self.body_template is not None:
            raise ValueError("body_template needs method POST (a GET request has no body)")
        return self

    def request_body(self, query: str, top_k: int) -> Any:
        template = self.body_template
        if template is None:
            template = {"query": "{query}", "top_k": "{top_k}"}
        return _fill(template, query, top_k)

    def request_path(self, query: str, top_k: int) -> str:
        # The query is percent-encoded before substitution, so it holds no braces and
        # cannot inject a placeholder, a path segment or another host.
        return (self.path.replace("{query}", quote(query, safe=""))
                .replace("{top_k}", str(int(top_k))))


class GenericJsonClient(SystemClient):
    adapter = "generic-json"

    def __init__(self, *, config: GenericJsonConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config

    async def retrieve(self, query: str, top_k: int) -> list[Hit]:
        config, op = self.config, "retrieve"
        url = self.url(config.request_path(query, top_k))
        body = None if config.method == "GET" else config.request_body(query, top_k)
        answer = await self._call(op, config.method, url, json_body=body)
        label = config.results_path or "answer"
        results = _lookup(op, answer, config.results_path, "results_path")
        if not isinstance(results, list):
            raise format_error(op, f"{label} is {json_type(results)}, expected a list of hits "
                               f"(results_path {config.results_path!r})")
        hits = []
        for i, item in enumerate(results[:top_k]):
            where = f"{label}[{i}]"
            doc_id = _lookup(op, item, config.doc_id_path, "doc_id_path", where)
            score = _lookup(op, item, config.score_path, "score_path", where)
            text = (_lookup(op, item, config.text_path, "text_path", where, missing_ok=True)
                    if config.text_path else None)
            hits.append(hit_from(op, where, doc_id, score, text, int_ids=True,
                                 names=(config.doc_id_path, config.score_path,
                                        config.text_path)))
        return hits

    async def embed(self, text: str) -> list[float]:
        raise SystemCallError("embed: the generic-json adapter has no embed call",
                              retryable=False, status_code=None, stage="http")

    async def health(self) -> HealthResult:
        if self.config.health_path:
            return await self._timed_health("health", self.url(self.config.health_path))
        start = time.perf_counter()
        try:
            await self.retrieve(HEALTH_QUERY, 1)
        except SystemCallError as exc:
            return HealthResult(False, exc.status_code, _ms_since(start), exc.message)
        return HealthResult(True, 200, _ms_since(start), None)


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)


def _fill(template: Any, query: str, top_k: int) -> Any:
    if isinstance(template, str):
        if template == "{query}":
            return query
        if template == "{top_k}":
            return int(top_k)
        # One pass, so a query containing "{top_k}" is left as the user typed it.
        return _PLACEHOLDER.sub(
            lambda m: {"query": query, "top_k": str(int(top_k))}.get(m.group(1), m.group(0)),
            template)
    if isinstance(template, list):
        return [_fill(item, query, top_k) for item in template]
    if isinstance(template, dict):
        return {key: _fill(value, query, top_k) for key, value in template.items()}
    return template


def _segments(path: str) -> list[str]:
    # "hits[0].id" reads as "hits.0.id"; "[0]" (a hit that is a list) as "0".
    path = path.replace("[", ".").replace("]", "").removeprefix(".")
    return path.split(".") if path else []


def _lookup(op: str, value: Any, path: str, field: str, where: str = "",
            *, missing_ok: bool = False) -> Any:
    """Follow the dotted ``path`` into ``value``; a format error names how far it got."""
    walked = where
    for segment in _segments(path):
        here = f"{walked}.{segment}" if walked else segment
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        elif missing_ok and isinstance(value, dict):
            return None
        else:
            found = "missing" if isinstance(value, dict) else f"not found in {json_type(value)}"
            raise format_error(op, f"{here} is {found} ({field} {path!r})")
        walked = here
    return value
