"""Fixtures of the dataset tests: a small synthetic BEIR folder, and helpers that
upload through the API and open a session on the app's database."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragbench.core.io.beir import write_beir
from ragbench.core.synthetic import make_collection

URL = "/api/v1/datasets"


@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory) -> Path:
    """60 documents, 8 queries, graded qrels 0-2 (qrels/test.tsv)."""
    folder = tmp_path_factory.mktemp("synthetic") / "synth"
    write_beir(folder, make_collection(11, num_docs=60, num_queries=8))
    return folder


@pytest.fixture
def upload_zip(api):
    """POST a zip file as ``archive``; returns the response."""

    def post(path: Path, *, name: str = "synth", split: str = "test"):
        with open(path, "rb") as f:
            return api.post(URL, data={"name": name, "split": split},
                            files={"archive": (path.name, f, "application/zip")})

    return post


@pytest.fixture
def open_session(api):
    """``with open_session() as session:`` on the app's database."""
    return api.app.state.database.session
