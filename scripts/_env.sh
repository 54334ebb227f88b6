# Sourced by the other scripts: a project virtualenv with ragbench installed.
# Creates .venv on first use; reinstalls (and recompiles the optional C
# accelerator) when the packaging files or the C source change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
inputs=$(cat pyproject.toml setup.py src/ragbench/core/_accel.c | sha1sum | cut -c1-12)
stamp=".venv/.installed-${inputs}-${RAGBENCH_EXTRAS:-dev}"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[${RAGBENCH_EXTRAS:-dev}]"
    rm -f .venv/.installed-* && touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
