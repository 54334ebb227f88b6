"""trec_eval's text report, byte for byte: ``name<pad to 22>\\tquery\\tvalue``."""

from __future__ import annotations

from ragbench.core.evaluate import Column, Evaluation


def _value(col: Column, v) -> str:
    if col.value_type == "float":
        return f"{float(v):.4f}"
    if col.value_type == "int":
        return f"{int(v)}"
    return str(v)


def format_trec_eval(ev: Evaluation, *, per_query: bool = False) -> str:
    """The report trec_eval prints: per-query rows (``-q``) first, query by query,
    then the ``all`` rows."""
    out: list[str] = []
    if per_query:
        cols = [c for c in ev.columns if c.per_query is not None]
        for i, qid in enumerate(ev.query_ids):
            for c in cols:
                out.append(f"{c.name:<22}\t{qid}\t{_value(c, c.per_query[i])}\n")
    for c in ev.columns:
        if c.summary is not None:
            out.append(f"{c.name:<22}\tall\t{_value(c, c.summary)}\n")
    return "".join(out)
