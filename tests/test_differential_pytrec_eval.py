"""Differential test: ragbench ``evaluate_trec(..., version=9)`` against pytrec_eval.

pytrec_eval-terrier 0.5.11 wraps trec_eval 9.x's own C code, so it is an independent
oracle for every measure the two share. Hypothesis draws small collections that
stress trec_eval's corner cases (see :func:`collections_`) and every per-query value
of every shared measure must agree to 1e-9, for relevance levels 1 and 2, with
default and with non-default parameters.

What is *not* compared, and why (each one a known, documented difference):

* ``rbp``, ``rbp_resid``, ``unj``, ``dcg``, ``ideal_dcg``: trec_eval 10 measures that
  pytrec_eval's trec_eval 9 does not have (not in ``pytrec_eval.supported_measures``).
* ``runid`` and ``relstring``: string-valued in trec_eval; pytrec_eval can only return
  floats and reports a meaningless 0.0 for both.
* ``num_q``, ``gm_map``, ``gm_bpref``: ragbench reports these in the ``all`` row only,
  as trec_eval does. pytrec_eval returns trec_eval's internal per-query accumulator
  instead (1 for ``num_q``; ``log(max(v, 1e-5))`` for the gm_ measures), so those are
  compared as such, and against ragbench's summary.
* ``judged_docs_only_flag`` (trec_eval ``-J``): ragbench does not support it; never set.
* A query whose judgments are *all* negative (in the pool, none judged): trec_eval's
  ``form_res_rels.c`` sizes ``rel_levels`` as ``max_rel + 1`` with ``max_rel`` < 0 and
  leaves ``num_rel_levels`` stale from the previous query, so its values are undefined
  (pytrec_eval segfaults on ``{"q": {"d": -2}}`` with gm_bpref and recip_rank). Not
  generated; :func:`test_query_with_only_unjudged_documents` pins ragbench's values.
* A run query with an *empty* ranking (``{"q": {}}``) is evaluated by pytrec_eval but
  cannot be written in a TREC run file, and ``Run.from_dict`` drops it; not generated.

pytrec_eval's Python wrapper rewrites measure strings with a regex that accepts only
non-negative numbers and sorts the parameters as strings, so ``utility.2,-1,0,0`` or
``ndcg.0=0,1=1`` would be mangled (the regex even matches a prefix and silently drops
the rest). Such specs go straight to its C extension type (the wrapper's base class),
which hands the text after the first dot to trec_eval unchanged, like ``-m`` does.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import pytrec_eval  # a pinned dev dependency: a missing oracle must fail, not skip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragbench.core import Qrels, Run, evaluate_trec, read_trec_qrels, read_trec_run
from ragbench.core.metrics import FAMILIES
from ragbench.core.trec_spec import parse_trec_specs

TOL = 1e-9
MIN_GEO_MEAN = 1e-5  # trec_eval's floor before the log of a gm_ measure

TREC_EVAL_10_ONLY = {"rbp", "rbp_resid", "unj", "dcg", "ideal_dcg"}
STRING_VALUED = {"runid", "relstring"}

SHARED = sorted(set(FAMILIES) & set(pytrec_eval.supported_measures))
COMPARED = [m for m in SHARED if m not in STRING_VALUED]

# Parameters other than the defaults, one spec per family (trec_eval: the first
# parameters given for a family win, so each set is its own evaluation).
PARAMS_A = {
    "P": "P.1,2,3,7", "recall": "recall.1,2,4,9", "relative_P": "relative_P.1,3,6",
    "success": "success.2,3,20", "map_cut": "map_cut.1,2,4,8", "ndcg_cut": "ndcg_cut.1,2,3,6",
    "Rprec_mult": "Rprec_mult.0.5,1.5,3.0",
    "iprec_at_recall": "iprec_at_recall.0.05,0.25,0.33,0.5,0.75,0.95",
    "11pt_avg": "11pt_avg.0.25,0.5,0.75", "set_F": "set_F.0.5",
    "utility": "utility.2,-1,0,0", "ndcg": "ndcg.0=0,1=1,2=5,3=10",
    "G": "G.1=2,2=4,3=4", "ndcg_rel": "ndcg_rel.1=0,2=3", "Rndcg": "Rndcg.0=1,1=2,2=3,3=4",
}
PARAMS_B = {
    "P": "P.4", "recall": "recall.3", "relative_P": "relative_P.2", "success": "success.1",
    "map_cut": "map_cut.3", "ndcg_cut": "ndcg_cut.4,5", "Rprec_mult": "Rprec_mult.0.2",
    "iprec_at_recall": "iprec_at_recall.0.15,0.45,0.85", "11pt_avg": "11pt_avg.0.1,0.9",
    "set_F": "set_F.2", "utility": "utility.0.5,-0.25,0.1,-2", "ndcg": "ndcg.3=1",
    "G": "G.0=1", "ndcg_rel": "ndcg_rel.2=1,3=7", "Rndcg": "Rndcg.1=0.5,3=2.5",
}
SPEC_SETS = [
    list(COMPARED),
    [PARAMS_A.get(m, m) for m in COMPARED],
    [PARAMS_B.get(m, m) for m in COMPARED],
]
_WRAPPER_SAFE = re.compile(r"[A-Za-z0-9_]+(\.[0-9]+(\.[0-9]+)?(,[0-9]+(\.[0-9]+)?)*)?")


def _wrapper_safe(spec: str) -> bool:
    """True if pytrec_eval's wrapper passes ``spec`` to trec_eval with its meaning kept."""
    name, dot, params = spec.partition(".")
    if not _WRAPPER_SAFE.fullmatch(spec):
        return False
    if not dot:
        return True
    # The wrapper sorts parameters as strings: harmless for cutoff lists, which
    # trec_eval sorts anyway, for 11pt_avg's recall levels (a mean) and set_F's one.
    return FAMILIES[name].param_kind in ("long_cutoffs", "double_cutoffs") or name in (
        "11pt_avg", "set_F")


