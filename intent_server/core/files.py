"""Hashing and crash-safe writing, the one copy of each that trainer and server use."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from intent_server.core.layout import TMP_MARKER

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Streaming sha256 (encoders are ~90 MB: never read them whole)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def umask() -> int:
    """The process umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def shareable(path: Path, directory: bool = False) -> None:
    """Give a file made by `tempfile` (private, 0600/0700) the usual permissions: a server
    may run as another user than the trainer."""
    os.chmod(path, (0o777 if directory else 0o666) & ~umask())


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_write(path: Path, *chunks: bytes | str) -> None:
    """Write `chunks` to `path` so that readers see the old file or the whole new one: a temp
    file beside it (`.NAME.tmp-PID-*`), flushed and fsynced, then renamed over `path`."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(
        prefix=f".{path.name}{TMP_MARKER}{os.getpid()}-", dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            handle.flush()
            os.fsync(handle.fileno())
        shareable(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Pretty JSON (UTF-8, not ASCII-escaped), written with `atomic_write`."""
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
