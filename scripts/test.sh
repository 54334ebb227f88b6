#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the whole suite.
source "$(dirname "$0")/_env.sh"
python -m pytest -q "$@"
