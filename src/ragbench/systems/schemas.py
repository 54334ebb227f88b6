"""Request and response bodies of the systems API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ragbench.schemas import UtcDatetime

Adapter = Literal["ragbench", "generic-json"]

class SystemSpecIn(BaseModel):
    """How to reach a system (what validation needs)."""

    base_url: str = Field(min_length=1, max_length=2000,
                          examples=["http://127.0.0.1:9000"])
    adapter: Adapter = "ragbench"
    #: generic-json only: see ``ragbench.systems.adapters.GenericJsonConfig``.
    adapter_config: dict[str, Any] = {}
    #: Sent to the system as ``Authorization: Bearer <api_key>``; stored encrypted.
    api_key: SecretStr | None = None
    #: Seconds per request; default ``settings.system_timeout_s``.
    timeout_s: float | None = Field(None, gt=0, le=600)
    max_concurrency: int = Field(8, ge=1, le=256)


class SystemValidate(SystemSpecIn):
    name: str | None = Field(None, max_length=200)


class SystemCreate(SystemSpecIn):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    tags: list[str] = Field([], max_length=50)


class SystemUpdate(BaseModel):
    """Fields to change; omitted fields stay. ``api_key: null`` removes the key.
    Changing base_url, adapter, adapter_config or api_key validates the system again."""

    name: str | None = Field(None, min_length=1, max_length=200)
    base_url: str | None = Field(None, min_length=1, max_length=2000)
    adapter: Adapter | None = None
    adapter_config: dict[str, Any] | None = None
    api_key: SecretStr | None = None
    timeout_s: float | None = Field(None, gt=0, le=600)
    max_concurrency: int | None = Field(None, ge=1, le=256)
    description: str | None = Field(None, max_length=10_000)
    tags: list[str] | None = Field(None, max_length=50)


class CheckRead(BaseModel):
    name: str
    ok: bool
    status: Literal["passed", "failed", "skipped"]
    detail: str
    latency_ms: float | None = None
    items: dict[str, str] | None = None


class ProbeRead(BaseModel):
    samples: list[float] = []
    p50: float | None = None
    max: float | None = None


class ValidationReportRead(BaseModel):
    ok: bool
    failed: list[str]
    checks: list[CheckRead]
    supports_embed: bool
    probe: ProbeRead
    checked_at: str


class SystemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    base_url: str
    adapter: str
    adapter_config: dict[str, Any]
    has_api_key: bool
    #: The key's first characters and stars (``rb****``); never the key.
    api_key_masked: str | None
    timeout_s: float
    max_concurrency: int
    description: str
    tags: list[str]
    supports_embed: bool
    validation: dict[str, Any]
    probe: dict[str, Any]
    status: str
    last_health_ok: bool | None
    last_health_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    archived_at: UtcDatetime | None


class HealthCheckRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    system_id: int
    checked_at: UtcDatetime
    ok: bool
    status_code: int | None
    latency_ms: float | None
    error: str | None
    trigger: str
