"""When a schedule is due: cron expressions read in the schedule's IANA time zone.

Cron parsing and stepping are croniter's; this module adds the checks the service
needs (five fields, a known zone, a cron that fires at all) and one rule for the two
daylight-saving changes a year, so that every server computes the same instants:

* A schedule fires once per matching **local wall-clock time**.
* A wall time that does not exist (skipped when clocks go forward, e.g. 02:30 in
  Europe/Berlin on the last Sunday of March) fires at the first instant after the
  gap (03:00 local), once however many skipped times matched.
* A wall time that happens twice (clocks go back, e.g. 02:30 on the last Sunday of
  October) fires once, at its first occurrence (02:30 summer time). An hourly cron
  therefore has one two-hour step that night; a schedule that must tick at even
  real-time intervals uses ``UTC``.

All instants returned are timezone-aware UTC datetimes, as stored in
``Schedule.next_run_at``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from ragbench.errors import Unprocessable

#: Zone files that differ from machine to machine.
MACHINE_ZONES = frozenset({"localtime", "posixrules"})
CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
#: Safety bound on candidates skipped in a row (repeated wall times, croniter giving
#: an instant twice around a change); a minutely cron skips one repeated hour's 60.
MAX_SKIPPED = 1000
#: How far before ``now`` :func:`latest_due` starts stepping forward at least: more
#: than any daylight-saving change (one hour, two in a few historical zones).
BACKWARD_MARGIN = timedelta(hours=3)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite gives back naive UTC values)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    """The IANA zone ``name`` (``Europe/Berlin``, ``Asia/Seoul``, ``UTC``);
    Unprocessable naming ``field`` when there is no such zone. ``localtime`` is
    refused: it is whatever zone the machine is set to, so servers could disagree."""
    try:
        if not name or name != name.strip() or name in MACHINE_ZONES:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Unprocessable(f"unknown time zone {name!r}: use an IANA name such as "
                            "'UTC', 'Europe/Berlin' or 'Asia/Seoul'",
                            details={"field": field, "timezone": name}) from None


def check_cron(expr: str, *, field: str = "cron") -> str:
    """``expr`` with its whitespace normalised, if it is a cron croniter reads as
    five fields (minute hour day-of-month month day-of-week) or a macro such as
    ``@daily``, and fires at least once. Unprocessable naming ``field`` otherwise.

    Seconds and year columns are refused (schedules are looked at every few
    seconds, not every second), and so are random (``R``) and hashed (``H``)
    fields: every server must compute the same due times."""
    text = " ".join(expr.split())
    details = {"field": field, "cron": expr}
    if not text:
        raise Unprocessable("cron must not be blank", details=details)
    if not text.startswith("@") and len(text.split()) != len(CRON_FIELDS):
        raise Unprocessable(f"invalid cron {expr!r}: give five fields ({', '.join(CRON_FIELDS)})"
                            " or a macro such as @daily; seconds and years are not supported",
                            details=details)
    try:
        parsed = croniter(text)
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as exc:
        raise Unprocessable(f"invalid cron {expr!r}: {exc}", details=details) from None
    if len(parsed.expanded) != len(CRON_FIELDS):
        raise Unprocessable(f"invalid cron {expr!r}: give five fields ({', '.join(CRON_FIELDS)})",
                            details=details)
    for part in re.split(r"[\s,/]+", text):
        if part.upper() in ("R", "H") or part.upper().startswith(("R(", "H(")):
            raise Unprocessable(f"invalid cron {expr!r}: random (R) and hashed (H) fields "
                                "are not supported", details=details)
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterBadDateError, CroniterError) as exc:
        raise Unprocessable(f"cron {expr!r} never fires: {exc}", details=details) from None
    return text


def run_times(cron: str, timezone: str, *, after: datetime) -> Iterator[datetime]:
    """The schedule's due instants strictly after ``after``, in order, as UTC
    datetimes, following the daylight-saving rule of this module's docstring."""
    tz = zone(timezone)
    last = as_utc(after)
    steps = croniter(cron, last.astimezone(tz))
    skipped = 0
    while True:
        instant = as_utc(steps.get_next(datetime))
        if instant <= last or _second_occurrence(instant, tz):
            skipped += 1
            if skipped > MAX_SKIPPED:
                raise RuntimeError(f"cron {cron!r} in {timezone} makes no progress "
                                   f"after {last.isoformat()}")
            continue
        skipped = 0
        last = instant
        yield instant


def next_run(cron: str, timezone: str, *, after: datetime) -> datetime:
    """The first due instant strictly after ``after`` (UTC)."""
    return next(run_times(cron, timezone, after=after))


def upcoming(cron: str, timezone: str, *, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` due instants strictly after ``after`` (UTC)."""
    times = run_times(cron, timezone, after=after)
    return [next(times) for _ in range(count)]


def latest_due(cron: str, timezone: str, *, first: datetime, now: datetime) -> datetime:
    """The most recent due instant in ``[first, now]``, where ``first`` is itself a
    due instant not after ``now`` (a schedule's ``next_run_at``).

    Stepping forward is the reference; croniter's backward step only picks where
    to start: :data:`BACKWARD_MARGIN` before the second due time it finds before
    ``now``. A wall time repeated by a daylight-saving change lies at most that far
    after its first occurrence, which is a due time, so the start is never after
    the answer, and a long outage costs a few steps, not one per missed time."""
    first, now = as_utc(first), as_utc(now)
    if next_run(cron, timezone, after=first) > now:
        return first
    steps = croniter(cron, now.astimezone(zone(timezone)))
    steps.get_prev(datetime)
    start = as_utc(steps.get_prev(datetime)) - BACKWARD_MARGIN
    latest = first
    for instant in run_times(cron, timezone, after=max(first, start) - timedelta(microseconds=1)):
        if instant > now:
            break
        latest = instant
    return latest


def _second_occurrence(instant: datetime, tz: ZoneInfo) -> bool:
    # zoneinfo marks the later of two equal wall times with fold=1; an instant is a
    # repeat when the same wall time with fold=0 is a different (earlier) instant.
    local = instant.astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
