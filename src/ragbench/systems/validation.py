"""Validating a system before it is registered: five checks, in order.

``url``
    scheme http/https, no credentials, and the SSRF guard (:mod:`ragbench.systems.ssrf`).
``connectivity``
    the health call answers 200 within the timeout (``GET {base_url}/health``; for
    generic-json ``health_path``, or without one the search call itself).
``endpoints``
    retrieve answers 2xx (404/405: missing); embed (ragbench adapter only) is optional:
    404/405 skips it, any other error fails the check.
``format``
    retrieve answers a list of ``{doc_id: str, score: number, text?: str}``; embed, when
    present, a non-empty list of finite numbers.
``performance``
    every probe query (``settings.probe_queries``) is retrieved once and timed; the
    check fails only if a probe errors. Latencies go to the system's ``probe``:
    ``{"samples": [ms, ...], "p50": median ms, "max": ms}``.

A failed check skips the checks after it (they would only repeat its failure).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from ragbench.database import utcnow
from ragbench.systems.client import SystemSpec, connect_spec
from ragbench.systems.ssrf import UnsafeURL, UrlPolicy
from ragbench.systems.transport import SystemCallError, SystemClient

CHECKS = ("url", "connectivity", "endpoints", "format", "performance")
#: Hits asked for by each probe.
PROBE_TOP_K = 10
#: The probe query when settings.probe_queries is empty.
FALLBACK_QUERY = "what is information retrieval"
_MISSING = (404, 405)


@dataclass
class Check:
    """One check's outcome: ``status`` is ``passed``, ``failed`` or ``skipped``."""

    name: str
    status: str
    detail: str
    latency_ms: float | None = None
    #: Per-endpoint status for the endpoints check ({"retrieve": "passed", ...}).
    items: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "ok": self.ok, "status": self.status,
               "detail": self.detail, "latency_ms": self.latency_ms}
        if self.items is not None:
            out["items"] = dict(self.items)
        return out


@dataclass
class ValidationReport:
    checks: list[Check] = field(default_factory=list)
    supports_embed: bool = False
    #: Probe latencies in ms: {"samples": [...], "p50": ..., "max": ...}.
    probe: dict[str, Any] = field(default_factory=dict)
    checked_at: str = ""

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.ok]

    def summary(self) -> str:
        """One line naming each failed check and why."""
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.ok)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed": self.failed,
                "checks": [check.to_dict() for check in self.checks],
                "supports_embed": self.supports_embed, "probe": dict(self.probe),
                "checked_at": self.checked_at}


async def validate_spec(spec: SystemSpec, *, settings) -> ValidationReport:
    """Run the checks against ``spec`` and report each; never raises for the system's
    failures (the caller decides what a failed report means)."""
    report = ValidationReport(checked_at=utcnow().isoformat())
    queries = list(settings.probe_queries) or [FALLBACK_QUERY]

    def skip_rest(after: str) -> ValidationReport:
        for name in CHECKS[len(report.checks):]:
            report.checks.append(Check(name, "skipped", f"not run: the {after} check failed"))
        return report

    start = time.perf_counter()
    try:
        addresses = await UrlPolicy.from_settings(settings).check_async(spec.base_url)
    except UnsafeURL as exc:
        report.checks.append(Check("url", "failed", f"{spec.base_url}: {exc}", _ms(start)))
        return skip_rest("url")
    report.checks.append(Check("url", "passed", f"{spec.base_url} resolves to "
                               f"{', '.join(map(str, addresses))}", _ms(start)))

    async with connect_spec(spec, settings=settings) as client:
        for check in (_connectivity, _endpoints_and_format, _performance):
            await check(client, spec, queries, report)
            if not report.ok:
                return skip_rest(report.failed[0])
    return report


async def _connectivity(client: SystemClient, spec: SystemSpec, _queries: list[str],
                        report: ValidationReport) -> None:
    health = await client.health()
    config = spec.adapter_config or {}
    if spec.adapter == "generic-json" and not config.get("health_path"):
        what = "the search call (no health_path)"
    else:
        what = f"GET {config.get('health_path') or '/health'}"
    if health.ok:
        report.checks.append(Check("connectivity", "passed",
                                   f"{what} answered 200 in {health.latency_ms:.1f} ms",
                                   health.latency_ms))
    else:
        report.checks.append(Check("connectivity", "failed", health.error or "not healthy",
                                   health.latency_ms))


async def _endpoints_and_format(client: SystemClient, spec: SystemSpec, queries: list[str],
                                report: ValidationReport) -> None:
    items: dict[str, str] = {}
    notes: list[str] = []
    format_errors: list[str] = []
    format_notes: list[str] = []
    start = time.perf_counter()

    try:
        hits = await client.retrieve(queries[0], PROBE_TOP_K)
    except SystemCallError as exc:
        if exc.stage != "format":
            items["retrieve"] = "failed"
            hint = (" (missing: is base_url right, and the adapter?)"
                    if exc.status_code in _MISSING else "")
            report.checks.append(Check("endpoints", "failed", exc.message + hint, _ms(start),
                                       items))
            return
        items["retrieve"] = "passed"
        format_errors.append(exc.message)
    else:
        items["retrieve"] = "passed"
        format_notes.append(f"retrieve: {len(hits)} hits" + (
            "" if hits else " (the probe query matched nothing; fields not seen)"))
    notes.append("retrieve: answered")

    if spec.adapter == "ragbench":
        try:
            vector = await client.embed(queries[0])
        except SystemCallError as exc:
            if exc.stage == "format":
                items["embed"] = "passed"
                notes.append("embed: answered")
                format_errors.append(exc.message)
            elif exc.status_code in _MISSING:
                items["embed"] = "skipped"
                notes.append(f"embed: skipped (optional; HTTP {exc.status_code})")
            else:
                items["embed"] = "failed"
                report.checks.append(Check("endpoints", "failed", exc.message, _ms(start),
                                           items))
                return
        else:
            items["embed"] = "passed"
            notes.append("embed: answered")
            format_notes.append(f"embed: {len(vector)} numbers")
            report.supports_embed = True
    else:
        items["embed"] = "skipped"
        notes.append("embed: skipped (the generic-json adapter has no embed call)")

    latency = _ms(start)
    report.checks.append(Check("endpoints", "passed", "; ".join(notes), latency, items))
    if format_errors:
        report.supports_embed = False
        report.checks.append(Check("format", "failed", "; ".join(format_errors), latency))
    else:
        report.checks.append(Check("format", "passed", "; ".join(format_notes), latency))


async def _performance(client: SystemClient, _spec: SystemSpec, queries: list[str],
                       report: ValidationReport) -> None:
    samples: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    for query in queries:
        began = time.perf_counter()
        try:
            await client.retrieve(query, PROBE_TOP_K)
        except SystemCallError as exc:
            errors.append(f"probe {query!r}: {exc.message}")
            continue
        samples.append(_ms(began))
    report.probe = {"samples": samples,
                    "p50": round(statistics.median(samples), 3) if samples else None,
                    "max": max(samples) if samples else None}
    if errors:
        report.checks.append(Check("performance", "failed", "; ".join(errors), _ms(start)))
    else:
        report.checks.append(Check(
            "performance", "passed", f"{len(samples)} probe queries: p50 "
            f"{report.probe['p50']:.1f} ms, max {report.probe['max']:.1f} ms", _ms(start)))


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
