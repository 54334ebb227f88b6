"""trec_eval 10.0's own expected outputs as an oracle for the measure families.

Use the ``trec_oracle`` fixture::

    def test_x(trec_oracle):
        expected, actual = trec_oracle.compare("out.test.aq", ["Rprec", "recall"])
        assert actual == expected

Both sides are ``{(printed name, query id or 'all'): printed value}`` restricted
to the names the given families print under that file's command line (see
:data:`CASES`, copied from the test data's README), so a missing or extra row
shows up as a difference. Values are compared as trec_eval prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ragbench.core.errors import FormatError
from ragbench.core.evaluate import evaluate_trec
from ragbench.core.io import read_trec_qrels, read_trec_run
from ragbench.core.io.trec_eval_text import format_trec_eval
from ragbench.core.metrics import FAMILIES, NICKNAMES
from ragbench.core.trec_spec import parse_trec_specs

TESTDATA = Path("/work/shared/testdata/trec_eval")


@dataclass(frozen=True)
class Case:
    """One trec_eval command line of the reference test suite."""

    qrels: str
    run: str
    specs: tuple[str, ...] = ("official",)
    per_query: bool = False
    relevance_level: int = 1
    complete: bool = False
    max_docs: int | None = None


CASES = {
    "out.test": Case("qrels.test", "results.test"),
    "out.comment.test": Case("qrels.comment.test", "results.comment.test"),
    "out.test.a": Case("qrels.test", "results.test", ("all_trec",)),
    "out.test.aq": Case("qrels.test", "results.test", ("all_trec",), per_query=True),
    "out.test.aqc": Case("qrels.test", "results.trunc", ("all_trec",), per_query=True,
                         complete=True),
    "out.test.aqcM": Case("qrels.test", "results.trunc", ("all_trec",), per_query=True,
                          complete=True, max_docs=100),
    "out.test.aql": Case("qrels.rel_level", "results.test", ("all_trec", "relstring.20"),
                         per_query=True, relevance_level=2),
    "out.test.meas_params": Case(
        "qrels.test", "results.test",
        ("iprec_at_recall..10,.20,.25,.75,.50", "P.5,7,3", "recall.20,2000",
         "Rprec_mult.5.0,0.2,0.35", "utility.2,-1,0,0", "11pt_avg..25,.5,.75",
         "ndcg.1=3,2=9,4=4.5", "ndcg_cut.10,20,23.4", "success.2,5,20"),
        per_query=True),
}


def _family_specs(case: Case, families: list[str]) -> list[str]:
    """The case's ``-m`` arguments that concern ``families`` only."""
    wanted = set(families)
    out = []
    for spec in case.specs:
        if spec in NICKNAMES:
            out += [n for n in NICKNAMES[spec] if n in wanted]
        elif spec.partition(".")[0] in wanted:
            out.append(spec)
    return out


def _parse_report(text: str) -> dict[tuple[str, str], str]:
    rows = {}
    for line in text.splitlines():
        name, qid, value = line.split("\t")
        rows[(name.rstrip(), qid)] = value
    return rows


@dataclass
class TrecOracle:
    tmp: Path
    _expected: dict = field(default_factory=dict)
    _inputs: dict = field(default_factory=dict)

    def expected(self, out_file: str) -> dict[tuple[str, str], str]:
        if out_file not in self._expected:
            self._expected[out_file] = _parse_report((TESTDATA / out_file).read_text())
        return self._expected[out_file]

    def _run(self, name: str):
        try:
            return read_trec_run(TESTDATA / name)
        except FormatError:
            # results.trunc has words after the tag, which trec_eval ignores; if the
            # reader refuses them, keep the six TREC columns (that is the reader's
            # test, not the measures').
            path = self.tmp / name
            lines = (TESTDATA / name).read_text().splitlines()
            path.write_text("".join(" ".join(ln.split()[:6]) + "\n" for ln in lines
                                    if ln.strip() and not ln.startswith("#")))
            return read_trec_run(path)

    def inputs(self, case: Case):
        key = (case.qrels, case.run)
        if key not in self._inputs:
            self._inputs[key] = (read_trec_qrels(TESTDATA / case.qrels),
                                 self._run(case.run))
        return self._inputs[key]

    def compare(self, out_file: str, families: list[str]):
        """(expected, actual) rows of ``out_file`` for the names ``families`` print."""
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise KeyError(f"families not registered: {unknown}")
        case = CASES[out_file]
        specs = _family_specs(case, families)
        if not specs:
            return {}, {}
        names = {n for m in parse_trec_specs(specs) for n in m.names}
        qrels, run = self.inputs(case)
        ev = evaluate_trec(qrels, run, specs, relevance_level=case.relevance_level,
                           max_docs=case.max_docs, complete=case.complete)
        actual = _parse_report(format_trec_eval(ev, per_query=case.per_query))
        expected = {k: v for k, v in self.expected(out_file).items() if k[0] in names}
        return expected, {k: v for k, v in actual.items() if k[0] in names}


@pytest.fixture(scope="session")
def trec_oracle(tmp_path_factory) -> TrecOracle:
    return TrecOracle(tmp_path_factory.mktemp("trec_oracle"))