def pytrec_values(qrels: dict, run: dict, specs: list[str], level: int) -> dict:
    """pytrec_eval's per-query values for trec_eval specs, ``{qid: {name: value}}``."""
    safe = {s for s in specs if _wrapper_safe(s)}
    raw = set(specs) - safe
    out: dict[str, dict[str, float]] = {}
    evaluators = [pytrec_eval.RelevanceEvaluator(qrels, safe, relevance_level=level)]
    if raw:
        ext = pytrec_eval.RelevanceEvaluator.__mro__[1]  # the C extension type
        # the wrapper drops judgment-less queries before calling it (pytrec_eval #57)
        evaluators.append(ext({q: d for q, d in qrels.items() if d}, raw,
                              relevance_level=level))
    for e in evaluators:
        for qid, values in e.evaluate(run).items():
            out.setdefault(qid, {}).update(values)
    return out


def _same(a: float, b: float) -> bool:
    """Equal to ``TOL``; NaN (trec_eval's 0/0, e.g. Rndcg with all-zero gains) only
    matches NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= TOL


def _pytrec_key(family_name: str, output_name: str) -> str:
    """pytrec_eval names a cutoff measure's outputs as trec_eval does (``P_5``),
    anything else by the bare family name (``utility``, not ``utility_2,-1,0,0``)."""
    if FAMILIES[family_name].param_kind in ("long_cutoffs", "double_cutoffs"):
        return output_name
    return family_name


def assert_agrees(qrels: dict, run: dict, specs: list[str], level: int) -> int:
    """Compare every shared value; return how many per-query values were compared."""
    ev = evaluate_trec(Qrels.from_dict(qrels), Run.from_dict(run), specs,
                       relevance_level=level, version=9)
    expected = pytrec_values(qrels, run, specs, level)
    assert set(expected) == set(ev.query_ids)
    assert set(ev.mismatch.only_in_qrels) == set(qrels) - set(run)
    assert set(ev.mismatch.only_in_run) == set(run) - set(qrels)
    spec_of = {s.partition(".")[0]: s for s in specs}
    family_of = {name: m.family.name for m in parse_trec_specs(specs) for name in m.names}
    compared = 0
    for col in ev.columns:
        fam = family_of[col.name]
        key = _pytrec_key(fam, col.name)
        got_per_query = {q: expected[q][key] for q in ev.query_ids}
        where = f"{col.name} (spec {spec_of[fam]!r}, -l{level})"
        if fam == "num_q":
            assert all(v == 1.0 for v in got_per_query.values()), where
            assert col.summary == len(ev.query_ids), where
            continue
        if fam in ("gm_map", "gm_bpref"):
            # pytrec_eval's per-query gm_ value is trec_eval's log accumulator.
            logs = [got_per_query[q] for q in ev.query_ids]
            mean_log = math.fsum(logs) / len(logs)
            assert _same(col.summary, math.exp(mean_log)), where
            base = ev[fam[3:]].per_query if fam[3:] in ev.names else None
            if base is not None:
                mine = np.log(np.maximum(base, MIN_GEO_MEAN))
                np.testing.assert_allclose(mine, logs, rtol=0, atol=TOL, err_msg=where)
            continue
        for i, qid in enumerate(ev.query_ids):
            mine = float(col.per_query[i])
            theirs = got_per_query[qid]
            assert _same(mine, theirs), (
                f"{where}, query {qid!r}: ragbench {mine!r} != pytrec_eval {theirs!r}\n"
                f"qrels={qrels!r}\nrun={run!r}")
            compared += 1
        if col.summary is not None and FAMILIES[fam].average == "mean":
            mean = math.fsum(got_per_query.values()) / len(ev.query_ids)
            assert _same(col.summary, mean), f"{where}: summary"
    return compared


# ---- collections -----------------------------------------------------------------

QIDS = ["1", "10", "100", "2", "q", "q1", "q10", "topic-000000000000000001",
        "topic-000000000000000002"]
# Shared prefixes, ids longer than 16 bytes (past any fixed-width key), digits that
# sort differently as text ("9" > "10"), non-ASCII (byte order: "é" > "z").
DOCS = ["d", "d1", "d10", "d100", "d2", "d9", "D1", "dz", "dé",
        "doc-0000000000000000001", "doc-0000000000000000002", "doc-00000000000000000010",
        "clueweb09-en0000-00-00001", "clueweb09-en0000-00-00001x",
        "clueweb09-en0000-00-0000"] + [f"x{i}" for i in range(25)]
# Scores that tie, including ties that exist only as float32 (what trec_eval 9 keeps):
# 1.0 vs 1.0 + 1e-9, and 1e-46 which underflows to 0.0.
TIE_SCORES = [0.0, 1.0, 1.0 + 1e-9, 1.0 - 1e-12, 0.5, 2.0, -1.5, 1e-46, 1e-30, 3.25]
scores_ = st.one_of(st.sampled_from(TIE_SCORES),
                    st.floats(-100, 100, allow_nan=False, allow_infinity=False),
                    st.integers(-3, 3).map(float))
grades_ = st.sampled_from([-2, -1, 0, 0, 1, 1, 2, 3])


@st.composite
def collections_(draw):
    """(qrels, run) dicts: queries only in the qrels, only in the run, and in both
    (at least one); queries with no relevant document; retrieved documents absent
    from the qrels; judged documents with negative grades (in the pool, unjudged);
    rankings of a single document."""
    qids = draw(st.lists(st.sampled_from(QIDS), min_size=1, max_size=5, unique=True))
    n_both = draw(st.integers(1, len(qids)))
    both, rest = qids[:n_both], qids[n_both:]
    only_qrels = [q for i, q in enumerate(rest) if i % 2 == 0]
    only_run = [q for i, q in enumerate(rest) if i % 2 == 1]
    qrels, run = {}, {}
    for q in both + only_qrels:
        docs = draw(st.lists(st.sampled_from(DOCS), min_size=1, max_size=12, unique=True))
        qrels[q] = {d: draw(grades_) for d in docs}
        if max(qrels[q].values()) < 0:  # trec_eval: undefined (module doc)
            qrels[q][docs[0]] = draw(st.integers(0, 3))
    for q in both + only_run:
        pool = list(qrels.get(q, {}))
        judged = draw(st.lists(st.sampled_from(pool), unique=True)) if pool else []
        other = draw(st.lists(st.sampled_from(DOCS), max_size=20, unique=True))
        docs = list(dict.fromkeys(judged + other)) or [draw(st.sampled_from(DOCS))]
        if draw(st.booleans()) and len(docs) > 1 and draw(st.integers(0, 4)) == 0:
            docs = docs[:1]
        run[q] = {d: draw(scores_) for d in docs}
    return qrels, run


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collections_(), st.sampled_from([1, 2]), st.sampled_from([0, 1, 2]))
def test_every_shared_measure_agrees_with_pytrec_eval(collection, level, spec_set):
    qrels, run = collection
    assert assert_agrees(qrels, run, SPEC_SETS[spec_set], level) > 0


# ---- deterministic cases ---------------------------------------------------------

# trec_eval's own test inputs: 500-1000 document rankings, graded levels -1..4
# (qrels.rel_level), a truncated run missing a query, MS MARCO docnos holding '#'
# with 270 run-only queries (results.comment.test).
FILE_PAIRS = [("qrels.test", "results.test"), ("qrels.rel_level", "results.test"),
              ("qrels.test", "results.trunc"), ("qrels.comment.test", "results.comment.test")]


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("spec_set", [0, 1, 2])
@pytest.mark.parametrize("files", FILE_PAIRS, ids=lambda p: "+".join(p))
def test_trec_eval_test_files_agree_with_pytrec_eval(trec_eval_dir, files, level, spec_set):
    qrels = read_trec_qrels(trec_eval_dir / files[0]).to_dict()
    run = read_trec_run(trec_eval_dir / files[1]).to_dict()
    assert assert_agrees(qrels, run, SPEC_SETS[spec_set], level) > 0


@pytest.mark.parametrize("level", [1, 2])
def test_float32_only_tie_is_broken_by_docno(level):
    # 1.0 and 1.0 + 1e-9 are one float32: trec_eval 9 ranks "a" (docno descending)
    # after "b" although its double score is higher. AP: b nonrel, a rel -> 1/2.
    qrels = {"q": {"a": 2, "b": 0}}
    run = {"q": {"a": 1.0 + 1e-9, "b": 1.0}}
    assert_agrees(qrels, run, SPEC_SETS[0], level)
    ev = evaluate_trec(Qrels.from_dict(qrels), Run.from_dict(run), ["map"], version=9)
    assert ev["map"].per_query[0] == 0.5


def test_query_with_only_unjudged_documents():
    # trec_eval's values are undefined here (module doc), so no oracle: query "a" has
    # no judged document, hence no relevant one, and every measure is 0 except
    # num_ret = 2 and utility = 1*0 - 1*(2 - 0) + 0 + 0 = -2 (retrieved unjudged
    # documents count as retrieved non-relevant, as trec_eval's utility does).
    qrels = {"a": {"d": -2, "e": -1}, "b": {"x": 1, "y": 0}}
    run = {"a": {"d": 1.0, "z": 0.5}, "b": {"x": 1.0, "y": 2.0}}
    ev = evaluate_trec(Qrels.from_dict(qrels), Run.from_dict(run), SPEC_SETS[0], version=9)
    values = ev.per_query()["a"]
    assert values.pop("num_ret") == 2 and values.pop("utility") == -2.0
    assert values and all(v == 0 for v in values.values()), values
    # ... and it leaves query "b" as pytrec_eval computes it alone.
    alone = pytrec_values({"b": qrels["b"]}, {"b": run["b"]}, SPEC_SETS[0], 1)["b"]
    shared = [c for c in ev.columns if c.per_query is not None and c.name in alone]
    assert len(shared) > 80
    for col in shared:
        assert _same(float(col.per_query[1]), alone[col.name]), col.name


def test_not_compared_measures_are_exactly_the_documented_ones():
    # A new shared family must be added to the comparison, not skipped silently.
    assert set(FAMILIES) - set(pytrec_eval.supported_measures) == TREC_EVAL_10_ONLY
    assert set(SHARED) - set(COMPARED) == STRING_VALUED
    assert set(pytrec_eval.supported_measures) <= set(FAMILIES)


@pytest.mark.parametrize(("qrels_file", "level", "out_file"), [
    ("qrels.test", 1, "out.test.aq"), ("qrels.rel_level", 2, "out.test.aql")])
def test_version_10_differs_from_9_only_in_iprec_at_recall(trec_eval_dir, qrels_file, level,
                                                           out_file):
    qrels = read_trec_qrels(trec_eval_dir / qrels_file)
    run = read_trec_run(trec_eval_dir / "results.test")
    v9 = evaluate_trec(qrels, run, ["all_trec"], relevance_level=level, version=9)
    v10 = evaluate_trec(qrels, run, ["all_trec"], relevance_level=level, version=10)
    assert v9.names == v10.names
    differing = set()
    for a, b in zip(v9.columns, v10.columns):
        same_pq = (a.per_query is None and b.per_query is None) or (
            list(a.per_query) == list(b.per_query))
        if not same_pq or a.summary != b.summary:
            differing.add(a.name)
    assert differing, "versions 9 and 10 should differ on this run"
    assert all(n.startswith("iprec_at_recall_") or n == "11pt_avg" for n in differing), (
        differing)
    # Both sides are right: 10 matches trec_eval 10's output, 9 matches pytrec_eval.
    expected = {}
    for line in (trec_eval_dir / out_file).read_text().splitlines():
        name, qid, value = line.split()
        expected[name, qid] = value
    for name in differing:
        for i, qid in enumerate(v10.query_ids):
            assert f"{v10[name].per_query[i]:.4f}" == expected[name, qid], (name, qid)
        assert f"{v10[name].summary:.4f}" == expected[name, "all"], name
    theirs = pytrec_eval.RelevanceEvaluator(qrels.to_dict(), {"iprec_at_recall", "11pt_avg"},
                                            relevance_level=level).evaluate(run.to_dict())
    for name in differing:
        for i, qid in enumerate(v9.query_ids):
            assert abs(v9[name].per_query[i] - theirs[qid][name]) <= TOL, (name, qid)
