"""Shared fixtures: where the third-party test data lives (../shared/testdata)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"
TREC_EVAL = TESTDATA / "trec_eval"
SCIFACT = TESTDATA / "scifact"


@pytest.fixture(scope="session")
def trec_eval_dir() -> Path:
    if not TREC_EVAL.is_dir():
        raise RuntimeError(f"trec_eval test suite not found at {TREC_EVAL}")
    return TREC_EVAL


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    if not SCIFACT.is_dir():
        raise RuntimeError(f"SciFact test collection not found at {SCIFACT}")
    return SCIFACT
