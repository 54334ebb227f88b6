"""Calling a system under test: what evaluations and health checks code against.

::

    async with connect(system, settings=settings, max_connections=8) as client:
        hits = await client.retrieve("what is bm25", top_k=100)   # list[Hit], best first
        vector = await client.embed("what is bm25")               # list[float]
        status = await client.health()                            # HealthResult

Every failure of the system is a :class:`SystemCallError` (``.message``,
``.retryable``, ``.status_code``); ``health()`` reports failures instead of raising.
:func:`connect_spec` does the same for a system that is not saved yet (validation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ragbench.http import async_client
from ragbench.systems import secrets
from ragbench.systems.adapters import (ADAPTER_NAMES, GenericJsonClient, GenericJsonConfig,
                                       RagbenchClient)
from ragbench.systems.ssrf import UrlPolicy
from ragbench.systems.transport import HealthResult, Hit, SystemCallError, SystemClient

__all__ = ["Hit", "HealthResult", "SystemCallError", "SystemClient", "SystemSpec",
           "connect", "connect_spec", "spec_of"]


@dataclass(frozen=True)
class SystemSpec:
    """What is needed to call a system, saved or not (the API key in plaintext)."""

    base_url: str
    adapter: str
    adapter_config: dict[str, Any] = field(default_factory=dict)
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    max_concurrency: int = 8


def spec_of(system, *, settings) -> SystemSpec:
    """The :class:`SystemSpec` of a saved ``System`` row (its API key decrypted)."""
    api_key = (secrets.decrypt(system.api_key_encrypted, settings=settings)
               if system.api_key_encrypted else None)
    return SystemSpec(base_url=system.base_url, adapter=system.adapter,
                      adapter_config=dict(system.adapter_config or {}), api_key=api_key,
                      timeout_s=system.timeout_s, max_concurrency=system.max_concurrency)


def connect(system, *, settings, max_connections: int | None = None,
            timeout_s: float | None = None) -> SystemClient:
    """A client for a saved ``System``: its adapter, its API key, at most
    ``max_connections`` connections (default: the system's ``max_concurrency``) and
    ``timeout_s`` seconds per request (default: the system's ``timeout_s``)."""
    return connect_spec(spec_of(system, settings=settings), settings=settings,
                        max_connections=max_connections, timeout_s=timeout_s)


def connect_spec(spec: SystemSpec, *, settings, max_connections: int | None = None,
                 timeout_s: float | None = None) -> SystemClient:
    """A client for ``spec``; the SSRF guard of ``settings`` runs before its first request.

    Raises ``ValueError`` for an unknown adapter and pydantic's ``ValidationError`` for
    a generic-json config that does not validate (the service checks both first).
    """
    if spec.adapter not in ADAPTER_NAMES:
        raise ValueError(f"adapter must be one of {', '.join(ADAPTER_NAMES)}, "
                         f"got {spec.adapter!r}")
    config = (GenericJsonConfig.model_validate(spec.adapter_config)
              if spec.adapter == "generic-json" else None)
    headers = dict(config.headers) if config else {}
    if spec.api_key:
        header = config.auth_header if config else "Authorization"
        scheme = config.auth_scheme if config else "Bearer"
        # The key wins over a configured header of the same name, whatever its case.
        headers = {k: v for k, v in headers.items() if k.lower() != header.lower()}
        headers[header] = f"{scheme} {spec.api_key}" if scheme else spec.api_key
    http = async_client(timeout=timeout_s or spec.timeout_s,
                        max_connections=max_connections or spec.max_concurrency,
                        headers=headers)
    common = dict(base_url=spec.base_url, http=http, policy=UrlPolicy.from_settings(settings))
    if config is not None:
        return GenericJsonClient(config=config, **common)
    return RagbenchClient(**common)
