"""Create, verify and revoke API keys.

A key is ``rbk_`` + 32 random bytes (urlsafe base64). Only its sha256 is stored:
the key has 256 bits of entropy, so a slow hash adds nothing. Roles are ordered
viewer < editor < admin: viewers read, editors register systems, upload datasets
and start evaluations, admins also manage keys.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ragbench.auth.models import ApiKey
from ragbench.database import utcnow
from ragbench.errors import BadRequest, Forbidden, NotFound, Unauthorized

ROLES = ("viewer", "editor", "admin")
KEY_PREFIX = "rbk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name and role (``anonymous``/admin when auth is off)."""

    name: str
    role: str
    key_id: int | None = None

    def require(self, role: str) -> None:
        if ROLES.index(self.role) < ROLES.index(role):
            raise Forbidden(f"this needs the {role} role; key {self.name!r} is {self.role}")


ANONYMOUS_ADMIN = Principal("anonymous", "admin")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, name: str, role: str) -> tuple[ApiKey, str]:
    """A new key: ``(row, plaintext)``; the plaintext is not stored anywhere."""
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}",
                         details={"field": "role"})
    if not name.strip():
        raise BadRequest("name must not be empty", details={"field": "name"})
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name.strip(), role=role, key_hash=_hash(plaintext),
                 prefix=plaintext[:10])
    session.add(row)
    session.flush()
    return row, plaintext


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, *, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def authenticate(session: Session, *, key: str | None) -> Principal:
    if not key:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer rbk_...' "
                           "or 'X-API-Key: rbk_...'")
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash(key)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key")
    return Principal(row.name, row.role, row.id)
