"""Every refused upload says where the problem is (file, line, field) and leaves
nothing behind: no row, no version folder, no staging folder."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ragbench.datasets import service
from ragbench.datasets.models import Dataset
from ragbench.datasets.upload import Upload, UploadLimits
from ragbench.errors import Unprocessable

from .beir_files import stored_entries, zip_folder
from .conftest import URL


def _edited(source: Path, target: Path, edits: dict[str, Callable[[list[str]], list[str]]]):
    """A copy of a BEIR folder with some files' lines rewritten."""
    shutil.copytree(source, target)
    for name, edit in edits.items():
        lines = (target / name).read_text("utf-8").splitlines()
        (target / name).write_text("".join(line + "\n" for line in edit(lines)), "utf-8")
    return target


def _set(index: int, value: str):
    def edit(lines):
        lines[index] = value
        return lines
    return edit


def _first_line_of(path: Path, query_id: str) -> int:
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if line.split("\t")[0] == query_id:
            return lineno
    raise AssertionError(query_id)


@pytest.fixture
def assert_nothing_stored(api, settings):
    def check():
        assert api.get(URL).json() == []
        assert stored_entries(settings.data_dir) == []
        with api.app.state.database.session() as session:
            assert session.query(Dataset).count() == 0
    return check


def _no_query(qid):
    return lambda lines: [line for line in lines if json.loads(line)["_id"] != qid]


CONTENT_ERRORS = {
    # name: (edits, expected details: file relative to the zip's folder, line, field)
    "bad-json-line": ({"corpus.jsonl": _set(2, '{"_id": "d3", "text": "cut off')},
                      ("corpus.jsonl", 3, None)),
    "grade-not-int": ({"qrels/test.tsv": _set(3, "q1\td2\thigh")},
                      ("qrels/test.tsv", 4, "score")),
    "query-without-text-field": ({"queries.jsonl": _set(1, '{"_id": "q2", "metadata": {}}')},
                                 ("queries.jsonl", 2, "text")),
    "query-with-empty-text": ({"queries.jsonl": _set(1, '{"_id": "q2", "text": "  "}')},
                              ("queries.jsonl", 2, "text")),
    "duplicate-document": ({"corpus.jsonl": _set(9, '{"_id": "d2", "text": "again"}')},
                           ("corpus.jsonl", 10, "_id")),
    "qrels-without-header": ({"qrels/test.tsv": lambda lines: lines[1:]},
                             ("qrels/test.tsv", 1, None)),
    "corpus-of-another-collection": (
        {"corpus.jsonl": lambda lines: [json.dumps({"_id": f"x{i}", "text": "t"})
                                        for i in range(len(lines))]},
        ("corpus.jsonl", None, "doc_id")),
}


def test_bad_content_in_zip(upload_zip, assert_nothing_stored, synthetic_folder, tmp_path):
    for case, (edits, (file, line, field)) in CONTENT_ERRORS.items():
        folder = _edited(synthetic_folder, tmp_path / case / "coll", edits)
        response = upload_zip(zip_folder(folder, tmp_path / case / "coll.zip", prefix="coll/"))
        assert response.status_code == 422, (case, response.text)
        error = response.json()["error"]
        assert error["code"] == "unprocessable", case
        assert (error["details"]["file"], error["details"].get("line"),
                error["details"].get("field")) == (f"coll/{file}", line, field), case
        assert str(tmp_path) not in error["message"], case  # server paths stay private
        assert_nothing_stored()


def test_judged_query_missing_from_queries(upload_zip, assert_nothing_stored, synthetic_folder,
                                           tmp_path):
    folder = _edited(synthetic_folder, tmp_path / "coll", {"queries.jsonl": _no_query("q5")})
    response = upload_zip(zip_folder(folder, tmp_path / "coll.zip", prefix="coll/"))
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert details == {"file": "coll/qrels/test.tsv", "field": "query_id", "query_id": "q5",
                       "line": _first_line_of(folder / "qrels" / "test.tsv", "q5"),
                       "queries_without_text": 1}
    assert_nothing_stored()


