"""Periodic health checks of every active system.

:class:`HealthMonitor` runs on the service's event loop: every
``settings.health_check_interval_s`` seconds (0 turns it off; the first round comes one
interval after start) it checks each active system and stores a ``HealthCheck`` row
with trigger ``periodic``. Database work runs in worker threads; the calls to systems
run concurrently (at most :data:`CONCURRENT_CHECKS` at once), so one slow system
delays a round by its timeout, not by the sum of all timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ragbench.systems import secrets
from ragbench.systems import service as systems_service
from ragbench.systems.client import SystemSpec, spec_of
from ragbench.systems.models import System
from ragbench.systems.transport import HealthResult

log = logging.getLogger(__name__)

CONCURRENT_CHECKS = 8


class HealthMonitor:
    def __init__(self, *, settings, database) -> None:
        self.settings, self.database = settings, database
        self._task: asyncio.Task | None = None
        #: Completed rounds (tests and diagnostics).
        self.rounds = 0

    async def start(self) -> None:
        """Start checking in the background (no-op when the interval is 0 or running)."""
        if self.settings.health_check_interval_s <= 0 or self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="ragbench-health-monitor")

    async def stop(self) -> None:
        """Stop, cancelling a round in progress (its finished checks stay stored)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        """Check every active system once; returns how many were checked."""
        ids = await asyncio.to_thread(self._active_ids)
        limit = asyncio.Semaphore(CONCURRENT_CHECKS)

        async def one(system_id: int) -> bool:
            async with limit:
                return await self.check(system_id)

        done = await asyncio.gather(*(one(i) for i in ids), return_exceptions=True)
        for system_id, outcome in zip(ids, done):
            if isinstance(outcome, BaseException):
                # One broken check must not cost the other systems theirs.
                log.error("health check of system %s failed: %r", system_id, outcome)
        self.rounds += 1
        return sum(outcome is True for outcome in done)

    async def check(self, system_id: int, *, trigger: str = "periodic") -> bool:
        """Check one system and store the result; False if it is gone or archived."""
        try:
            spec = await asyncio.to_thread(self._spec, system_id)
        except secrets.SecretUnreadable as exc:
            result = HealthResult(False, None, 0.0, exc.message)
        else:
            if spec is None:
                return False
            result = await systems_service.probe_health(spec, settings=self.settings)
        return await asyncio.to_thread(self._record, system_id, result, trigger)

    async def _run(self) -> None:
        interval = self.settings.health_check_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A broken round (database away, ...) must not end the monitor.
                log.exception("periodic health checks failed; trying again in %g s", interval)

    def _active_ids(self) -> list[int]:
        with self.database.session() as session:
            return systems_service.active_system_ids(session)

    def _spec(self, system_id: int) -> SystemSpec | None:
        with self.database.session() as session:
            system = session.get(System, system_id)
            if system is None or system.status != "active":
                return None
            return spec_of(system, settings=self.settings)

    def _record(self, system_id: int, result: HealthResult, trigger: str) -> bool:
        with self.database.session() as session:
            system = session.get(System, system_id)
            if system is None or system.status != "active":
                return False
            systems_service.record_health(session, system=system, result=result,
                                          trigger=trigger)
            return True
