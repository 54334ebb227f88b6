"""The optional C accelerator, :mod:`ragbench.core._accel` (``_accel.c``; its
header comment states each function's contract).

Every caller keeps the numpy/Arrow code that the accelerator replaces, as the
reference and the fallback, and results are bit-identical either way: the C
code returns None (or raises ValueError) on anything it does not handle
exactly, and the reference code then runs and reports errors with file:line.
The extension is built by ``pip install -e .`` (``setup.py``); when it is
missing -- or ``RAGBENCH_NO_ACCEL=1`` is set, read at each call so that tests
can compare the two paths -- everything runs in numpy/Arrow.
"""

from __future__ import annotations

import os
from types import ModuleType

try:
    from ragbench.core import _accel
except ImportError:  # not built: the numpy/Arrow code does everything
    _accel = None


def accel() -> ModuleType | None:
    """The C module, or None when it is not built or is switched off."""
    if _accel is None or os.environ.get("RAGBENCH_NO_ACCEL", "") not in ("", "0"):
        return None
    return _accel