def _zip_bytes(members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


UNSAFE_MEMBERS = [
    ("../evil.txt", "path traversal"),
    ("coll/../../evil.txt", "path traversal"),
    ("/tmp/evil.txt", "path traversal"),
    ("coll\\..\\evil.txt", "path traversal"),
    ("coll/inner.zip", "nested"),
]


def test_unsafe_member_refuses_the_archive(upload_zip, assert_nothing_stored, synthetic_folder,
                                           tmp_path):
    for i, (member, reason) in enumerate(UNSAFE_MEMBERS):
        archive = zip_folder(synthetic_folder, tmp_path / f"coll{i}.zip", prefix="coll/",
                             extra={member: b"PK\x03\x04 whatever"})
        response = upload_zip(archive)
        assert response.status_code == 422, member
        error = response.json()["error"]
        assert reason in error["message"], member
        assert error["details"] == {"file": archive.name, "member": member}
        assert not (tmp_path / "evil.txt").exists()
        assert_nothing_stored()


def test_symlink_member(upload_zip, assert_nothing_stored, tmp_path):
    path = tmp_path / "links.zip"
    path.write_bytes(_zip_bytes({"queries.jsonl": b'{"_id": "q", "text": "t"}\n'},
                                symlinks=("corpus.jsonl",)))
    response = upload_zip(path)
    assert response.status_code == 422
    assert "symbolic link" in response.json()["error"]["message"]
    assert_nothing_stored()


UNUSABLE_ARCHIVES = [
    (_zip_bytes({}), "is empty"),
    (_zip_bytes({"folder/": b""}), "is empty"),
    (b"not a zip at all", "not a zip archive"),
    (_zip_bytes({"README.md": b"hello"}), "no queries.jsonl"),
    (_zip_bytes({"queries.jsonl": b'{"_id": "q1", "text": "t"}\n',
                 "qrels/test.tsv": b"query-id\tcorpus-id\tscore\nq1\td1\t1\n"}),
     "has no corpus.jsonl"),
    (_zip_bytes({"a/queries.jsonl": b"{}", "b/queries.jsonl": b"{}"}), "several BEIR folders"),
    # A zip disguised as corpus.jsonl is caught by its first bytes.
    (_zip_bytes({"corpus.jsonl": _zip_bytes({"inner.txt": b"x"}),
                 "queries.jsonl": b'{"_id": "q1", "text": "t"}\n',
                 "qrels/test.tsv": b"query-id\tcorpus-id\tscore\nq1\td1\t1\n"}),
     "nested archives are refused"),
]


def test_unusable_archive(upload_zip, assert_nothing_stored, tmp_path):
    for content, message in UNUSABLE_ARCHIVES:
        path = tmp_path / "upload.zip"
        path.write_bytes(content)
        response = upload_zip(path)
        assert response.status_code == 422, message
        error = response.json()["error"]
        assert message in error["message"] and error["details"]["file"] == "upload.zip"
        assert_nothing_stored()


def test_unknown_split_lists_the_splits(upload_zip, assert_nothing_stored, synthetic_folder,
                                        tmp_path):
    folder = _edited(synthetic_folder, tmp_path / "coll", {})
    shutil.copy(folder / "qrels" / "test.tsv", folder / "qrels" / "train.tsv")
    response = upload_zip(zip_folder(folder, tmp_path / "coll.zip", prefix="coll/"),
                          split="dev")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"] == {"file": "coll.zip", "field": "split",
                                "splits": ["test", "train"]}
    assert "test, train" in error["message"]
    assert_nothing_stored()


def test_split_must_be_a_plain_name(upload_zip, assert_nothing_stored, synthetic_folder,
                                    tmp_path):
    archive = zip_folder(synthetic_folder, tmp_path / "s.zip")
    for split in ("../test", "qrels/test", ".hidden", "a b"):
        response = upload_zip(archive, split=split)
        assert response.status_code == 422, split
        assert response.json()["error"]["details"] == {"field": "split"}
        assert_nothing_stored()


TREC_QUERIES = "q1\tfirst query\nq2\tsecond query\n"
TREC_QRELS = "q1 0 d1 1\nq1 0 d2 0\nq2 0 d3 2\n"


BAD_TREC_UPLOADS = [
    ({"qrels": ("run.qrels", "q1 0 d1 1\nq1 0 d2\n"), "queries": ("q.tsv", TREC_QUERIES)},
     {"file": "run.qrels", "line": 2}),
    ({"qrels": ("qrels.txt", "q1 0 d1 1\nq2 0 d3 yes\n"), "queries": ("q.tsv", TREC_QUERIES)},
     {"file": "qrels.txt", "line": 2, "field": "relevance"}),
    ({"qrels": ("qrels.txt", TREC_QRELS), "queries": ("q.tsv", "q1\tfirst\nq2 no tab\n")},
     {"file": "q.tsv", "line": 2, "field": "text"}),
    ({"qrels": ("qrels.txt", TREC_QRELS), "queries": ("q.tsv", "q1\tfirst\n")},
     {"file": "qrels.txt", "line": 3, "field": "query_id"}),
    ({"qrels": ("qrels.txt", TREC_QRELS), "queries": ("q.tsv", TREC_QUERIES),
      "corpus": ("docs.jsonl", '{"_id": "d1", "text": "a"}\n{"_id": 5}\n')},
     {"file": "docs.jsonl", "line": 2, "field": "text"}),
    ({"qrels": ("qrels.txt", ""), "queries": ("q.tsv", TREC_QUERIES)},
     {"file": "qrels.txt"}),
    ({"qrels": ("qrels.txt", TREC_QRELS)}, {"field": "queries"}),
]


