"""Versions: the same content is the same row, changed content a new row; older
versions keep loading with their own files. Listing, deleting, roles."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from ragbench.auth import service as auth_service
from ragbench.datasets import service
from ragbench.main import create_app

from .beir_files import read_beir_qrels_plain, zip_folder
from .conftest import URL


@pytest.fixture
def two_versions(tmp_path, synthetic_folder):
    """The synthetic collection, and a copy whose first judgment has another grade."""
    changed = tmp_path / "changed"
    shutil.copytree(synthetic_folder, changed)
    qrels = changed / "qrels" / "test.tsv"
    lines = qrels.read_text().splitlines()
    q, d, g = lines[1].split("\t")
    lines[1] = f"{q}\t{d}\t{(int(g) + 1) % 3}"
    qrels.write_text("\n".join(lines) + "\n")
    return (zip_folder(synthetic_folder, tmp_path / "v1.zip"),
            zip_folder(changed, tmp_path / "v2.zip", prefix="synth/"), changed)


def test_same_content_same_row_changed_qrels_new_row(api, settings, upload_zip, open_session,
                                                      synthetic_folder, two_versions):
    v1_zip, v2_zip, changed = two_versions
    first = upload_zip(v1_zip)
    assert first.status_code == 201
    again = upload_zip(v1_zip)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["version"] == first.json()["version"]

    second = upload_zip(v2_zip)
    assert second.status_code == 201
    v1, v2 = first.json(), second.json()
    assert v2["id"] != v1["id"] and v2["version"] != v1["version"]
    assert api.get(f"{URL}/{v1['id']}").json()["version"] == v1["version"]  # unchanged

    with open_session() as session:
        old = service.load_collection(session, dataset_id=v1["id"], settings=settings)
        new = service.load_collection(session, dataset_id=v2["id"], settings=settings)
    assert old.qrels.to_dict() == _nested(read_beir_qrels_plain(
        synthetic_folder / "qrels" / "test.tsv"))
    assert new.qrels.to_dict() == _nested(read_beir_qrels_plain(changed / "qrels" / "test.tsv"))
    assert old.qrels.to_dict() != new.qrels.to_dict()

    listed = api.get(URL, params={"name": "synth"}).json()
    assert [d["id"] for d in listed] == [v2["id"], v1["id"]]  # newest first
    versions = api.get(f"{URL}/{v1['id']}/versions").json()
    assert [d["version"] for d in versions] == [v2["version"], v1["version"]]


def _nested(rows):
    out: dict[str, dict[str, int]] = {}
    for q, d, g in rows:
        out.setdefault(q, {})[d] = g
    return out


def test_same_content_other_name_shares_the_folder(api, settings, upload_zip, open_session,
                                                   two_versions):
    v1_zip, _, _ = two_versions
    a = upload_zip(v1_zip, name="alpha").json()
    b = upload_zip(v1_zip, name="beta").json()
    assert a["id"] != b["id"] and a["version"] == b["version"]
    with open_session() as session:
        rows = [service.get_dataset(session, dataset_id=i) for i in (a["id"], b["id"])]
        assert rows[0].storage_path == rows[1].storage_path == f"datasets/{a['version']}"
    assert [d["name"] for d in api.get(URL, params={"name": "beta"}).json()] == ["beta"]
    assert [d["name"] for d in api.get(URL).json()] == ["beta", "alpha"]


def test_delete_is_soft(api, settings, upload_zip, open_session, two_versions):
    v1_zip, v2_zip, _ = two_versions
    v1 = upload_zip(v1_zip).json()
    v2 = upload_zip(v2_zip).json()
    deleted = api.delete(f"{URL}/{v1['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted_at"] is not None
    assert api.get(f"{URL}/{v1['id']}").status_code == 404
    assert api.delete(f"{URL}/{v1['id']}").status_code == 404
    assert [d["id"] for d in api.get(URL).json()] == [v2["id"]]
    assert [d["id"] for d in api.get(f"{URL}/{v2['id']}/versions").json()] == [v2["id"]]
    # The files stay for the evaluations that used this version.
    assert (settings.data_dir / "datasets" / v1["version"] / "qrels" / "test.tsv").is_file()
    with open_session() as session:
        loaded = service.load_collection(session, dataset_id=v1["id"], settings=settings)
    assert len(loaded.qrels) == v1["num_judgments"]
    # The same content again brings the same row back.
    restored = upload_zip(v1_zip)
    assert restored.status_code == 200 and restored.json()["id"] == v1["id"]
    assert restored.json()["deleted_at"] is None


def test_unknown_ids(api):
    assert api.get(f"{URL}/999").status_code == 404
    assert api.get(f"{URL}/999/versions").status_code == 404
    assert api.delete(f"{URL}/999").json()["error"]["code"] == "not_found"


def test_roles(settings, synthetic_folder, tmp_path):
    secured = settings.model_copy(update={"auth_enabled": True})
    archive = zip_folder(synthetic_folder, tmp_path / "s.zip").read_bytes()
    with TestClient(create_app(secured)) as client:
        with client.app.state.database.session() as session:
            _, viewer = auth_service.create_key(session, name="reader", role="viewer")
            _, editor = auth_service.create_key(session, name="uploader", role="editor")

        def post(key):
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return client.post(URL, data={"name": "s"}, headers=headers,
                               files={"archive": ("s.zip", archive)})

        assert post(None).status_code == 401
        assert post(viewer).status_code == 403
        created = post(editor)
        assert created.status_code == 201
        path = f"{URL}/{created.json()['id']}"
        assert client.get(URL, headers={"X-API-Key": viewer}).status_code == 200
        assert client.get(path, headers={"X-API-Key": viewer}).status_code == 200
        assert client.get(URL).status_code == 401
        assert client.delete(path, headers={"X-API-Key": viewer}).status_code == 403
        assert client.delete(path, headers={"X-API-Key": editor}).status_code == 200
