#!/usr/bin/env bash
# The main job: set up .venv if needed, then run the service end to end on this
# machine: a synthetic collection, three reference systems (BM25, dense, hybrid) as
# real HTTP servers, the ragbench service, registration with validation, evaluation
# over HTTP and a leaderboard with significance. The service stays up (/docs) until
# Ctrl-C, which stops every process the demo started.
#   bash scripts/demo.sh [FOLDER] [--port N] [--no-stay-up]
RAGBENCH_EXTRAS="${RAGBENCH_EXTRAS:-dev}" source "$(dirname "$0")/_env.sh"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec ragbench demo "$@"
