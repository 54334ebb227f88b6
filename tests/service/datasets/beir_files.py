"""Test collections on disk for the dataset tests, and their stats counted with
plain Python (``json``, ``str.split``, ``statistics``) from the files themselves,
independently of the Arrow/numpy code that the service uses."""

from __future__ import annotations

import json
import statistics
import zipfile
from collections import Counter
from pathlib import Path


def zip_folder(folder: Path, target: Path, *, prefix: str = "", skip: tuple[str, ...] = (),
               extra: dict[str, bytes] | None = None) -> Path:
    """Zip every file of ``folder`` under ``prefix`` (e.g. ``"scifact/"``), leaving
    out relative paths in ``skip`` and adding the ``extra`` members as given."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and rel not in skip:
                # ZipInfo keeps the name as given ("./x" too); zf.write would normalise it.
                zf.writestr(zipfile.ZipInfo(prefix + rel), path.read_bytes(),
                            compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return target


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def read_beir_qrels_plain(path: Path) -> list[tuple[str, str, int]]:
    lines = [line for line in path.read_text("utf-8").splitlines() if line.strip()]
    assert lines[0].split("\t") == ["query-id", "corpus-id", "score"]
    return [(q, d, int(s)) for q, d, s in (line.split("\t") for line in lines[1:])]


def plain_stats(rows: list[tuple[str, str, int]], queries: dict[str, str],
                corpus: list[dict] | None) -> dict:
    """The expected ``stats`` of a dataset, counted row by row."""
    judged = sorted({q for q, _, _ in rows})
    per_query = Counter(q for q, _, _ in rows)
    relevant = Counter(q for q, _, g in rows if g >= 1)
    depth = [per_query[q] for q in judged]
    rel = [relevant[q] for q in judged]

    def summary(values):
        return {"min": min(values), "median": statistics.median(values),
                "mean": statistics.fmean(values), "max": max(values)}

    expected = {
        "documents": len(corpus) if corpus is not None else 0,
        "queries": len(judged),
        "judgments": len(rows),
        "judged_documents": len({d for _, d, _ in rows}),
        "queries_in_file": len(queries),
        "relevance_levels": {str(g): n for g, n in sorted(Counter(g for _, _, g in rows).items())},
        "judgments_per_query": summary(depth),
        "relevant_per_query": summary(rel),
        "queries_without_relevant": sum(1 for n in rel if n == 0),
        "has_corpus": corpus is not None,
        "avg_query_tokens": statistics.fmean(len(queries[q].split()) for q in judged),
    }
    if corpus is None:
        expected.update(missing_documents=None, judgments_missing_document=None,
                        missing_document_examples=None, avg_document_tokens=None)
    else:
        ids = {str(doc["_id"]) for doc in corpus}
        missing = sorted({d for _, d, _ in rows if d not in ids})
        expected.update(
            missing_documents=len(missing),
            judgments_missing_document=sum(1 for _, d, _ in rows if d not in ids),
            missing_document_examples=missing[:10],
            avg_document_tokens=statistics.fmean(
                len((doc.get("title") or "").split()) + len(doc["text"].split())
                for doc in corpus))
    return expected


def beir_folder_stats(folder: Path, split: str = "test") -> dict:
    queries = {str(q["_id"]): q["text"] for q in read_jsonl(folder / "queries.jsonl")}
    return plain_stats(read_beir_qrels_plain(folder / "qrels" / f"{split}.tsv"), queries,
                       read_jsonl(folder / "corpus.jsonl"))


def stored_entries(data_dir: Path) -> list[str]:
    """What the datasets folder holds: files, and folders other than the (empty)
    staging area."""
    root = data_dir / "datasets"
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() or p.name != ".staging")
