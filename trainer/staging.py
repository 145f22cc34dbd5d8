"""Temp folders next to their final place, for the model store and the export publisher.

A folder being written is `.STEM.tmp-PID-RANDOM` (`.STEM.old-PID-RANDOM` while a model is
swapped); the PID tells a running writer's folder from one a killed run left behind, which
the next run removes.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from intent_server.core.files import shareable
from intent_server.core.layout import TMP_MARKER
from trainer.errors import UserError

_WRITER_PID = re.compile(r"\.(?:tmp|old)-(\d+)-")


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (even one we may not signal)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ensure_folder(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the {what} {folder}: {exc}") from exc


def remove_stale(folder: Path) -> None:
    """Temp folders and files in `folder` whose writer process is gone (SIGKILL, power loss)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        match = _WRITER_PID.search(entry.name)
        if not entry.name.startswith(".") or not match or pid_alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def temp_folder(folder: Path, stem: str, kind: str = TMP_MARKER) -> Path:
    """A new empty `.STEM.tmp-PID-*` folder in `folder`, readable by other users (a server
    may run as another user than the trainer)."""
    path = Path(tempfile.mkdtemp(prefix=f".{stem}{kind}{os.getpid()}-", dir=folder))
    shareable(path, directory=True)
    return path
