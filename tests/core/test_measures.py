"""Measure value objects: canonical strings parse back, bad names fail clearly,
and each measure maps onto trec_eval's name where one exists."""

from __future__ import annotations

import pytest

from ragbench.core.errors import MeasureError
from ragbench.core.measures import MEASURES, Measure, parse

CANONICAL = ["nDCG@10", "P@5", "R@100", "AP", "AP@100", "RR@10", "RR", "Rprec", "Bpref",
             "Success@5", "Judged@10", "P(rel=2)@5", "nDCG(gain=exp)@10",
             "nDCG(gain=exp,rel=2)@20", "RBP(p=0.8)", "infAP", "NumRet", "P", "R", "nDCG"]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_string_round_trips(text):
    m = parse(text)
    assert str(m) == text
    assert parse(str(m)) == m
    assert hash(parse(text)) == hash(m)


@pytest.mark.parametrize(("alias", "canonical"), [
    ("ndcg@10", "nDCG@10"), ("map", "AP"), ("MAP@100", "AP@100"), ("mrr@10", "RR@10"),
    ("P(rel=1)@5", "P@5"), ("nDCG(gain=linear)@10", "nDCG@10"), (" P @ 5 ", "P@5"),
    ("nDCG(rel=2,gain=exp)@10", "nDCG(gain=exp,rel=2)@10"), ("bpref", "Bpref"),
])
def test_aliases_and_defaults_have_one_spelling(alias, canonical):
    assert str(parse(alias)) == canonical


@pytest.mark.parametrize(("text", "trec"), [
    ("nDCG@10", "ndcg_cut_10"), ("P@5", "P_5"), ("R@100", "recall_100"), ("AP", "map"),
    ("AP@100", "map_cut_100"), ("RR", "recip_rank"), ("Rprec", "Rprec"), ("Bpref", "bpref"),
    ("Success@5", "success_5"), ("P", "set_P"), ("nDCG", "ndcg"), ("infAP", "infAP"),
    ("RR@10", None), ("nDCG(gain=exp)@10", None), ("Judged@10", None),
])
def test_trec_eval_equivalents(text, trec):
    assert parse(text).trec_name == trec


def test_rel_parameter_sets_relevance_level():
    assert parse("P(rel=2)@5").relevance_level == 2
    assert parse("P@5").relevance_level == 1


@pytest.mark.parametrize(("text", "fragment"), [
    ("nDGC@10", "unknown measure 'nDGC'"),
    ("P@0", "positive integer"),
    ("P@x", "positive integer"),
    ("Rprec@10", "takes no cutoff"),
    ("Success", "needs a cutoff"),
    ("P(foo=1)@5", "unknown parameter"),
    ("P(rel=x)@5", "not int"),
    ("nDCG(gain=cubic)@10", "gain must be exp or linear"),
    ("RBP(p=1.5)", "p must be in (0, 1)"),
    ("", "cannot parse"),
    ("P@@5", "positive integer"),
])
def test_bad_measures_say_what_is_wrong(text, fragment):
    with pytest.raises(MeasureError) as info:
        parse(text)
    assert fragment in str(info.value)


def test_measure_objects_are_values():
    assert parse("nDCG@10") == Measure("nDCG", 10)
    assert len({parse("ndcg@10"), parse("nDCG@10"), Measure("nDCG", 10)}) == 1
    assert set(MEASURES) >= {"P", "R", "AP", "RR", "nDCG", "Rprec", "Bpref", "Success",
                             "Judged"}
