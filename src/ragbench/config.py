"""The service's settings: one :class:`Settings`, read once by :func:`get_settings`.

Every field can be set from the environment with the ``RAGBENCH_`` prefix
(``RAGBENCH_DATABASE_URL``, ``RAGBENCH_DATA_DIR``, ...) or from a ``.env`` file.
Nothing reads the environment at import time: tests build their own ``Settings``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGBENCH_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    #: Where the embedded database, dataset files and run artifacts live.
    data_dir: Path = Path("ragbench-data")
    #: SQLAlchemy URL; empty means the embedded SQLite file ``<data_dir>/ragbench.db``.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    #: With auth off every request acts as admin, so the server only binds to loopback.
    auth_enabled: bool = False
    #: Key that encrypts systems' API keys at rest (Fernet, urlsafe base64 of 32
    #: bytes). Empty: a key is generated once into ``<data_dir>/secret.key``.
    secret_key: str = ""

    #: Seconds between periodic health checks of every active system; 0 turns them off.
    health_check_interval_s: float = Field(300.0, ge=0)
    #: Default per-request timeout towards systems under test, in seconds.
    system_timeout_s: float = Field(10.0, gt=0)
    #: Probe queries timed when a system is validated.
    probe_queries: list[str] = ["what is retrieval", "evaluation of search systems",
                                "neural ranking models"]

    #: Celery broker (e.g. ``redis://127.0.0.1:6379/0``). Empty: batch tasks run in an
    #: in-process worker pool; set: the server only enqueues and ``ragbench worker``
    #: processes (any number, any machine, same database) run them.
    broker_url: str = ""
    #: Batch tasks run at once by the embedded pool, and by each Celery worker.
    batch_workers: int = Field(2, ge=1, le=64)
    #: Batch tasks of one system that may run at once, across every worker, so a
    #: batch never overloads the system under test.
    batch_max_running_per_system: int = Field(1, ge=1, le=64)
    #: Seconds a worker's claim on a task lasts without renewal; a task whose lease
    #: expired (its worker died) is picked up again.
    task_lease_s: float = Field(30.0, gt=0)
    #: Seconds between the scheduler's looks for due schedules (0: no scheduler here).
    scheduler_interval_s: float = Field(5.0, ge=0)

    #: SSRF guard: networks a system URL may never point to (link-local and cloud
    #: metadata by default) and networks allowed even when denied (checked first).
    ssrf_deny: list[str] = ["169.254.0.0/16", "fe80::/10", "100.100.100.200/32",
                            "fd00:ec2::254/128", "0.0.0.0/8"]
    ssrf_allow: list[str] = []

    @field_validator("ssrf_deny", "ssrf_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a network: {net!r} ({exc})") from None
        return value

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if self.environment == "production" and not self.auth_enabled:
            raise ValueError("environment=production requires auth_enabled=true")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ragbench.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    def check_bind(self, host: str) -> None:
        """Refuse to listen beyond loopback while auth is off."""
        if not self.auth_enabled and host not in LOOPBACK_HOSTS:
            raise ValueError(f"refusing to bind {host}: auth is off, so only loopback "
                             "(127.0.0.1, ::1) is allowed; set RAGBENCH_AUTH_ENABLED=true "
                             "and create keys with `ragbench keys create`")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
