"""Due times: croniter stepping in the schedule's zone, and the daylight-saving rule
(a skipped wall time fires at the end of the gap, a repeated one fires once),
checked against croniter called directly, a minute-by-minute scan, and by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from ragbench.errors import Unprocessable
from ragbench.schedules import timing


@pytest.mark.parametrize(("cron", "timezone"), [
    ("0 2 * * *", "Europe/Berlin"),
    ("0 2 * * *", "Asia/Seoul"),
    ("*/15 9-17 * * mon-fri", "America/New_York"),
    ("30 6 1 * *", "Australia/Sydney"),
    ("@weekly", "UTC"),
    ("0 0 29 2 *", "Asia/Kolkata"),
])
def test_next_five_times_are_crons_in_the_zone(cron, timezone):
    start = datetime(2024, 6, 10, 12, 34, 56, tzinfo=UTC)  # no DST change near the results
    steps = croniter(cron, start.astimezone(ZoneInfo(timezone)))
    expected = [steps.get_next(datetime).astimezone(UTC) for _ in range(5)]

    assert timing.upcoming(cron, timezone, after=start, count=5) == expected
    assert timing.next_run(cron, timezone, after=start) == expected[0]
    # strictly after: a due time itself is not its own next run
    assert timing.next_run(cron, timezone, after=expected[0]) == expected[1]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(("cron", "timezone", "after", "expected"), [
    # Berlin, 2024-03-31: 02:00 CET -> 03:00 CEST. 02:00 does not exist; it fires at
    # the end of the gap, 03:00 CEST = 01:00 UTC. Before: 02:00 CET = 01:00 UTC;
    # after: 02:00 CEST = 00:00 UTC.
    ("0 2 * * *", "Europe/Berlin", utc(2024, 3, 29, 12),
     [utc(2024, 3, 30, 1), utc(2024, 3, 31, 1), utc(2024, 4, 1, 0)]),
    # Berlin, 2024-10-27: 03:00 CEST -> 02:00 CET, 02:00..02:59 happen twice. It fires
    # once, at the first 02:00 (CEST = 00:00 UTC), not again at 02:00 CET (01:00 UTC).
    ("0 2 * * *", "Europe/Berlin", utc(2024, 10, 25, 12),
     [utc(2024, 10, 26, 0), utc(2024, 10, 27, 0), utc(2024, 10, 28, 1)]),
    ("30 2 * * *", "Europe/Berlin", utc(2024, 10, 26, 12),
     [utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]),
    # Hourly through the October change: 01:00, 02:00 CEST, (02:00 CET repeated), 03:00 CET.
    ("0 * * * *", "Europe/Berlin", utc(2024, 10, 26, 22, 30),
     [utc(2024, 10, 26, 23), utc(2024, 10, 27, 0), utc(2024, 10, 27, 2)]),
    # Seoul has no DST (KST = UTC+9): 02:00 KST is always 17:00 UTC the day before.
    ("0 2 * * *", "Asia/Seoul", utc(2024, 3, 30, 0),
     [utc(2024, 3, 30, 17), utc(2024, 3, 31, 17), utc(2024, 4, 1, 17)]),
    # New York, 2024-03-10 02:00 EST -> 03:00 EDT: 02:30 fires at 03:00 EDT = 07:00 UTC.
    ("30 2 * * *", "America/New_York", utc(2024, 3, 9, 12),
     [utc(2024, 3, 10, 7), utc(2024, 3, 11, 6, 30)]),
    # New York, 2024-11-03 02:00 EDT -> 01:00 EST: 01:30 once, EDT (05:30 UTC).
    ("30 1 * * *", "America/New_York", utc(2024, 11, 2, 12),
     [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]),
])
def test_daylight_saving_changes_by_hand(cron, timezone, after, expected):
    assert timing.upcoming(cron, timezone, after=after, count=len(expected)) == expected


def scan(cron: str, timezone: str, start: datetime, end: datetime) -> list[datetime]:
    """Due times in (start, end] by looking at every UTC minute: a minute is due when
    its local wall time matches (croniter.match) and is not the second occurrence of
    a repeated wall time; the first minute after a gap is due when any skipped wall
    minute (or itself) matches."""
    tz = ZoneInfo(timezone)
    out = []
    minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    previous = (minute - timedelta(minutes=1)).astimezone(tz).replace(tzinfo=None)
    while minute <= end:
        local = minute.astimezone(tz)
        wall = local.replace(tzinfo=None)
        repeated = local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
        if not repeated:
            candidates = [previous + timedelta(minutes=k)
                          for k in range(1, int((wall - previous) / timedelta(minutes=1)) + 1)]
            if any(croniter.match(cron, w) for w in candidates or [wall]):
                out.append(minute)
            previous = max(previous, wall)
        minute += timedelta(minutes=1)
    return out


@pytest.mark.parametrize(("cron", "timezone", "start"), [
    ("15,45 2 * * *", "Europe/Berlin", utc(2024, 3, 30, 12)),
    ("15,45 2 * * *", "Europe/Berlin", utc(2024, 10, 26, 12)),
    ("*/20 * * * *", "America/New_York", utc(2024, 11, 2, 18)),
    ("*/20 2 * * *", "Australia/Lord_Howe", utc(2024, 4, 6, 0)),   # 30-minute change
    ("0 0 * * *", "America/Santiago", utc(2024, 9, 7, 0)),         # gap at midnight
])
def test_due_times_match_a_minute_by_minute_scan(cron, timezone, start):
    end = start + timedelta(hours=36)
    expected = scan(cron, timezone, start, end)
    times = timing.run_times(cron, timezone, after=start)
    got = []
    while (t := next(times)) <= end:
        got.append(t)
    assert got == expected and expected
    # the most recent due time at any moment agrees with the scan too
    for now in [start + timedelta(minutes=m) for m in range(97, 36 * 60, 131)]:
        past = [t for t in expected if t <= now]
        if past:
            assert timing.latest_due(cron, timezone, first=past[0], now=now) == past[-1]


def test_latest_due_after_a_long_outage():
    # every 5 minutes, down for 30 days: the latest due time is the last 5-minute mark
    first = utc(2024, 1, 1, 0, 5)
    now = utc(2024, 1, 31, 13, 42, 10)
    assert timing.latest_due("*/5 * * * *", "Europe/Berlin", first=first, now=now) == \
        utc(2024, 1, 31, 13, 40)
    assert timing.latest_due("*/5 * * * *", "UTC", first=first, now=first) == first


@pytest.mark.parametrize(("cron", "why"), [
    ("", "must not be blank"), ("every night", "five fields"), ("61 * * * *", "out of range"),
    ("0 0 * * * *", "five fields"), ("0 0 1 1 * 2030", "five fields"),
    ("R 2 * * *", "random"), ("0 0 30 2 *", "never fires"),
])
def test_bad_crons_are_refused_naming_the_field(cron, why):
    with pytest.raises(Unprocessable) as caught:
        timing.check_cron(cron)
    assert caught.value.details == {"field": "cron", "cron": cron}
    assert why in caught.value.message


def test_good_crons_are_normalised():
    assert timing.check_cron("  0   2 * *\tmon-fri ") == "0 2 * * mon-fri"
    assert timing.check_cron("@daily") == "@daily"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", " UTC", "../../etc/passwd", "utc+2",
                                  "localtime"])
def test_unknown_time_zones_are_refused_naming_the_field(name):
    with pytest.raises(Unprocessable) as caught:
        timing.zone(name)
    assert caught.value.details == {"field": "timezone", "timezone": name}
