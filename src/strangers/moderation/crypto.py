"""The evidence key: a Fernet key kept in a 0600 file of the data directory."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet


def load_or_create_key(path: Path) -> bytes:
    """Return the Fernet key stored at ``path``, creating it (mode 0600) if absent.

    The file is created with ``O_CREAT | O_EXCL``, so two processes starting together
    never overwrite each other's key; both read back the one that won.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        try:
            os.write(fd, Fernet.generate_key() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    key = path.read_bytes().strip()
    Fernet(key)  # raises ValueError if the file does not hold a Fernet key
    return key
