"""fire_due at chosen moments: on-time runs, the missed-run policies, pause and
resume, deleted schedules, and a template that can no longer make its job."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from ragbench.batch.models import JobTask
from ragbench.schedules import service as schedules_service
from ragbench.schedules.jobs import fire_due, grace_for
from ragbench.schedules.models import Schedule
from ragbench.schedules.timing import as_utc
from ragbench.systems import service as systems_service


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class RecordingEngine:
    """Records dispatch calls, and whether the tasks were committed by then (read
    from a session of its own)."""

    def __init__(self, database) -> None:
        self.database = database
        self.dispatched: list[list[int]] = []

    def dispatch(self, task_ids: list[int]) -> None:
        with self.database.session() as session:
            stored = session.scalars(select(JobTask.id).where(JobTask.id.in_(task_ids))).all()
        assert sorted(stored) == sorted(task_ids), "dispatched before commit"
        self.dispatched.append(list(task_ids))


def stored(world, schedule_id: int) -> Schedule:
    with world.database.session() as session:
        return session.get(Schedule, schedule_id)


def test_a_due_time_makes_one_job_and_dispatches_its_tasks(world, schedule):
    schedule_id = schedule("*/10 * * * *", now=utc(2024, 5, 1, 10, 0, 30))
    engine = RecordingEngine(world.database)
    assert as_utc(stored(world, schedule_id).next_run_at) == utc(2024, 5, 1, 10, 10)

    early = fire_due(world.database, now=utc(2024, 5, 1, 10, 9, 59), engine=engine)
    fired = fire_due(world.database, now=utc(2024, 5, 1, 10, 10, 2), engine=engine)
    again = fire_due(world.database, now=utc(2024, 5, 1, 10, 10, 3), engine=engine)

    assert early == [] and again == [] and len(fired) == 1
    (job,) = world.jobs(schedule_id)
    assert job.id == fired[0]
    assert as_utc(job.scheduled_for) == utc(2024, 5, 1, 10, 10)
    assert (job.name, job.status, job.system_ids, job.dataset_ids) == \
        ("nightly", "pending", [world.system_id], [world.dataset_id])
    assert job.evaluation_config["measures"] == ["nDCG@10"]
    assert job.evaluation_config["top_k"] == 10
    with world.database.session() as session:
        tasks = session.scalars(select(JobTask).where(JobTask.job_id == job.id)).all()
    assert [(t.system_id, t.dataset_id, t.status) for t in tasks] == \
        [(world.system_id, world.dataset_id, "pending")]
    assert engine.dispatched == [[tasks[0].id]]
    after = stored(world, schedule_id)
    assert as_utc(after.next_run_at) == utc(2024, 5, 1, 10, 20)
    assert as_utc(after.last_run_at) == utc(2024, 5, 1, 10, 10)

    # the next due time fires normally
    assert len(fire_due(world.database, now=utc(2024, 5, 1, 10, 20, 1), engine=engine)) == 1
    assert [as_utc(j.scheduled_for) for j in world.jobs(schedule_id)] == \
        [utc(2024, 5, 1, 10, 10), utc(2024, 5, 1, 10, 20)]


@pytest.mark.parametrize(("policy", "jobs_on_return"), [("run_once", 1), ("skip", 0)])
def test_down_for_five_due_times(world, schedule, policy, jobs_on_return):
    # hourly; nothing ran from 00:30 until 05:40, so 01:00..05:00 (5 due times) passed
    schedule_id = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 30), misfire_policy=policy)

    back = fire_due(world.database, now=utc(2024, 5, 1, 5, 40))

    assert len(back) == jobs_on_return
    assert world.job_count(schedule_id) == jobs_on_return
    if policy == "run_once":
        (job,) = world.jobs(schedule_id)
        assert as_utc(job.scheduled_for) == utc(2024, 5, 1, 5)  # the most recent missed
    assert as_utc(stored(world, schedule_id).next_run_at) == utc(2024, 5, 1, 6)
    # then it carries on normally
    assert len(fire_due(world.database, now=utc(2024, 5, 1, 6, 0, 2))) == 1
    assert [as_utc(j.scheduled_for) for j in world.jobs(schedule_id)][-1] == utc(2024, 5, 1, 6)
    assert world.job_count(schedule_id) == jobs_on_return + 1


@pytest.mark.parametrize("policy", ["run_once", "skip"])
def test_a_most_recent_due_time_seen_on_time_fires_whatever_the_policy(world, schedule,
                                                                       policy):
    # down over 01:00..04:00, back 30 s after 05:00: 05:00 is on time, the rest missed
    schedule_id = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 30), misfire_policy=policy)
    assert len(fire_due(world.database, now=utc(2024, 5, 1, 5, 0, 30))) == 1
    assert [as_utc(j.scheduled_for) for j in world.jobs(schedule_id)] == [utc(2024, 5, 1, 5)]


def test_on_time_means_within_one_interval_plus_slack(world, schedule):
    grace = grace_for(5.0)
    assert grace == 65.0
    late = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 30), misfire_policy="skip")
    on_time = schedule("30 * * * *", now=utc(2024, 5, 1, 0, 45), misfire_policy="skip")

    # 01:00 seen 66 s late is missed (skipped); 01:30 seen 65 s late is on time
    fire_due(world.database, now=utc(2024, 5, 1, 1, 1, 6), grace_s=grace)
    fire_due(world.database, now=utc(2024, 5, 1, 1, 31, 5), grace_s=grace)

    assert world.job_count(late) == 0
    assert [as_utc(j.scheduled_for) for j in world.jobs(on_time)] == [utc(2024, 5, 1, 1, 30)]


def test_paused_schedules_never_fire_and_resume_makes_up_nothing(world, schedule):
    schedule_id = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 10))
    with world.database.session() as session:
        schedules_service.pause_schedule(session, schedule_id=schedule_id,
                                         now=utc(2024, 5, 1, 0, 20))
    for hour in (1, 2, 3):
        assert fire_due(world.database, now=utc(2024, 5, 1, hour, 0, 1)) == []
    assert stored(world, schedule_id).next_run_at is None

    with world.database.session() as session:
        schedules_service.resume_schedule(session, schedule_id=schedule_id,
                                          now=utc(2024, 5, 1, 3, 30))
    assert as_utc(stored(world, schedule_id).next_run_at) == utc(2024, 5, 1, 4)
    assert fire_due(world.database, now=utc(2024, 5, 1, 3, 30, 1)) == []
    assert len(fire_due(world.database, now=utc(2024, 5, 1, 4, 0, 1))) == 1
    assert [as_utc(j.scheduled_for) for j in world.jobs(schedule_id)] == [utc(2024, 5, 1, 4)]


def test_deleted_schedules_never_fire(world, schedule):
    schedule_id = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 10))
    with world.database.session() as session:
        schedules_service.archive_schedule(session, schedule_id=schedule_id)
    assert fire_due(world.database, now=utc(2024, 5, 1, 1, 0, 1)) == []
    assert world.job_count(schedule_id) == 0


def test_an_archived_system_makes_a_failed_job_and_the_schedule_moves_on(world, schedule):
    schedule_id = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 10))
    with world.database.session() as session:
        systems_service.archive_system(session, system_id=world.system_id)
    engine = RecordingEngine(world.database)

    fired = fire_due(world.database, now=utc(2024, 5, 1, 1, 0, 1), engine=engine)
    again = fire_due(world.database, now=utc(2024, 5, 1, 1, 0, 2), engine=engine)

    assert again == [] and engine.dispatched == []
    (job,) = world.jobs(schedule_id)
    assert fired == [job.id]
    assert job.status == "failed" and as_utc(job.scheduled_for) == utc(2024, 5, 1, 1)
    assert "archived" in job.error and "bm25" in job.error
    assert job.finished_at is not None
    with world.database.session() as session:
        assert session.scalars(select(JobTask).where(JobTask.job_id == job.id)).all() == []
    assert as_utc(stored(world, schedule_id).next_run_at) == utc(2024, 5, 1, 2)
    assert as_utc(stored(world, schedule_id).last_run_at) == utc(2024, 5, 1, 1)


def test_an_existing_job_for_the_due_time_backs_up_the_compare_and_set(world, schedule):
    # A scheduler that read an old next_run_at (e.g. its row was put back) wins the
    # compare-and-set, but the job for that due time exists: no second job.
    schedule_id = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 10))
    assert len(fire_due(world.database, now=utc(2024, 5, 1, 1, 0, 1))) == 1
    with world.database.session() as session:
        session.execute(update(Schedule).where(Schedule.id == schedule_id)
                        .values(next_run_at=utc(2024, 5, 1, 1)))

    assert fire_due(world.database, now=utc(2024, 5, 1, 1, 0, 5)) == []
    assert world.job_count(schedule_id) == 1
    assert as_utc(stored(world, schedule_id).next_run_at) == utc(2024, 5, 1, 2)


def test_one_broken_schedule_does_not_stop_the_others(world, schedule):
    broken = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 10))
    healthy = schedule("0 * * * *", now=utc(2024, 5, 1, 0, 10))
    with world.database.session() as session:  # a zone this machine cannot read
        session.execute(update(Schedule).where(Schedule.id == broken)
                        .values(timezone="Nowhere/Atlantis"))

    fired = fire_due(world.database, now=utc(2024, 5, 1, 1, 0, 1))

    assert len(fired) == 1 and world.job_count(healthy) == 1
    assert world.job_count(broken) == 0
    assert as_utc(stored(world, broken).next_run_at) == utc(2024, 5, 1, 1)  # still due


def test_daylight_saving_schedule_fires_at_the_end_of_the_gap(world, schedule):
    # 02:00 Europe/Berlin on 2024-03-31 does not exist: it runs at 03:00 CEST (01:00 UTC)
    schedule_id = schedule("0 2 * * *", now=utc(2024, 3, 30, 12), timezone="Europe/Berlin")
    assert as_utc(stored(world, schedule_id).next_run_at) == utc(2024, 3, 31, 1)
    assert len(fire_due(world.database, now=utc(2024, 3, 31, 1, 0, 3))) == 1
    assert as_utc(stored(world, schedule_id).next_run_at) == utc(2024, 4, 1, 0)
    assert [as_utc(j.scheduled_for) for j in world.jobs(schedule_id)] == [utc(2024, 3, 31, 1)]
