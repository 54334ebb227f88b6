"""Evaluations as JSON and CSV text (per-query rows and/or summaries)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from ragbench.core.evaluate import Evaluation


def evaluations_to_json(evs: Sequence[Evaluation], *, per_query: bool = False) -> str:
    """``[{"run": name, "summary": {...}, "per_query": {qid: {...}}?, "queries": {...}}]``."""
    out = []
    for ev in evs:
        item = {"run": ev.run_name, "num_queries": len(ev.query_ids),
                "summary": ev.summary(),
                "query_mismatch": {"judged_without_results": list(ev.mismatch.only_in_qrels),
                                   "results_without_judgments": list(ev.mismatch.only_in_run)}}
        if per_query:
            item["per_query"] = ev.per_query()
        out.append(item)
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def evaluations_to_csv(evs: Sequence[Evaluation], *, per_query: bool = False) -> str:
    """One row per run (``query_id`` = ``all``), plus one per query with ``per_query``."""
    names: list[str] = []
    for ev in evs:
        for n in ev.names:
            if n not in names:
                names.append(n)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run", "query_id", *names])
    for ev in evs:
        if per_query:
            for qid, row in ev.per_query().items():
                w.writerow([ev.run_name, qid, *(_cell(row.get(n)) for n in names)])
        summary = ev.summary()
        w.writerow([ev.run_name, "all", *(_cell(summary.get(n)) for n in names)])
    return buf.getvalue()


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


# ---- leaderboards --------------------------------------------------------------

def leaderboard_rows(lb) -> list[dict[str, object]]:
    """One flat row per system: rank, mean and CI, and against the baseline (or
    against the next-ranked system when there is no baseline) the difference,
    corrected p-value, d_z and wins/ties/losses; ``group`` holds the significance
    letters (systems sharing a letter are not significantly different)."""
    board = lb.board
    rows = []
    for i, s in enumerate(board.systems):
        row: dict[str, object] = {"measure": lb.measure, "rank": s.rank, "system": s.name,
                                  "mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high}
        other = board.baseline
        if other is None and i + 1 < len(board.systems):
            other = board.systems[i + 1].name
        pair = None
        if other is not None and other != s.name:
            pair = board.pair(s.name, other)
        sign = 1.0 if pair is None or pair.system == s.name else -1.0
        row.update({
            "vs": other if pair else "",
            "delta": sign * pair.mean_difference if pair else None,
            "delta_ci_low": (pair.ci_low if sign > 0 else -pair.ci_high) if pair else None,
            "delta_ci_high": (pair.ci_high if sign > 0 else -pair.ci_low) if pair else None,
            "p": pair.p_value if pair else None,
            "p_corrected": pair.p_value_corrected if pair else None,
            "significant": pair.significant if pair else None,
            "d_z": sign * pair.effect_size_dz if pair else None,
            "wins": (pair.wins if sign > 0 else pair.losses) if pair else None,
            "ties": pair.ties if pair else None,
            "losses": (pair.losses if sign > 0 else pair.wins) if pair else None,
            "group": ("".join(s.letters) if all(len(x) == 1 for x in s.letters)
                      else ",".join(s.letters)),
        })
        rows.append(row)
    return rows


def leaderboards_to_json(lbs) -> str:
    return json.dumps([{"measure": lb.measure, "num_queries": len(lb.query_ids),
                        **lb.board.to_dict()} for lb in lbs], indent=2) + "\n"


def leaderboards_to_csv(lbs) -> str:
    rows = [r for lb in lbs for r in leaderboard_rows(lb)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in r.items()})
    return buf.getvalue()


def _f(v, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _p(v) -> str:
    if v is None:
        return ""
    return "<0.0001" if v < 1e-4 else f"{v:.4f}"


def leaderboard_cells(row: dict[str, object]) -> list[str]:
    """Display strings for one row: the same in the terminal table and Markdown."""
    wtl = "" if row["wins"] is None else f"{row['wins']}/{row['ties']}/{row['losses']}"
    sig = "" if row["significant"] is None else ("*" if row["significant"] else "")
    return [str(row["rank"]), str(row["system"]), _f(row["mean"]),
            f"[{_f(row['ci_low'])}, {_f(row['ci_high'])}]",
            str(row["vs"]), ("" if row["delta"] is None else f"{row['delta']:+.4f}"),
            ("" if row["delta"] is None else
             f"[{row['delta_ci_low']:+.4f}, {row['delta_ci_high']:+.4f}]"),
            _p(row["p_corrected"]) + sig, _f(row["d_z"], 2), wtl, str(row["group"])]


LEADERBOARD_HEADERS = ["#", "system", "mean", "95% CI", "vs", "Δ", "Δ 95% CI", "p (corr.)",
                       "d_z", "W/T/L", "group"]


def leaderboards_to_markdown(lbs) -> str:
    parts = []
    for lb in lbs:
        b = lb.board
        parts.append(f"### {lb.measure} — {len(lb.query_ids)} queries, {b.test} test, "
                     f"{b.correction} correction, α = {b.alpha}\n\n")
        parts.append("| " + " | ".join(LEADERBOARD_HEADERS) + " |\n")
        parts.append("|" + "|".join("---" for _ in LEADERBOARD_HEADERS) + "|\n")
        for row in leaderboard_rows(lb):
            parts.append("| " + " | ".join(leaderboard_cells(row)) + " |\n")
        parts.append("\n")
    return "".join(parts)
