"""Significance groups (compact letter display)."""

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragbench.core.stats import SignificanceGroup, StatsError, significance_groups


def _letters(groups, names):
    return {name: "".join(g.letter for g in groups if name in g.systems) for name in names}


def test_nothing_different_is_one_group():
    assert significance_groups(["A", "B", "C"], []) == (SignificanceGroup("a", ("A", "B", "C")),)


def test_everything_different_is_one_group_each():
    names = ["A", "B", "C"]
    groups = significance_groups(names, combinations(names, 2))
    assert _letters(groups, names) == {"A": "a", "B": "b", "C": "c"}


def test_chain_by_hand():
    # A > B > C with only A-C significant: A and C must not share a letter, B shares one
    # with each -> A "a", B "ab", C "b".
    groups = significance_groups(["A", "B", "C"], [("C", "A")])
    assert groups == (SignificanceGroup("a", ("A", "B")), SignificanceGroup("b", ("B", "C")))


def test_overlapping_groups_by_hand():
    # Best first A..E; different: A-D, A-E, B-E. Maximal indistinguishable sets:
    # {A,B,C}, {B,C,D}, {C,D,E} -> a, ab, abc, bc, c.
    names = ["A", "B", "C", "D", "E"]
    groups = significance_groups(names, [("A", "D"), ("A", "E"), ("B", "E")])
    assert _letters(groups, names) == {"A": "a", "B": "ab", "C": "abc", "D": "bc", "E": "c"}


def test_letters_continue_after_z():
    names = [f"s{i}" for i in range(30)]
    groups = significance_groups(names, combinations(names, 2))
    assert [g.letter for g in groups][24:] == ["y", "z", "aa", "ab", "ac", "ad"]


def test_empty_and_single():
    assert significance_groups([], []) == ()
    assert significance_groups(["A"], []) == (SignificanceGroup("a", ("A",)),)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda m: st.tuples(
            st.just(m),
            st.sets(
                st.tuples(st.integers(0, m - 1), st.integers(0, m - 1)).filter(
                    lambda p: p[0] != p[1]
                )
            ),
        )
    )
)
def test_share_a_letter_iff_not_different(case):
    m, pairs = case
    names = [f"s{i}" for i in range(m)]
    different = {frozenset((names[i], names[j])) for i, j in pairs}
    groups = significance_groups(names, [tuple(pair) for pair in different])
    letters = _letters(groups, names)
    assert all(letters[name] for name in names)
    for x, y in combinations(names, 2):
        share = bool(set(letters[x]) & set(letters[y]))  # single-character letters here
        assert share == (frozenset((x, y)) not in different)
    # No letter is redundant: dropping any group breaks the property.
    for dropped in groups:
        rest = [g for g in groups if g is not dropped]
        covered = all(any(name in g.systems for g in rest) for name in names) and all(
            any(x in g.systems and y in g.systems for g in rest)
            for x, y in combinations(names, 2)
            if frozenset((x, y)) not in different
        )
        assert not covered
    assert groups[0].systems[0] == names[0]


@pytest.mark.parametrize(
    ("systems", "different", "message"),
    [
        (["A", "A"], [], "unique"),
        (["A", "B"], [("A", "C")], "unknown system 'C'"),
        (["A", "B"], [("A", "A")], "cannot differ from itself"),
        (["A", "B"], ["AB"], "expected pairs"),
        (["A", "B"], [("A",)], "expected pairs"),
        ([1, 2], [], "names"),
    ],
)
def test_bad_input(systems, different, message):
    with pytest.raises(StatsError, match=message):
        significance_groups(systems, different)
