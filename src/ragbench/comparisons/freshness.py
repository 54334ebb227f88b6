"""When a cached leaderboard body may be served without asking the database.

A leaderboard depends on the ``evaluations`` (which completed, when), ``systems``
(active, names) and ``datasets`` (deleted or not) tables. Every write to them that
this process commits through SQLAlchemy advances :func:`generation`: a listener on
all engines notes such statements after they run and advances the counter when
their transaction commits (and at once for autocommit connections). A body read at
generation ``g`` is still exact while the generation is ``g``.

Writes made elsewhere (a batch worker in another process, another API process,
SQL outside SQLAlchemy) are not seen; for them a body is served for at most
:data:`FRESH_S` seconds after the database read it came from started, so a
leaderboard is never more than that behind a change committed by another process.

Writes that cannot change a leaderboard are ignored so that running evaluations do
not turn every request into a database read: the runner's progress updates
(``UPDATE evaluations SET queries_done=..., errors_count=..., heartbeat_at=...``)
and anything on other tables (``evaluation_queries``: a completed evaluation's
per-query values are written in the transaction that completes it). A statement
that is not recognised as a read or as one of those counts as a change.
"""

from __future__ import annotations

import re
import threading

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

#: Seconds a leaderboard body is served without a database read when this process
#: saw no relevant write meanwhile: how far behind another process's writes it may be.
FRESH_S = 1.0

#: The tables a leaderboard reads its key and names from.
TABLES = frozenset({"evaluations", "systems", "datasets"})
#: Columns of ``evaluations`` that leaderboards never read (progress of a running one).
PROGRESS_COLUMNS = frozenset({"queries_done", "errors_count", "heartbeat_at"})

_READS = ("SELECT", "PRAGMA", "SHOW", "EXPLAIN", "SAVEPOINT", "RELEASE", "ROLLBACK",
          "BEGIN", "COMMIT", "SET ", "RESET", "DISCARD")
_WRITE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+([\w."]+)(?:\s+SET\s+(.*?)'
                    r'(?:\s+WHERE\s|\s+RETURNING\s|$))?', re.IGNORECASE | re.DOTALL)
#: Decisions per statement text (compiled statements repeat); bounded.
_MEMO_MAX = 2000

_generation = 0
_lock = threading.Lock()
_memo: dict[str, bool] = {}


def generation() -> int:
    """Changes whenever this process commits a write that may change a leaderboard."""
    return _generation


def advance() -> None:
    """Mark every cached leaderboard body as possibly out of date."""
    global _generation
    with _lock:
        _generation += 1


def changes_leaderboards(statement: str) -> bool:
    """Whether SQL ``statement`` may change what a leaderboard shows (see the module doc)."""
    decided = _memo.get(statement)
    if decided is None:
        decided = _decide(statement)
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[statement] = decided
    return decided


def _decide(statement: str) -> bool:
    head = statement.lstrip()[:10].upper()
    if head.startswith(_READS):
        return False
    match = _WRITE.match(statement)
    if match is None:
        return True  # DDL, a CTE, anything unrecognised: assume it matters
    table = match.group(1).replace('"', "").rsplit(".", 1)[-1].lower()  # schema.table
    assignments = match.group(2)
    if table not in TABLES:
        return False
    if table != "evaluations" or assignments is None:
        return True
    columns = {part.split("=", 1)[0].strip().strip('"').lower()
               for part in assignments.split(",")}
    return not columns <= PROGRESS_COLUMNS


# The flag lives in the pooled connection's info dict (the same dict for the
# Connection and its pool record): "written" after a relevant statement, "committing"
# once its transaction's commit has begun. The commit event runs before the database
# commits, so the generation also advances once the commit is over (the connection
# goes back to the pool, or begins its next transaction): a request that read the
# old state in between is not served past that point.
_FLAG = "ragbench_leaderboards"


@event.listens_for(Engine, "after_cursor_execute")
def _after_execute(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    if changes_leaderboards(statement):
        conn.info[_FLAG] = "written"
        advance()  # an autocommit connection has already committed it


@event.listens_for(Engine, "commit")
def _on_commit(conn) -> None:
    if conn.info.get(_FLAG):
        conn.info[_FLAG] = "committing"
        advance()


@event.listens_for(Engine, "rollback")
def _on_rollback(conn) -> None:
    if conn.info.get(_FLAG) == "written":
        del conn.info[_FLAG]


@event.listens_for(Engine, "begin")
def _on_begin(conn) -> None:
    if conn.info.pop(_FLAG, None) == "committing":
        advance()


@event.listens_for(Pool, "checkin")
def _on_checkin(_dbapi_connection, record) -> None:
    if record is not None and record.info.pop(_FLAG, None) is not None:
        advance()
