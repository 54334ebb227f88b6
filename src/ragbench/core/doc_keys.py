"""Document ids as pairs of integers that compare like the strings (byte order).

Ranking and judging need three things of a document id: equality (joins with
qrels, duplicate checks), and byte order (trec_eval breaks score ties by
``strcmp``). Hashing millions of strings into a dictionary is the slow part of
reading a large run, so ids of at most 16 bytes -- nearly every collection's --
are instead read straight out of Arrow's buffer as two big-endian 64-bit words,
zero padded: ``(hi, lo)`` then compares exactly as ``strcmp`` does (ids hold no
NUL byte). Longer ids fall back to a dictionary: ``hi`` is the id's rank among
all distinct ids, ``lo`` is 0.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WIDTH = 16

# _KEEP[n]: mask keeping the first n bytes of a big-endian word (n = 0..8).
_KEEP = np.array([0] + [((1 << (8 * n)) - 1) << (8 * (8 - n)) for n in range(1, 9)],
                 dtype=np.uint64)


def _plain(strings) -> pa.Array:
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if pa.types.is_dictionary(strings.type):
        strings = strings.dictionary.take(strings.indices)
    if pa.types.is_large_string(strings.type):
        strings = strings.cast(pa.string())
    return strings


def fixed_keys(strings) -> tuple[np.ndarray, np.ndarray] | None:
    """``(hi, lo)`` uint64 words of each id's bytes, or None if one exceeds 16 bytes."""
    arr = _plain(strings)
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=arr.offset + n + 1)
    offsets = offsets[arr.offset:]
    lengths = np.diff(offsets)
    longest = int(lengths.max())
    if longest > WIDTH:
        return None
    data = arr.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    base = int(offsets[0])
    used = int(offsets[-1]) - base
    padded = np.empty(used + WIDTH + 8, dtype=np.uint8)
    padded[:used] = raw[base: base + used]
    padded[used:] = 0
    starts = offsets[:-1].astype(np.intp)
    if base:
        starts -= base
    # Every byte position viewed as the start of an unaligned big-endian word.
    words = np.ndarray(shape=(len(padded) - 7,), dtype=">u8", buffer=padded, strides=(1,))
    hi = _word(words, starts, lengths, 0)
    if longest <= 8:
        # A zero-stride view: no memory, and mix() skips it.
        return hi, np.broadcast_to(np.uint64(0), (n,))
    starts += 8
    return hi, _word(words, starts, lengths, 8)


def _word(words: np.ndarray, starts: np.ndarray, lengths: np.ndarray, skip: int) -> np.ndarray:
    """The big-endian word at ``starts`` as native uint64, bytes past each id's
    end cleared. In place where possible: these arrays are a run's size."""
    w = words[starts]
    w.byteswap(inplace=True)
    w = w.view(np.uint64)
    short = np.flatnonzero(lengths < skip + 8)
    if len(short):
        w[short] &= _KEEP[np.clip(lengths[short] - skip, 0, 8)]
    return w


def dictionary_keys(run_ids, other_ids) -> tuple[tuple[np.ndarray, np.ndarray],
                                                 tuple[np.ndarray, np.ndarray]]:
    """Keys for ids of any length: ``hi`` = rank in byte order among the distinct
    ``run_ids``. An ``other_ids`` entry absent from ``run_ids`` gets 2**63 + its
    code among the other ids: distinct from its peers, equal to no run id."""
    enc = pc.dictionary_encode(_plain(run_ids))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    order = pc.sort_indices(enc.dictionary.cast(pa.binary())).to_numpy()
    rank = np.empty(len(order), dtype=np.uint64)
    rank[order] = np.arange(len(order), dtype=np.uint64)
    other_ids = _plain(other_ids)
    other = pc.index_in(other_ids, value_set=enc.dictionary)
    other = other.fill_null(-1).to_numpy().astype(np.int64)
    own = pc.dictionary_encode(other_ids).indices.to_numpy(zero_copy_only=False)
    absent = np.uint64(2**63) + own.astype(np.uint64)
    other_hi = np.where(other >= 0, rank[np.maximum(other, 0)], absent)
    zeros = np.zeros
    return ((rank[codes], zeros(len(codes), np.uint64)),
            (other_hi.astype(np.uint64), zeros(len(other), np.uint64)))


def mix(qi: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint of ``(qi, hi, lo)`` for sorting and searching: the query
    index in the top 24 bits, a hash of the id below. Equal triples give equal
    fingerprints (callers verify the triple on a match), and sorted fingerprints
    keep each query's documents together, so searches stay in cache."""
    if len(qi) and int(qi.max()) >= MAX_QUERIES:
        raise ValueError(f"more than {MAX_QUERIES} queries")
    out = np.empty(len(qi), dtype=np.uint64)
    for a in range(0, len(qi), CHUNK):  # bounded temporaries on large runs
        b = a + CHUNK
        out[a:b] = _mix_chunk(qi[a:b], hi[a:b], lo[a:b])
    return out


CHUNK = 1 << 20


def _mix_chunk(qi: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = hi * np.uint64(0x9E3779B97F4A7C15)
        if lo.strides == (0,) and len(lo) and lo[0] == 0:
            h ^= h >> np.uint64(29)  # the same as below with lo == 0, one pass less
        else:
            h ^= lo * np.uint64(0xC2B2AE3D27D4EB4F) + (h >> np.uint64(29))
        h ^= h >> np.uint64(32)
        h *= np.uint64(0xD6E8FEB86659FD93)
        h >>= np.uint64(24)
        h |= qi.astype(np.uint64) << np.uint64(40)
    return h


MAX_QUERIES = 1 << 24


def equality_keys(strings) -> tuple[np.ndarray, np.ndarray]:
    """``(hi, lo)`` equal exactly when the ids are: :func:`fixed_keys`, or for
    longer ids their dictionary code (equality only, not byte order)."""
    keys = fixed_keys(strings)
    if keys is not None:
        return keys
    enc = pc.dictionary_encode(_plain(strings))
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.uint64)
    return codes, np.zeros(len(codes), dtype=np.uint64)


def first_repeat(qi: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> tuple[int, int] | None:
    """``(row, earlier_row)`` of the first row repeating an earlier ``(qi, hi, lo)``,
    or None. One sort of fingerprints; only fingerprint matches are checked
    exactly, in row order."""
    if len(qi) < 2:
        return None
    key = mix(qi, hi, lo)
    ordered = np.sort(key)
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return None
    seen: dict[tuple[int, int, int], int] = {}
    for r in np.flatnonzero(np.isin(key, ordered[1:][same])):
        t = (int(qi[r]), int(hi[r]), int(lo[r]))
        if t in seen:
            return int(r), seen[t]
        seen[t] = int(r)
    return None
