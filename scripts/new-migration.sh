#!/usr/bin/env bash
# A new Alembic revision for a schema change, generated from the models against a
# scratch database migrated to the current head:
#   bash scripts/new-migration.sh 0003 "what changed"
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -eq 2 ] || { echo "usage: $0 REV_ID MESSAGE" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export RAGBENCH_DATABASE_URL="sqlite:///$tmp/scratch.db"
.venv/bin/alembic upgrade head >/dev/null
.venv/bin/alembic revision --autogenerate --rev-id "$1" -m "$2"
