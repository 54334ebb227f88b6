from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragbench.schemas import UtcDatetime


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["viewer", "editor", "admin"]


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    prefix: str
    created_at: UtcDatetime
    revoked_at: UtcDatetime | None


class ApiKeyCreated(ApiKeyRead):
    #: Shown once; only its hash is stored.
    key: str
