from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ragbench.database import Base, utcnow


class System(Base):
    """A retrieval system under test, reached over HTTP through an adapter."""

    __tablename__ = "systems"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    base_url: Mapped[str] = mapped_column(String(2000))
    adapter: Mapped[str] = mapped_column(String(32))          # "ragbench" | "generic-json"
    #: generic-json mapping (method, path, headers, body template, field paths).
    adapter_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Fernet token of the system's API key; never returned, logged or exported.
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    timeout_s: Mapped[float] = mapped_column(Float, default=10.0)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=8)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Whether the system answered the embed endpoint at validation.
    supports_embed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The last validation report (per check: name, ok, detail, latency).
    validation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Probe latencies in ms at registration: {"samples": [...], "p50": .., "max": ..}.
    probe: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | archived
    last_health_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_health_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HealthCheck(Base):
    __tablename__ = "health_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), index=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    #: "manual" (GET .../health) or "periodic".
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
