"""ragbench.core is pure: it imports only numpy, scipy, pyarrow, the standard
library and itself (so it works as a library without the service's stack)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "ragbench" / "core"
ALLOWED_THIRD_PARTY = {"numpy", "scipy", "pyarrow"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_sources_import_only_allowed_packages():
    stdlib = set(sys.stdlib_module_names)
    offenders = {}
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10  # the scan really sees the package
    for path in files:
        bad = {r for r in _imported_roots(path)
               if r not in stdlib and r not in ALLOWED_THIRD_PARTY and r != "ragbench"}
        if bad:
            offenders[str(path.relative_to(CORE))] = sorted(bad)
    assert offenders == {}


def test_core_does_not_import_outside_core():
    bad = {}
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                    and node.module.startswith("ragbench") \
                    and not node.module.startswith("ragbench.core"):
                bad.setdefault(str(path.relative_to(CORE)), []).append(node.module)
    assert bad == {}


def test_importing_core_loads_no_web_or_database_stack():
    code = ("import sys, pkgutil, importlib, ragbench.core as c\n"
            "for m in pkgutil.walk_packages(c.__path__, 'ragbench.core.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.split()
    loaded = {m.split(".")[0] for m in out}
    forbidden = {"fastapi", "starlette", "sqlalchemy", "httpx", "typer", "rich", "celery",
                 "redis", "pydantic", "alembic"}
    assert loaded & forbidden == set()
    assert "numpy" in loaded  # sanity: the probe did import the core
