"""cProfile results grouped by component (library, ragbench feature, syscalls), so a
report can say which part of the stack a request's CPU goes to."""

from __future__ import annotations

from pathlib import Path


def component(filename: str, name: str) -> str:
    """Which component a profiled function belongs to."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].split(".")[0]
    if "/src/ragbench/" in filename:
        parts = filename.split("/src/ragbench/", 1)[1].split("/")
        return "ragbench." + (parts[0] if len(parts) > 1 else parts[0].removesuffix(".py"))
    if "importlib" in filename:
        return "importlib (failed imports)"
    if filename == "~":
        if "sqlite3" in name:
            return "sqlite3 (C)"
        if "pydantic_core" in name:
            return "pydantic_core (C)"
        if "socket" in name:
            return "socket syscalls"
        if "epoll" in name or "select" in name:
            return "waiting for I/O (epoll)"
        return "builtins"
    if "/asyncio/" in filename:
        return "asyncio"
    if "/json/" in filename:
        return "json"
    if "/bench/" in filename:
        return "benchmark probes"
    return "stdlib: " + Path(filename).stem


def profile_groups(stats) -> dict[str, float]:
    """Self time (``tottime``) per component of a ``pstats.Stats``, in the
    profiler's clock, largest first."""
    out: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        key = component(filename, name)
        out[key] = out.get(key, 0.0) + tottime
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def groups_table(profiles: dict[str, dict[str, float]], per: int, unit: str,
                 rows: int = 14) -> list[str]:
    """A markdown table: one column per profile (``name -> groups``), values in ms per
    ``unit`` (``per`` of them were profiled) with their share."""
    names = list(profiles)
    comps: list[str] = []
    for n in names:
        comps += [c for c in profiles[n] if c not in comps]
    totals = {n: sum(profiles[n].values()) for n in names}
    comps.sort(key=lambda c: -max(profiles[n].get(c, 0.0) / (totals[n] or 1) for n in names))
    lines = [f"| component (ms per {unit}) | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for c in comps[:rows]:
        cells = [f"{profiles[n].get(c, 0.0) / per * 1e3:.3f} "
                 f"({profiles[n].get(c, 0.0) / (totals[n] or 1):.0%})" for n in names]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines.append("| **all** | " + " | ".join(f"**{totals[n] / per * 1e3:.3f}**"
                                            for n in names) + " |")
    return lines
