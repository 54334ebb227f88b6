"""Reading the ``results`` of a ragbench-contract answer: one pass over well-formed
items, and for a bad item the same message whichever form (hits or pairs) is asked."""

from __future__ import annotations

import math

import pytest

from ragbench.systems.transport import Hit, SystemCallError, contract_hits

GOOD = [{"doc_id": "d1", "score": 3.5, "text": "first"}, {"doc_id": "d2", "score": 2},
        {"doc_id": "d1", "score": -1.25, "text": None}]


def test_well_formed_items_as_hits_and_as_pairs():
    assert contract_hits("retrieve", GOOD) == [Hit("d1", 3.5, "first"), Hit("d2", 2.0),
                                               Hit("d1", -1.25)]
    pairs = contract_hits("retrieve", GOOD, pairs=True)
    assert pairs == [("d1", 3.5), ("d2", 2.0), ("d1", -1.25)]
    # An integer score is read as a float, as for a hit.
    assert all(type(score) is float for _, score in pairs)


@pytest.mark.parametrize(("items", "message"), [
    ([{"doc_id": "a", "score": 1.0}, "x"],
     "retrieve: results[1] is a string, expected an object with doc_id and score"),
    ([{"score": 1.0}], "retrieve: results[0].doc_id is missing"),
    ([{"doc_id": "a"}], "retrieve: results[0].score is missing"),
    ([{"doc_id": None, "score": 1.0}], "retrieve: results[0].doc_id is null, expected a string"),
    ([{"doc_id": 7, "score": 1.0}], "retrieve: results[0].doc_id is a number, expected a string"),
    ([{"doc_id": "", "score": 1.0}], "retrieve: results[0].doc_id is empty"),
    ([{"doc_id": "a", "score": True}],
     "retrieve: results[0].score is a boolean, expected a number"),
    ([{"doc_id": "a", "score": "0.5"}],
     "retrieve: results[0].score is a string, expected a number"),
    ([{"doc_id": "a", "score": 1.0}, {"doc_id": "b", "score": math.inf}],
     "retrieve: results[1].score is inf, expected a finite number"),
    ([{"doc_id": "a", "score": math.nan}],
     "retrieve: results[0].score is nan, expected a finite number"),
    ([{"doc_id": "a", "score": 1.0, "text": 5}],
     "retrieve: results[0].text is a number, expected a string"),
    # The first problem of an item is named: its id before its score.
    ([{"doc_id": ["a"], "score": 10 ** 400}],
     "retrieve: results[0].doc_id is a list, expected a string"),
])
@pytest.mark.parametrize("pairs", [False, True])
def test_a_bad_item_is_named_the_same_way_in_both_forms(items, message, pairs):
    with pytest.raises(SystemCallError) as raised:
        contract_hits("retrieve", items, pairs=pairs)
    error = raised.value
    assert error.message == message
    assert (error.retryable, error.stage, error.status_code) == (False, "format", 200)


def test_a_score_too_large_for_a_float_fails_as_float_does():
    with pytest.raises(OverflowError):
        float(10 ** 400)
    for pairs in (False, True):
        with pytest.raises(OverflowError):
            contract_hits("retrieve", [{"doc_id": "a", "score": 10 ** 400}], pairs=pairs)
