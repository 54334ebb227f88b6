"""Generate the benchmark's test collection, deterministically, under ``bench/data/``.

Files (same seed -> byte-identical files; ``meta.json`` records their sha256):

* ``qrels.txt``  ``qid 0 docno grade`` — graded (0..3) judgments, 50..200 per query,
  about a third of them on documents the run did not retrieve (pooled from "other
  systems"); every query has at least one relevant document (TREC practice:
  topics without relevant documents are dropped). Sorted by query, then docno.
* ``run.txt``    ``qid Q0 docno rank score tag`` — 1,000 docs per query, written
  ranked as real run files are: queries in numeric order (which is NOT byte order,
  e.g. ``1009`` < ``101``), rank 1..1000, score descending, ties (about 2% of
  documents share their neighbour's score) broken by docno ascending, as Lucene
  does (trec_eval breaks them by docno descending, so a reader must re-rank).
  Most retrieved docs are unjudged.
* ``tiny_qrels.txt`` / ``tiny_run.txt`` — the first 20 queries cut to depth 50, for
  warm-ups (numba compilation) on the same code paths.
* ``notie_qrels.txt`` / ``notie_run.txt`` — the first 500 queries with every score
  replaced by ``1001 - rank`` (no ties), for checking that tools agree where their
  tie-breaking cannot matter.
* ``scores.npy`` — a (10 systems x N queries) float64 matrix of AP-like per-query
  scores for the significance-test benchmark: per-query difficulty ~ Beta(2, 5),
  system effects spread over [-0.004, 0.004] (so
  neighbours are not significantly different and the extremes are), N(0, 0.08) noise, clipped to [0, 1]
  (so some exact 0/1 ties between systems), rounded to 4 decimals on 3% of cells
  (more ties).

Usage: ``python bench/gen_data.py [--queries 7000] [--depth 1000] [--seed 20240601]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
DOC_SPACE = 10_000_000  # docnos D0000000..D9999999 (MS MARCO passage-like scale)
QUERY_SPACE = 1_200_000
N_SYSTEMS = 10
TINY_QUERIES, TINY_DEPTH = 20, 50
NOTIE_QUERIES = 500
GENERATOR_VERSION = 3  # bump when the generated data changes


def _ranked_docs(rng: np.random.Generator, depth: int) -> np.ndarray:
    """``depth`` distinct doc numbers in random order."""
    docs = np.unique(rng.integers(0, DOC_SPACE, size=depth + depth // 10 + 16))
    rng.shuffle(docs)
    return docs[:depth]


def _scores(rng: np.random.Generator, depth: int) -> np.ndarray:
    """Non-increasing scores with 4 decimals; ~2% repeat the previous score (ties)."""
    s = np.round(np.sort(rng.normal(15.0, 2.0, size=depth))[::-1], 4)
    tie = rng.random(depth) < 0.02
    tie[0] = False
    # Copy the score of the nearest non-tied doc above (runs of ties stay equal).
    idx = np.where(tie, 0, np.arange(depth))
    np.maximum.accumulate(idx, out=idx)
    return s[idx]


def _judgments(rng: np.random.Generator, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Judged doc numbers and grades of one query whose ranked list is ``docs``."""
    depth = len(docs)
    n_judged = int(rng.integers(50, 201))
    n_outside = int(round(n_judged * rng.uniform(0.2, 0.45)))
    n_inside = min(n_judged - n_outside, depth)
    # Pooling: top-ranked docs are far more likely to be judged.
    weight = 1.0 / np.arange(1, depth + 1) ** 0.7
    inside = rng.choice(depth, size=n_inside, replace=False, p=weight / weight.sum())
    p_rel_inside = 0.6 / (1.0 + inside / 30.0) + 0.05
    outside = rng.integers(0, DOC_SPACE, size=n_outside)
    outside = np.setdiff1d(np.unique(outside), docs)
    judged = np.concatenate([docs[inside], outside])
    p_rel = np.concatenate([p_rel_inside, np.full(len(outside), 0.25)])
    relevant = rng.random(len(judged)) < p_rel
    if not relevant.any():
        relevant[int(np.argmax(p_rel))] = True
    grade_if_rel = rng.choice([1, 2, 3], size=len(judged), p=[0.6, 0.3, 0.1])
    grades = np.where(relevant, grade_if_rel, 0)
    order = np.argsort(judged)
    return judged[order], grades[order]


