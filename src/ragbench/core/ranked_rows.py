"""The row-level core of :func:`ragbench.core.ranking.judge`: each run row's
judgment, and trec_eval's order of the rows (query, then score descending, then
doc id descending).

:func:`ranked_relevance` does both in one C pass when the optional accelerator is
built (:mod:`ragbench.core._native`); otherwise, and as the reference the C code
is tested against, :func:`lookup` judges the rows in file order and
:func:`rank_rows` orders them, in numpy. The two give identical results.
"""

from __future__ import annotations

import numpy as np

from ragbench.core._native import accel
from ragbench.core.doc_keys import CHUNK, mix

NONPOOL = -1  # a retrieved document the qrels do not mention
UNJUDGED = -2  # a retrieved document the qrels give a negative grade


def ranked_relevance(r_qcode, r_map, scores, hi, lo, j_qi, j_hi, j_lo, j_rel, nq: int,
                     version: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rel, num_ret)``: the relevance of every run row of an evaluated query
    (query index ``r_map[r_qcode]`` >= 0), queries in index order, each query's
    rows in rank order; and each query's number of rows.

    In C when the accelerator is built (one pass: a small hash table of
    judgments per query, rows sorted only where the run is not already in rank
    order); else judged in file order by :func:`lookup`, then ranked by
    :func:`rank_rows`. The two agree exactly."""
    c = accel()
    if c is not None:
        rel = np.empty(len(r_qcode), dtype=np.int64)
        num_ret = np.empty(nq, dtype=np.int64)
        try:
            n = c.judge_rows(_c_array(r_qcode, np.int32), _c_array(r_map, np.int32),
                             _c_array(scores, np.float64), _c_array(hi, np.uint64),
                             _c_lo(lo), _c_array(j_qi, np.int32), _c_array(j_hi, np.uint64),
                             _c_lo(j_lo), _c_array(j_rel, np.int64), version, rel, num_ret)
            return rel[:n], num_ret
        except ValueError:
            pass  # unusual indexes: numpy decides
    r_qi = r_map[r_qcode]
    keep = r_qi >= 0
    if not keep.all():
        r_qi, hi, lo, scores = r_qi[keep], hi[keep], lo[keep], scores[keep]
    num_ret = np.bincount(r_qi, minlength=nq).astype(np.int64)
    rel = lookup(r_qi, hi, lo, j_qi, j_hi, j_lo, j_rel)
    order = rank_rows(r_qi, scores, hi, lo, version)
    del hi, lo, scores, r_qi
    return (rel if order is None else rel[order]), num_ret


def _c_array(a: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)  # a no-op for judge's arrays


def _c_lo(lo: np.ndarray) -> np.ndarray | None:
    """None for the all-zero broadcast ``lo`` of ids of at most 8 bytes."""
    if lo.strides == (0,) and (len(lo) == 0 or lo[0] == 0):
        return None
    return _c_array(lo, np.uint64)


def lookup(r_qi, hi, lo, j_qi, j_hi, j_lo, j_rel) -> np.ndarray:
    """Per run row: its grade, ``NONPOOL`` if not judged, ``UNJUDGED`` if judged
    with a negative grade. Fingerprints of the judgments are sorted once and
    searched; a fingerprint hit counts only if the exact key matches too."""
    rel = np.full(len(r_qi), NONPOOL, dtype=np.int64)
    if not (len(j_qi) and len(r_qi)):
        return rel
    jkey = mix(j_qi, j_hi, j_lo)
    srt = np.argsort(jkey)
    jkey = jkey[srt]
    collisions = len(jkey) > 1 and bool((jkey[1:] == jkey[:-1]).any())
    for a in range(0, len(r_qi), CHUNK):  # bounded temporaries on large runs
        b = a + CHUNK
        qi, h, l = r_qi[a:b], hi[a:b], lo[a:b]
        src = np.searchsorted(jkey, mix(qi, h, l))
        np.minimum(src, len(jkey) - 1, out=src)
        src = srt[src]
        found = (j_qi[src] == qi) & (j_hi[src] == h) & (j_lo[src] == l)
        if collisions:
            # Two different judged ids share a fingerprint (about 1 in 10^10 per
            # pair): resolve those rows exactly.
            _resolve_collisions(found, src, jkey, srt, qi, h, l, j_qi, j_hi, j_lo)
        grades = j_rel[src[found]]
        rel[a:b][found] = np.where(grades < 0, UNJUDGED, grades)
    return rel


def _resolve_collisions(found, src, jkey, srt, r_qi, hi, lo, j_qi, j_hi, j_lo) -> None:
    dup_keys = np.unique(jkey[1:][jkey[1:] == jkey[:-1]])
    rows = np.flatnonzero(np.isin(mix(r_qi, hi, lo), dup_keys))
    exact = {(int(j_qi[i]), int(j_hi[i]), int(j_lo[i])): i for i in srt[np.isin(jkey, dup_keys)]}
    for r in rows:
        i = exact.get((int(r_qi[r]), int(hi[r]), int(lo[r])))
        found[r] = i is not None
        if i is not None:
            src[r] = i


def rank_rows(qi: np.ndarray, scores: np.ndarray, hi: np.ndarray, lo: np.ndarray,
               version: int) -> np.ndarray | None:
    """Row order by (query asc, score desc, doc id desc), trec_eval's ranking;
    None when the rows are in that order already.

    Runs are usually written one query after another, already ranked, at most with
    tied scores in another order: that costs a few O(n) passes, moving whole query
    blocks and sorting only tied rows. Anything else gets a full sort.
    """
    if version == 9:
        with np.errstate(over="ignore"):  # beyond float32's range: +-inf, as a C float
            scores = scores.astype(np.float32).astype(np.float64)
    if len(qi) < 2:
        return None
    blocks = _query_blocks(qi)
    if blocks is False:
        return np.lexsort((~lo, ~hi, -scores, qi))
    # Each query's rows are contiguous: rank within them where they stand (only
    # adjacent rows of one query are compared), then move whole blocks.
    within = _rank_within_sorted_queries(qi, scores, hi, lo)
    if within is False:
        return np.lexsort((~lo, ~hi, -scores, qi))
    if blocks is None:
        return within
    return blocks if within is None else within[blocks]


def _query_blocks(qi: np.ndarray) -> np.ndarray | None | bool:
    """Order putting contiguous query blocks in query order: None if they are in
    order already, False if some query's rows are not contiguous."""
    n = len(qi)
    starts = np.concatenate(([0], np.flatnonzero(qi[1:] != qi[:-1]) + 1))
    block_q = qi[starts]
    if (block_q[1:] > block_q[:-1]).all():
        return None
    if len(np.unique(block_q)) != len(block_q):
        return False
    lengths = np.diff(np.concatenate((starts, [n])))
    perm = np.argsort(block_q)
    new_starts = np.concatenate(([0], np.cumsum(lengths[perm])[:-1]))
    return (np.arange(n, dtype=np.int64)
            + np.repeat(starts[perm] - new_starts, lengths[perm]))


def _rank_within_sorted_queries(qi, scores, hi, lo) -> np.ndarray | None | bool:
    """For rows grouped by query: the order that ranks each group where it stands
    (sorting tie groups by doc id); None if already ranked; False if the scores
    are not non-increasing within each group."""
    same_q = qi[1:] == qi[:-1]
    s0, s1 = scores[:-1], scores[1:]
    if (same_q & (s1 > s0)).any():
        return False
    tied = same_q & (s0 == s1)
    if not tied.any():
        return None
    t = np.flatnonzero(tied)
    doc_desc = (hi[t] > hi[t + 1]) | ((hi[t] == hi[t + 1]) & (lo[t] > lo[t + 1]))
    if doc_desc.all():
        return None
    in_group = np.zeros(len(qi), dtype=bool)  # both ends of every tied pair
    in_group[t] = True
    in_group[t + 1] = True
    group = np.cumsum(np.concatenate(([True], ~tied)))  # one id per tie run
    rows = np.flatnonzero(in_group)
    order = np.arange(len(qi), dtype=np.int64)
    order[rows] = rows[np.lexsort((~lo[rows], ~hi[rows], group[rows]))]
    return order
