#!/usr/bin/env bash
# Development only: rebuild migration 0001 from the models (before the first release,
# the schema is one migration; after it, add a new revision per change instead).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
rm -f src/ragbench/migrations/versions/0001_*.py
RAGBENCH_DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/alembic revision --autogenerate \
    --rev-id 0001 -m "initial schema" >/dev/null
rm -rf "$tmp"
ls src/ragbench/migrations/versions/
