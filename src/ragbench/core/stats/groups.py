"""Significance groups for a leaderboard, in compact-letter-display style.

Systems that are NOT significantly different share at least one letter; systems that
ARE significantly different share none. So "a", "ab", "b" reads: the first and the
last differ, the middle one differs from neither.

Algorithm: insert-and-absorb (Piepho 2004, Comput. Stat. Data Anal. 46:555). Start with
one group holding every system; for each significantly different pair (i, j), split
every group holding both into "group minus i" and "group minus j", then drop groups
contained in another. What is left are the maximal sets of mutually indistinguishable
systems. A final sweep drops a group when every pair (and every system) in it is also
covered by another group, so no letter is redundant. Letters are given in leaderboard
order: the group holding the best-ranked system is "a". Cost grows with the number of
maximal groups, which is small for leaderboards of tens of systems.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from string import ascii_lowercase
from typing import Any

from .errors import StatsError

__all__ = ["SignificanceGroup", "significance_groups"]


@dataclass(frozen=True, slots=True)
class SignificanceGroup:
    """One letter and the systems carrying it, in leaderboard order."""

    letter: str
    systems: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def significance_groups(
    systems: Sequence[str], different: Iterable[tuple[str, str]]
) -> tuple[SignificanceGroup, ...]:
    """Letter groups for ``systems`` (best first) given the significantly different pairs.

    ``different`` lists unordered pairs ``(x, y)`` judged significantly different (e.g.
    corrected ``p <= alpha``); every other pair counts as not different. Guarantee: two
    systems share a letter if and only if their pair is not in ``different``. Letters
    run "a".."z", then "aa", "ab", ...
    """
    names = list(systems)
    if any(not isinstance(name, str) for name in names):
        raise StatsError("systems must be names (str)")
    if len(set(names)) != len(names):
        raise StatsError("systems must be unique names")
    index = {name: position for position, name in enumerate(names)}
    pairs: set[tuple[int, int]] = set()
    for pair in different:
        try:
            if isinstance(pair, str):
                raise TypeError
            x, y = pair
        except (TypeError, ValueError):
            raise StatsError(f"different: expected pairs of system names, got {pair!r}") from None
        if x not in index or y not in index:
            unknown = x if x not in index else y
            raise StatsError(f"different: unknown system {unknown!r}")
        if x == y:
            raise StatsError(f"different: a system cannot differ from itself ({x!r})")
        pairs.add((min(index[x], index[y]), max(index[x], index[y])))
    if not names:
        return ()

    # Groups are bit masks over system positions.
    groups = [(1 << len(names)) - 1]
    for i, j in sorted(pairs):
        both = (1 << i) | (1 << j)
        split: list[int] = []
        for group in groups:
            if group & both == both:
                split.extend((group & ~(1 << i), group & ~(1 << j)))
            else:
                split.append(group)
        groups = _maximal(split)
    groups.sort(key=lambda group: _members(group, len(names)))
    groups = _without_redundant(groups, len(names))
    return tuple(
        SignificanceGroup(_letter(k), tuple(names[i] for i in _members(group, len(names))))
        for k, group in enumerate(groups)
    )


def _members(group: int, size: int) -> list[int]:
    return [i for i in range(size) if group >> i & 1]


def _maximal(groups: list[int]) -> list[int]:
    unique = sorted(set(groups), key=lambda group: -group.bit_count())
    kept: list[int] = []
    for group in unique:  # larger first, so a subset always meets its superset in `kept`
        if not any(group & other == group for other in kept):
            kept.append(group)
    return kept


def _without_redundant(groups: list[int], size: int) -> list[int]:
    kept = list(groups)
    for group in reversed(groups):  # prefer dropping late letters
        others = [other for other in kept if other != group]
        members = _members(group, size)
        covered = all(any(other >> i & 1 for other in others) for i in members) and all(
            any(other >> i & 1 and other >> j & 1 for other in others)
            for i, j in combinations(members, 2)
        )
        if covered:
            kept = others
    return kept


def _letter(k: int) -> str:
    letters = ""
    k += 1
    while k:
        k, remainder = divmod(k - 1, 26)
        letters = ascii_lowercase[remainder] + letters
    return letters
