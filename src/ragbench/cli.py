"""The ``ragbench`` command line. Thin: parses arguments, calls the core, prints."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from ragbench.core.errors import MeasureError, RagbenchError

app = typer.Typer(help="Evaluate retrieval and RAG systems: trec_eval-exact measures and "
                       "paired statistics.", no_args_is_help=True, add_completion=False)
datasets_app = typer.Typer(help="Test collections.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

err = Console(stderr=True, soft_wrap=True)


class EvalFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    trec_eval = "trec_eval"


def _fail(exc: Exception) -> None:
    # Plain text, never wrapped: the message carries file:line for editors to jump to.
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _is_trec_spec(text: str) -> bool:
    from ragbench.core.metrics import FAMILIES, NICKNAMES
    return text in NICKNAMES or text.partition(".")[0] in FAMILIES


def _report_mismatch(ev, complete: bool) -> None:
    m = ev.mismatch
    if m.only_in_qrels:
        how = "counted as zero (-c)" if complete else "skipped from the averages (use -c to count them as zero)"
        err.print(f"note: run {ev.run_name}: {len(m.only_in_qrels)} judged queries have no "
                  f"results: {how}", highlight=False)
    if m.only_in_run:
        err.print(f"note: run {ev.run_name}: {len(m.only_in_run)} queries in the run have no "
                  "judgments: ignored", highlight=False)


@app.command()
def evaluate(
    qrels: Annotated[Path, typer.Argument(
        help="Qrels: TREC qrels file, BEIR qrels .tsv, or a BEIR folder (qrels/test.tsv)")],
    runs: Annotated[list[Path], typer.Argument(
        help="One or more runs: TREC, or .jsonl / .parquet")],
    measure: Annotated[Optional[list[str]], typer.Option(
        "-m", "--measure",
        help="nDCG@10, P(rel=2)@5, AP ... or trec_eval specs: official, all_trec, P.5,10, "
             "ndcg_cut.10 (default: trec_eval's official set)")] = None,
    per_query: Annotated[bool, typer.Option("-q", help="Also print per-query values")] = False,
    complete: Annotated[bool, typer.Option(
        "-c", help="Average over every judged query; a query missing from a run counts "
                   "as zero")] = False,
    max_docs: Annotated[Optional[int], typer.Option(
        "-M", help="Keep only the top N documents of each ranking")] = None,
    level: Annotated[Optional[int], typer.Option(
        "-l", help="Relevance threshold: grade >= N is relevant (default 1)")] = None,
    fmt: Annotated[EvalFormat, typer.Option("--format", "-f")] = EvalFormat.table,
    trec_eval_version: Annotated[int, typer.Option(
        "--trec-eval-version", help="10 (default) or 9: trec_eval 9.x semantics, as "
                                    "most published numbers and pytrec_eval")] = 10,
    save: Annotated[Optional[Path], typer.Option(
        help="Also write each run's per-query values to DIR/<run>.parquet (or .jsonl)")] = None,
    save_format: Annotated[str, typer.Option(help="parquet or jsonl")] = "parquet",
) -> None:
    """Evaluate runs against qrels, like trec_eval."""
    from ragbench.core.evaluate import evaluate as evaluate_measures
    from ragbench.core.evaluate import evaluate_trec
    from ragbench.core.io import format_trec_eval
    from ragbench.core.io.report import evaluations_to_csv, evaluations_to_json
    from ragbench.core.io import read_run
    from ragbench.core.measures import parse

    try:
        if trec_eval_version not in (9, 10):
            raise MeasureError(f"--trec-eval-version must be 9 or 10, got {trec_eval_version}")
        q = _read_qrels(qrels)
        specs = measure or []
        trec_mode = all(_is_trec_spec(s) for s in specs)
        if not trec_mode:
            bad = [s for s in specs if "." in s and _is_trec_spec(s)]
            if bad:
                raise MeasureError(f"cannot mix trec_eval specs ({', '.join(bad)}) with "
                                   "ragbench measures in one call")
            measures = [parse(s) for s in specs]
            if level is not None:
                measures = [m if "rel" in dict(m.params) else
                            parse(_with_rel(str(m), level)) for m in measures]
        evs = []
        for path in runs:
            run = read_run(path)
            if trec_mode:
                ev = evaluate_trec(q, run, specs or None, relevance_level=1 if level is None
                                   else level, max_docs=max_docs, complete=complete,
                                   version=trec_eval_version)
            else:
                ev = evaluate_measures(q, run, measures, max_docs=max_docs,
                                       complete=complete, version=trec_eval_version)
            _report_mismatch(ev, complete)
            evs.append(ev)
        if save is not None:
            _save_results(evs, save, save_format)
    except RagbenchError as exc:
        _fail(exc)
    if fmt is EvalFormat.trec_eval:
        sys.stdout.write("".join(format_trec_eval(ev, per_query=per_query) for ev in evs))
    elif fmt is EvalFormat.json:
        sys.stdout.write(evaluations_to_json(evs, per_query=per_query))
    elif fmt is EvalFormat.csv:
        sys.stdout.write(evaluations_to_csv(evs, per_query=per_query))
    else:
        _print_table(evs, per_query)


class CompareFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class TestName(str, Enum):
    t = "t"
    wilcoxon = "wilcoxon"
    randomization = "randomization"


class CorrectionName(str, Enum):
    holm = "holm"
    bonferroni = "bonferroni"
    bh = "bh"
    none = "none"


@app.command()
def compare(
    qrels: Annotated[Path, typer.Argument(
        help="Qrels: TREC qrels file, BEIR qrels .tsv, or a BEIR folder (qrels/test.tsv)")],
    runs: Annotated[list[Path], typer.Argument(
        help="Two or more runs: TREC, or .jsonl / .parquet")],
    measure: Annotated[Optional[list[str]], typer.Option(
        "-m", "--measure", help="Measure(s) to compare on, e.g. nDCG@10")] = None,
    baseline: Annotated[Optional[str], typer.Option(
        help="Compare every run against this one (run name or file); default: all pairs")] = None,
    test: Annotated[TestName, typer.Option(help="Paired test")] = TestName.t,
    correction: Annotated[CorrectionName, typer.Option(
        help="Multiple-comparison correction over the compared pairs")] = CorrectionName.holm,
    alpha: Annotated[float, typer.Option(help="Significance level")] = 0.05,
    resamples: Annotated[int, typer.Option(
        help="Randomization / bootstrap resamples")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed for randomization and bootstrap")] = 0,
    fmt: Annotated[CompareFormat, typer.Option("--format", "-f")] = CompareFormat.table,
    trec_eval_version: Annotated[int, typer.Option("--trec-eval-version")] = 10,
) -> None:
    """Leaderboard with paired significance tests, corrected p-values and effect sizes.

    Queries are paired over every judged query; a query a run did not answer
    counts as 0 for it."""
    from ragbench.core.io.report import (leaderboards_to_csv, leaderboards_to_json,
                                         leaderboards_to_markdown)
    from ragbench.core.io import read_run
    from ragbench.core.leaderboard import compare_runs, unique_names

    try:
        q = _read_qrels(qrels)
        loaded = [read_run(p) for p in runs]
        names = unique_names([r.name for r in loaded], [p.name for p in runs])
        base = None
        if baseline is not None:
            by_path = {str(p): n for p, n in zip(runs, names)} | {p.name: n for p, n in
                                                                zip(runs, names)}
            base = baseline if baseline in names else by_path.get(baseline)
            if base is None:
                raise MeasureError(f"--baseline {baseline!r} is neither a run name "
                                   f"({', '.join(names)}) nor one of the run files")
        boards = compare_runs(q, loaded, measure or ["nDCG@10"], names=names, baseline=base,
                              test=test.value, correction=correction.value, alpha=alpha,
                              n_resamples=resamples, seed=seed, version=trec_eval_version)
        for lb in boards[:1]:
            for name, mm in lb.mismatches.items():
                if mm.only_in_qrels:
                    err.print(f"note: run {name}: {len(mm.only_in_qrels)} judged queries "
                              "have no results: counted as 0", highlight=False)
    except RagbenchError as exc:
        _fail(exc)
    if fmt is CompareFormat.json:
        sys.stdout.write(leaderboards_to_json(boards))
    elif fmt is CompareFormat.csv:
        sys.stdout.write(leaderboards_to_csv(boards))
    elif fmt is CompareFormat.markdown:
        sys.stdout.write(leaderboards_to_markdown(boards))
    else:
        _print_leaderboards(boards)


def _print_leaderboards(boards) -> None:
    from ragbench.core.io.report import LEADERBOARD_HEADERS, leaderboard_cells, leaderboard_rows
    out = Console(width=max(Console().width, 150))
    for lb in boards:
        b = lb.board
        table = Table(title=f"{lb.measure}: {len(lb.query_ids)} queries, {b.test} test, "
                            f"{b.correction} correction, alpha {b.alpha}",
                      title_justify="left",
                      caption="* significant after correction; systems sharing a group "
                              "letter are not significantly different",
                      caption_justify="left")
        for i, h in enumerate(LEADERBOARD_HEADERS):
            table.add_column(h, justify="left" if i in (1, 4, 10) else "right")
        for row in leaderboard_rows(lb):
            table.add_row(*leaderboard_cells(row))
        out.print(table)


def _save_results(evs, folder: Path, fmt: str) -> None:
    from ragbench.core.io import write_results_jsonl, write_results_parquet
    from ragbench.core.leaderboard import unique_names

    writers = {"parquet": write_results_parquet, "jsonl": write_results_jsonl}
    if fmt not in writers:
        raise MeasureError(f"--save-format must be parquet or jsonl, got {fmt!r}")
    if folder.exists() and not folder.is_dir():
        raise MeasureError(f"--save {folder}: not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    names = unique_names([ev.run_name for ev in evs],
                         [f"{ev.run_name}-{i + 1}" for i, ev in enumerate(evs)])
    for name, ev in zip(names, evs):
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        path = folder / f"{safe}.{fmt}"
        writers[fmt](ev, path)
        err.print(f"wrote {path}", highlight=False)


def _with_rel(text: str, level: int) -> str:
    name, _, cut = text.partition("@")
    if "(" in name:
        name = name[:-1] + f",rel={level})"
    else:
        name = f"{name}(rel={level})"
    return f"{name}@{cut}" if cut else name


def _read_qrels(path: Path):
    from ragbench.core.io import read_qrels
    return read_qrels(path)


def _print_table(evs, per_query: bool) -> None:
    out = Console(width=max(Console().width, 120))
    if not per_query:  # one row per run
        names = [c.name for c in evs[0].columns if c.value_type != "str"]
        table = Table(title=f"{len(evs)} run(s), means over evaluated queries",
                      title_justify="left")
        table.add_column("run")
        table.add_column("queries", justify="right")
        for n in names:
            table.add_column(n, justify="right")
        for ev in evs:
            summary = ev.summary()
            table.add_row(ev.run_name, str(len(ev.query_ids)),
                          *(_num(summary[n]) if n in summary else "" for n in names))
        out.print(table)
        return
    for ev in evs:
        cols = [c for c in ev.columns if c.value_type != "str"]
        table = Table(title=f"{ev.run_name} ({len(ev.query_ids)} queries)", title_justify="left")
        table.add_column("query")
        for c in cols:
            table.add_column(c.name, justify="right")
        for i, qid in enumerate(ev.query_ids):
            table.add_row(qid, *(_num(c.per_query[i]) if c.per_query is not None else ""
                                 for c in cols))
        table.add_row("all", *(_num(c.summary) if c.summary is not None else ""
                               for c in cols), style="bold")
        out.print(table)


def _num(v) -> str:
    if isinstance(v, (int,)) or (hasattr(v, "dtype") and v.dtype.kind in "iu"):
        return str(int(v))
    return f"{float(v):.4f}"


@datasets_app.command("synth")
def datasets_synth(
    folder: Annotated[Path, typer.Argument(help="Where to write the collection")],
    seed: Annotated[int, typer.Option(help="Same seed, byte-identical files")] = 0,
    docs: Annotated[int, typer.Option(help="Number of documents")] = 500,
    queries: Annotated[int, typer.Option(help="Number of queries")] = 30,
) -> None:
    """Write a deterministic synthetic BEIR-format collection and three TREC runs.

    corpus.jsonl, queries.jsonl, qrels/test.tsv (graded 0-2, some unjudged) and
    runs/*.run of decreasing quality: a collection for trying ragbench offline.
    """
    from ragbench.core.synthetic import write_synthetic

    try:
        out = write_synthetic(folder, seed, num_docs=docs, num_queries=queries)
    except (RagbenchError, ValueError) as exc:
        _fail(exc)
    runs = sorted(p.name for p in (Path(out) / "runs").glob("*.run"))
    typer.echo(f"wrote {out}: {docs} documents, {queries} queries, qrels/test.tsv, "
               f"runs: {', '.join(runs)}")


from ragbench import server_cli  # noqa: E402  (service commands: serve, serve-system, keys)

server_cli.register(app)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
