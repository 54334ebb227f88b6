"""Systems' API keys at rest: Fernet tokens (AES-128-CBC + HMAC-SHA256).

The Fernet key is ``settings.secret_key`` or, when that is empty, a key generated
once into ``<data_dir>/secret.key`` (mode 0600, linked into place atomically so two
processes starting together agree on one key). Losing that file makes stored API keys
unreadable: back it up with the database, or set ``RAGBENCH_SECRET_KEY``.

Plaintext keys leave this module only towards the system they belong to (the
``Authorization`` header); responses show :func:`mask` of them.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ragbench.errors import AppError

log = logging.getLogger(__name__)

KEY_FILE = "secret.key"


class SecretUnreadable(AppError):
    """The secret key is malformed, or a stored token was made with another key."""

    status_code = 500
    code = "secret_unreadable"


def cipher(settings) -> Fernet:
    """The Fernet cipher for ``settings`` (key from settings or the data folder)."""
    if settings.secret_key:
        return _fernet(settings.secret_key, "RAGBENCH_SECRET_KEY")
    path = Path(settings.data_dir).resolve() / KEY_FILE
    return _fernet(_key_file(path), str(path))


def encrypt(plaintext: str, *, settings) -> str:
    """A Fernet token (str) for ``plaintext``."""
    return cipher(settings).encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str, *, settings) -> str:
    """The plaintext of a token made by :func:`encrypt` with the same key."""
    try:
        return cipher(settings).decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored API key cannot be decrypted: the secret key changed "
                               "since it was stored (RAGBENCH_SECRET_KEY or "
                               "<data_dir>/secret.key); register the key again") from None


def mask(plaintext: str) -> str:
    """What responses show of a key: its first two characters when it is long enough
    (>= 12) that two characters give little away, else nothing (``rb****``, ``****``)."""
    return (plaintext[:2] if len(plaintext) >= 12 else "") + "****"


@lru_cache(maxsize=16)
def _fernet(key: str, source: str) -> Fernet:
    try:
        return Fernet(key.encode("ascii") if isinstance(key, str) else key)
    except (ValueError, UnicodeError):
        raise SecretUnreadable(f"{source} is not a Fernet key (urlsafe base64 of 32 bytes; "
                               "make one with `python -c \"from cryptography.fernet import "
                               "Fernet; print(Fernet.generate_key().decode())\"`)") from None


def _key_file(path: Path) -> str:
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Written in full under a private name, then linked into place: os.link fails when
    # the file exists, so a process racing this one never reads a half-written key.
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        os.link(tmp, path)
    except FileExistsError:
        return path.read_text("ascii").strip()
    finally:
        tmp.unlink(missing_ok=True)
    log.info("generated the secret key for stored API keys at %s (back it up)", path)
    return key.decode("ascii")
