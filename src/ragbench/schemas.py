"""Types shared by every feature's request/response bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes (they are stored as UTC); PostgreSQL aware
    # ones in the session's zone. Responses always say UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A timestamp that is always rendered in UTC, whatever the database gave back.
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
