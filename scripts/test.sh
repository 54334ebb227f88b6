#!/usr/bin/env bash
# The test command: sets up .venv if needed, starts a PostgreSQL server on loopback
# (installed from Debian packages when missing) so the service tests run on both
# SQLite and PostgreSQL, runs the whole suite, and stops the server by PID.
#   RAGBENCH_TEST_POSTGRES=skip   run the service tests on SQLite only
#   RAGBENCH_TEST_REDIS=skip      skip the Celery engine tests (they start their own Redis)
source "$(dirname "$0")/_env.sh"
if [ "${RAGBENCH_TEST_POSTGRES:-on}" != skip ] && [ -z "${RAGBENCH_TEST_DATABASE_URL:-}" ]; then
    export RAGBENCH_PG_PORT="${RAGBENCH_PG_PORT:-$((54000 + RANDOM % 900))}"
    RAGBENCH_TEST_DATABASE_URL=$(bash scripts/postgres.sh start) || {
        echo "could not start PostgreSQL (set RAGBENCH_TEST_POSTGRES=skip to test on SQLite only)" >&2
        exit 1; }
    export RAGBENCH_TEST_DATABASE_URL
    trap 'bash scripts/postgres.sh stop' EXIT
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ "$#" -eq 0 ]; then
    # The oracle tests once more on the numpy/Arrow reference path, which the C
    # accelerator must match (tests/core/test_accel.py compares the two directly).
    RAGBENCH_NO_ACCEL=1 python -m pytest -q \
        tests/test_trec_eval_conformance.py tests/test_differential_pytrec_eval.py \
        tests/test_scifact.py tests/core/test_ranking.py
fi
python -m pytest -q "$@"
