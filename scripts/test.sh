#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the whole suite.
source "$(dirname "$0")/_env.sh"
if [ "$#" -eq 0 ]; then
    # The oracle tests once more on the numpy/Arrow reference path, which the C
    # accelerator must match (tests/core/test_accel.py compares the two directly).
    RAGBENCH_NO_ACCEL=1 python -m pytest -q \
        tests/test_trec_eval_conformance.py tests/test_differential_pytrec_eval.py \
        tests/test_scifact.py tests/core/test_ranking.py
fi
python -m pytest -q "$@"
