"""Write-then-rename, so that a reader never sees a half-written file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)``, then rename ``tmp_path`` onto ``path``.

    The temporary file lives in the target's folder (a rename across file
    systems is not atomic) and is removed if ``write`` fails. Its name is
    random rather than made by ``mkstemp`` so that the file gets the usual
    permissions (umask), not mkstemp's owner-only 0600."""
    target = Path(path)
    tmp = str(target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data) -> None:
    """``data``: bytes or any buffer (an Arrow buffer is written without a copy)."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
