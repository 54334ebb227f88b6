"""Uploading collections: BEIR zips (synthetic, SciFact) and TREC files; the stats
are compared with counts made by plain Python from the files sent."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ragbench.datasets import service

from .beir_files import (
    beir_folder_stats,
    plain_stats,
    read_beir_qrels_plain,
    read_jsonl,
    stored_entries,
    zip_folder,
)
from .conftest import URL


def _without_time(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "created_at"}


def _assert_stats(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert actual[key] == pytest.approx(value, rel=1e-12), key
        elif isinstance(value, dict):
            assert actual[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert actual[key] == value, key


@pytest.mark.parametrize("prefix", ["", "synth/", "./data/synth/"],
                         ids=["top-level", "in-folder", "dot-slash"])
def test_synthetic_zip(api, settings, upload_zip, open_session, synthetic_folder, tmp_path,
                       prefix):
    archive = zip_folder(synthetic_folder, tmp_path / "synth.zip", prefix=prefix)
    response = upload_zip(archive)
    assert response.status_code == 201, response.text
    body = response.json()
    expected = beir_folder_stats(synthetic_folder)
    _assert_stats(body["stats"], expected)
    assert (body["num_documents"], body["num_queries"], body["num_judgments"]) == (
        60, 8, expected["judgments"])
    assert body["source_format"] == "beir" and body["split"] == "test"
    assert len(body["version"]) == 64 and int(body["version"], 16) >= 0
    assert _without_time(api.get(f"{URL}/{body['id']}").json()) == _without_time(body)
    assert [d["id"] for d in api.get(URL).json()] == [body["id"]]

    # The stored folder holds only the judged queries, sorted, and every judgment.
    assert stored_entries(settings.data_dir) == sorted(
        [body["version"], f"{body['version']}/qrels", f"{body['version']}/corpus.jsonl",
         f"{body['version']}/queries.jsonl", f"{body['version']}/qrels/test.tsv"])
    rows = read_beir_qrels_plain(synthetic_folder / "qrels" / "test.tsv")
    queries = {q["_id"]: q["text"] for q in read_jsonl(synthetic_folder / "queries.jsonl")}
    with open_session() as session:
        loaded = service.load_collection(session, dataset_id=body["id"], settings=settings)
    assert loaded.qrels.to_dict() == _nested(rows)
    assert dict(zip(loaded.queries.ids.to_pylist(), loaded.queries.texts.to_pylist())) == {
        q: queries[q] for q, _, _ in rows}
    docs = read_jsonl(synthetic_folder / "corpus.jsonl")
    assert loaded.corpus.ids.to_pylist() == sorted(d["_id"] for d in docs)


def _nested(rows):
    out: dict[str, dict[str, int]] = {}
    for q, d, g in rows:
        out.setdefault(q, {})[d] = g
    return out


def test_folder_and_zip_give_the_same_version(api, settings, upload_zip, open_session,
                                              synthetic_folder, tmp_path):
    uploaded = upload_zip(zip_folder(synthetic_folder, tmp_path / "s.zip", prefix="x/")).json()
    with open_session() as session:
        from_folder = service.create_dataset_from_folder(
            session, name="synth-folder", folder=synthetic_folder, split="test",
            settings=settings)
        assert from_folder.version == uploaded["version"]
        assert from_folder.id != uploaded["id"]
        assert from_folder.storage_path == service.get_dataset(
            session, dataset_id=uploaded["id"]).storage_path
        again = service.create_dataset_from_folder(
            session, name="synth-folder", folder=synthetic_folder, settings=settings)
        assert again.id == from_folder.id


@pytest.fixture(scope="module")
def scifact_zip(scifact_dir, tmp_path_factory) -> Path:
    """SciFact as BEIR publishes it: everything inside one top-level folder."""
    runs = tuple(f"runs/{p.name}" for p in (scifact_dir / "runs").iterdir())
    return zip_folder(scifact_dir, tmp_path_factory.mktemp("scifact") / "scifact.zip",
                      prefix="scifact/", skip=runs)


@pytest.mark.parametrize("split", ["test", "train"])
def test_scifact_zip(api, settings, upload_zip, scifact_dir, scifact_zip, split):
    start = time.perf_counter()
    response = upload_zip(scifact_zip, name="scifact", split=split)
    elapsed = time.perf_counter() - start
    assert response.status_code == 201, response.text
    body = response.json()
    _assert_stats(body["stats"], beir_folder_stats(scifact_dir, split))
    assert body["num_documents"] == 5183
    # About half a second on one laptop core; generous for a loaded 2-core CI box.
    assert elapsed < 10, f"SciFact upload took {elapsed:.2f} s"


def _trec_files(folder: Path, tmp_path: Path, *, corpus: bool, queries_jsonl: bool = False):
    rows = read_beir_qrels_plain(folder / "qrels" / "test.tsv")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in rows))
    query_list = read_jsonl(folder / "queries.jsonl")
    if queries_jsonl:
        queries = tmp_path / "queries.jsonl"
        queries.write_text("".join(json.dumps(q) + "\n" for q in query_list))
    else:
        queries = tmp_path / "queries.tsv"
        queries.write_text("".join(f"{q['_id']}\t{q['text']}\n" for q in query_list))
    files = {"qrels": qrels, "queries": queries}
    if corpus:
        files["corpus"] = tmp_path / "collection.tsv"
        files["corpus"].write_text("".join(f"{d['_id']}\t{d['text']}\n"
                                           for d in read_jsonl(folder / "corpus.jsonl")))
    return rows, {q["_id"]: q["text"] for q in query_list}, files


def _post_files(api, files: dict[str, Path], name: str = "trec"):
    handles = {field: (path.name, path.open("rb")) for field, path in files.items()}
    try:
        return api.post(URL, data={"name": name}, files=handles)
    finally:
        for _, f in handles.values():
            f.close()


def test_trec_upload_with_tsv_corpus(api, settings, open_session, synthetic_folder, tmp_path):
    rows, queries, files = _trec_files(synthetic_folder, tmp_path, corpus=True)
    response = _post_files(api, files)
    assert response.status_code == 201, response.text
    body = response.json()
    # A TSV corpus has no titles: the document length is the text's alone.
    corpus = [{"_id": d["_id"], "text": d["text"]}
              for d in read_jsonl(synthetic_folder / "corpus.jsonl")]
    _assert_stats(body["stats"], plain_stats(rows, queries, corpus))
    assert body["source_format"] == "trec"
    with open_session() as session:
        loaded = service.load_collection(session, dataset_id=body["id"], settings=settings)
    assert loaded.qrels.to_dict() == _nested(rows)
    assert len(loaded.corpus) == 60 and set(loaded.corpus.titles.to_pylist()) == {""}


@pytest.mark.parametrize("queries_jsonl", [False, True], ids=["queries-tsv", "queries-jsonl"])
def test_trec_upload_without_corpus(api, settings, open_session, synthetic_folder, tmp_path,
                                    queries_jsonl):
    rows, queries, files = _trec_files(synthetic_folder, tmp_path, corpus=False,
                                       queries_jsonl=queries_jsonl)
    response = _post_files(api, files)
    assert response.status_code == 201, response.text
    body = response.json()
    _assert_stats(body["stats"], plain_stats(rows, queries, None))
    assert body["num_documents"] == 0
    with open_session() as session:
        loaded = service.load_collection(session, dataset_id=body["id"], settings=settings)
    assert len(loaded.corpus) == 0
    assert loaded.qrels.to_dict() == _nested(rows)
    assert sorted(loaded.queries.ids.to_pylist()) == sorted({q for q, _, _ in rows})


def test_missing_documents_are_counted_not_refused(api, upload_zip, synthetic_folder, tmp_path):
    folder = tmp_path / "gappy"
    (folder / "qrels").mkdir(parents=True)
    docs = read_jsonl(synthetic_folder / "corpus.jsonl")
    dropped = {"d3", "d17", "d40"}
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps(d) + "\n" for d in docs if d["_id"] not in dropped))
    for name in ("queries.jsonl", "qrels/test.tsv"):
        (folder / name).write_bytes((synthetic_folder / name).read_bytes())
    body = upload_zip(zip_folder(folder, tmp_path / "gappy.zip")).json()
    expected = beir_folder_stats(folder)
    _assert_stats(body["stats"], expected)
    rows = read_beir_qrels_plain(folder / "qrels" / "test.tsv")
    judged_dropped = sorted({d for _, d, _ in rows} & dropped)
    assert judged_dropped  # the test means something only if some were judged
    assert body["stats"]["missing_documents"] == len(judged_dropped)
    assert body["stats"]["missing_document_examples"] == judged_dropped