def test_bad_trec_upload(api, assert_nothing_stored):
    for files, details in BAD_TREC_UPLOADS:
        response = api.post(URL, data={"name": "trec"},
                            files={f: (n, content.encode()) for f, (n, content) in files.items()})
        assert response.status_code == 422, (details, response.text)
        got = response.json()["error"]["details"]
        assert {k: got.get(k) for k in details} == details
        assert_nothing_stored()


def test_archive_and_trec_files_together(api, assert_nothing_stored, synthetic_folder, tmp_path):
    archive = zip_folder(synthetic_folder, tmp_path / "s.zip").read_bytes()
    response = api.post(URL, data={"name": "both"},
                        files={"archive": ("s.zip", archive), "qrels": ("q.txt", TREC_QRELS)})
    assert response.status_code == 400
    assert_nothing_stored()


def test_upload_limits(api, settings, assert_nothing_stored, synthetic_folder, tmp_path):
    archive = zip_folder(synthetic_folder, tmp_path / "s.zip", prefix="s/")
    unpacked = sum(p.stat().st_size for p in synthetic_folder.rglob("*") if p.is_file())
    assert archive.stat().st_size < unpacked
    cases = [
        (UploadLimits(max_members=2), "has 3 entries; the limit is 2"),
        (UploadLimits(max_bytes=archive.stat().st_size - 1), "larger than the limit"),
        (UploadLimits(max_bytes=archive.stat().st_size), "unpacks to more than the limit"),
    ]
    for limits, message in cases:
        with api.app.state.database.session() as session, open(archive, "rb") as stream:
            with pytest.raises(Unprocessable) as caught:
                service.create_dataset_from_upload(
                    session, name="s", settings=settings, archive=Upload("s.zip", stream),
                    limits=limits)
        assert message in caught.value.message
    assert_nothing_stored()


def _failing_insert(monkeypatch):
    """Make the flush that inserts a dataset row fail, as a full disk would."""
    real_flush = Session.flush

    def flush(self, *args, **kwargs):
        if any(isinstance(obj, Dataset) for obj in self.new):
            raise OperationalError("INSERT INTO datasets", {}, OSError("disk full"))
        return real_flush(self, *args, **kwargs)

    monkeypatch.setattr(Session, "flush", flush)


def test_failed_insert_removes_the_new_folder(api, monkeypatch, assert_nothing_stored,
                                              upload_zip, synthetic_folder, tmp_path):
    archive = zip_folder(synthetic_folder, tmp_path / "s.zip")
    _failing_insert(monkeypatch)
    with pytest.raises(OperationalError):
        upload_zip(archive)
    monkeypatch.undo()
    assert_nothing_stored()
    assert upload_zip(archive).status_code == 201  # and nothing is in the way afterwards


def test_failed_insert_keeps_a_folder_shared_with_another_name(
        api, settings, monkeypatch, open_session, upload_zip, synthetic_folder, tmp_path):
    archive = zip_folder(synthetic_folder, tmp_path / "s.zip")
    first = upload_zip(archive, name="first").json()
    _failing_insert(monkeypatch)
    with pytest.raises(OperationalError):
        upload_zip(archive, name="second")
    monkeypatch.undo()
    assert [d["name"] for d in api.get(URL).json()] == ["first"]
    with open_session() as session:
        loaded = service.load_collection(session, dataset_id=first["id"], settings=settings)
    assert len(loaded.qrels) == first["num_judgments"]


def test_work_folders_of_dead_uploads_are_swept(api, settings, upload_zip, synthetic_folder,
                                               tmp_path):
    staging = settings.data_dir / "datasets" / ".staging"
    stale, fresh = staging / "stale", staging / "fresh"
    for folder in (stale, fresh):
        (folder / "incoming").mkdir(parents=True)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    assert upload_zip(zip_folder(synthetic_folder, tmp_path / "s.zip")).status_code == 201
    assert sorted(p.name for p in staging.iterdir()) == ["fresh"]  # may be in use
