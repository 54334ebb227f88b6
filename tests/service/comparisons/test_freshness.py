"""Serving a leaderboard body from memory: only while no write that could change it
was committed in this process, and for at most FRESH_S seconds (other processes)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import event, update

from ragbench.comparisons import freshness
from ragbench.evaluations.models import Evaluation
from ragbench.systems.models import System

from .conftest import per_query


@pytest.mark.parametrize(("statement", "changes"), [
    ("SELECT evaluations.id FROM evaluations", False),
    ("UPDATE evaluations SET queries_done=?, errors_count=?, heartbeat_at=? "
     "WHERE evaluations.id = ?", False),
    ('UPDATE evaluations SET heartbeat_at=%(heartbeat_at)s WHERE evaluations.id = %(id_1)s',
     False),
    ("INSERT INTO evaluation_queries (evaluation_id, query_id) VALUES (?, ?) "
     "ON CONFLICT (evaluation_id, query_id) DO NOTHING", False),
    ("UPDATE evaluation_queries SET metrics=?, ranking=? WHERE evaluation_queries.id = ?",
     False),
    ("INSERT INTO api_keys (name) VALUES (?)", False),
    ("UPDATE evaluations SET status=?, finished_at=? WHERE evaluations.id = ?", True),
    ("UPDATE evaluations SET heartbeat_at=?, status=? WHERE evaluations.id = ?", True),
    ("INSERT INTO evaluations (system_id, dataset_id) VALUES (?, ?)", True),
    ("DELETE FROM evaluations WHERE evaluations.id = ?", True),
    ("UPDATE systems SET name=? WHERE systems.id = ?", True),
    ('UPDATE "public"."systems" SET status=%(status)s', True),
    ("UPDATE datasets SET deleted_at=? WHERE datasets.id = ?", True),
    # Not recognised: assumed to matter.
    ("INSERT OR REPLACE INTO systems VALUES (?)", True),
    ("DROP TABLE evaluations", True),
])
def test_which_statements_change_leaderboards(statement, changes):
    assert freshness.changes_leaderboards(statement) is changes


def test_generation_moves_once_a_relevant_write_is_committed(api, store):
    system_id = store.system("s")
    database = store.database
    before = freshness.generation()
    with database.session() as session:
        session.execute(update(System).where(System.id == system_id).values(name="t"))
        written = freshness.generation()
    assert written != before
    # It moves again when the commit is over, so that a read that began between the
    # write and the commit is not trusted afterwards.
    assert freshness.generation() != written
    moved = freshness.generation()
    with database.session() as session:
        session.execute(update(Evaluation).where(Evaluation.id == -1)
                        .values(queries_done=1, errors_count=0))
    assert freshness.generation() == moved


@pytest.fixture
def board(store):
    dataset_id = store.dataset()
    rng = np.random.default_rng(5)
    ids = {}
    for name in ("a", "b"):
        ids[name] = store.system(name)
        store.evaluation(system_id=ids[name], dataset_id=dataset_id,
                         values={"P@10": per_query(rng.uniform(0, 1, 12))})
    return dataset_id, ids


def _statements_during(database, call):
    seen = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        result = call()
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    return result, seen


def test_a_fresh_body_is_served_without_the_database(api, store, board):
    dataset_id, ids = board
    url = f"/api/v1/comparisons/leaderboard/{dataset_id}?metric=P@10"
    first, read = _statements_during(store.database, lambda: api.get(url))
    assert first.status_code == 200 and read
    again, none = _statements_during(store.database, lambda: api.get(url))
    assert again.content == first.content and none == []

    # A rename committed in this process is seen by the next request.
    with store.database.session() as session:
        session.execute(update(System).where(System.id == ids["b"]).values(name="b2"))
    renamed, read = _statements_during(store.database, lambda: api.get(url))
    assert read and sorted(r["name"] for r in renamed.json()["ranking"]) == ["a", "b2"]


def test_a_body_older_than_fresh_s_is_read_again(api, store, board, monkeypatch):
    dataset_id, _ = board
    url = f"/api/v1/comparisons/leaderboard/{dataset_id}?metric=P@10"
    assert api.get(url).status_code == 200
    monkeypatch.setattr(freshness, "FRESH_S", 0.0)
    again, read = _statements_during(store.database, lambda: api.get(url))
    assert again.status_code == 200 and read