def generate(queries: int, depth: int, seed: int, out: Path) -> dict:
    rng = np.random.default_rng(seed)
    qids = np.sort(rng.choice(QUERY_SPACE, size=queries, replace=False)) + 1
    run_lines: list[str] = []
    qrels_lines: list[str] = []
    tiny_run: list[str] = []
    tiny_qrels: list[str] = []
    notie_run: list[str] = []
    notie_qrels: list[str] = []
    n_judged = n_judged_ret = n_rel = 0
    for qi, q in enumerate(qids):
        docs = _ranked_docs(rng, depth)
        scores = _scores(rng, depth)
        # Ties: docno ascending within equal scores (Lucene's order, not trec_eval's).
        order = np.lexsort((docs, -scores))
        docs = docs[order]
        judged, grades = _judgments(rng, docs)
        n_judged += len(judged)
        n_judged_ret += int(np.isin(judged, docs).sum())
        n_rel += int((grades > 0).sum())
        lines = [f"{q} Q0 D{d:07d} {r} {s:.4f} bench" for r, (d, s) in
                 enumerate(zip(docs.tolist(), scores.tolist()), start=1)]
        qlines = [f"{q} 0 D{d:07d} {g}" for d, g in zip(judged.tolist(), grades.tolist())]
        run_lines.extend(lines)
        qrels_lines.extend(qlines)
        if qi < TINY_QUERIES:
            tiny_run.extend(lines[:TINY_DEPTH])
            tiny_qrels.extend(qlines)
        if qi < NOTIE_QUERIES:
            notie_run.extend(f"{q} Q0 D{d:07d} {r} {depth + 1 - r} bench"
                             for r, d in enumerate(docs.tolist(), start=1))
            notie_qrels.extend(qlines)

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "qrels.txt": "\n".join(qrels_lines) + "\n",
        "run.txt": "\n".join(run_lines) + "\n",
        "tiny_qrels.txt": "\n".join(tiny_qrels) + "\n",
        "tiny_run.txt": "\n".join(tiny_run) + "\n",
        "notie_qrels.txt": "\n".join(notie_qrels) + "\n",
        "notie_run.txt": "\n".join(notie_run) + "\n",
    }
    digests = {}
    for name, text in files.items():
        data = text.encode("ascii")
        (out / name).write_bytes(data)
        digests[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    scores = _system_scores(np.random.default_rng(seed + 1), queries)
    np.save(out / "scores.npy", scores)
    digests["scores.npy"] = {"shape": list(scores.shape),
                             "sha256": hashlib.sha256(scores.tobytes()).hexdigest()}
    meta = {
        "generator": GENERATOR_VERSION, "queries": queries, "depth": depth, "seed": seed,
        "systems": N_SYSTEMS,
        "run_lines": len(run_lines), "qrels_lines": len(qrels_lines),
        "judged_per_query": n_judged / queries,
        "judged_retrieved_per_query": n_judged_ret / queries,
        "relevant_per_query": n_rel / queries,
        "files": digests,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _system_scores(rng: np.random.Generator, queries: int) -> np.ndarray:
    difficulty = rng.beta(2.0, 5.0, size=queries)
    effect = np.linspace(-0.004, 0.004, N_SYSTEMS)
    noise = rng.normal(0.0, 0.08, size=(N_SYSTEMS, queries))
    scores = np.clip(difficulty[None, :] + effect[:, None] + noise, 0.0, 1.0)
    coarse = rng.random(scores.shape) < 0.03
    scores[coarse] = np.round(scores[coarse], 4)
    return scores


def is_current(out: Path, queries: int, depth: int, seed: int) -> bool:
    """True when ``out`` holds data generated with these parameters."""
    try:
        meta = json.loads((out / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    wanted = {"generator": GENERATOR_VERSION, "queries": queries, "depth": depth,
              "seed": seed}
    if any(meta.get(k) != v for k, v in wanted.items()):
        return False
    return all((out / f).exists() and (out / f).stat().st_size == info.get("bytes", (out / f)
               .stat().st_size) for f, info in meta["files"].items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=7000)
    ap.add_argument("--depth", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--out", type=Path, default=DATA)
    ap.add_argument("--force", action="store_true", help="regenerate even if current")
    args = ap.parse_args(argv)
    if not args.force and is_current(args.out, args.queries, args.depth, args.seed):
        print(f"{args.out}: data is current (use --force to regenerate)")
        return 0
    t0 = time.perf_counter()
    meta = generate(args.queries, args.depth, args.seed, args.out)
    print(f"generated in {time.perf_counter() - t0:.1f} s -> {os.fspath(args.out)}")
    print(json.dumps({k: v for k, v in meta.items() if k != "files"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
