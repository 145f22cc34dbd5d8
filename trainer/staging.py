"""Temp folders next to their final place, for the model store and the export publisher.

A folder being written is `.STEM.tmp-PID-RANDOM`; where a folder cannot be exchanged
atomically, the one being replaced is kept as `.STEM.old-PID-RANDOM` while the new one is
renamed in. The PID tells a running writer's folder from one a killed run left behind, which
the next run removes, or, for a `.old` copy whose STEM is gone, renames back.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from intent_server.core.files import shareable
from intent_server.core.layout import TMP_MARKER
from trainer.errors import UserError

log = logging.getLogger(__name__)

OLD_MARKER = ".old-"
_WRITER_PID = re.compile(r"\.(?:tmp|old)-(\d+)-")
_PRESERVED = re.compile(r"^\.(.+)\.old-\d+-[^/]*$")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
# The file system or kernel cannot exchange (old kernels, some network file systems).
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}


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


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step (Linux `renameat2(RENAME_EXCHANGE)`), so each
    name always names a complete folder; False where the system cannot (then nothing moved)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):  # not Linux, or a C library without it
        return False
    text, number = ctypes.c_char_p, ctypes.c_int
    renameat2.argtypes = [number, text, number, text, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    paths = os.fsencode(first), os.fsencode(second)
    if renameat2(_AT_FDCWD, paths[0], _AT_FDCWD, paths[1], _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def remove_stale(folder: Path) -> None:
    """Temp folders and files in `folder` whose writer process is gone (SIGKILL, power loss);
    a `.STEM.old-*` copy whose STEM is missing is the only copy left: it is restored."""
    if not folder.is_dir():
        return
    stale = [entry for entry in folder.iterdir() if _writer_gone(entry.name)]
    for entry in _preserved_first(stale):
        final = _only_copy_of(entry)
        if final is not None:
            _restore(entry, final)  # never removed, even when the rename fails
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def restore_preserved(final: Path) -> None:
    """Rename a killed run's `.old` copy of `final` back when `final` is missing."""
    if os.path.lexists(final) or not final.parent.is_dir():
        return
    prefix = f".{final.name}{OLD_MARKER}"
    found = [p for p in final.parent.iterdir() if p.name.startswith(prefix)]
    for entry in _preserved_first([p for p in found if _writer_gone(p.name)]):
        if _only_copy_of(entry) == final:
            _restore(entry, final)
            return


def _writer_gone(name: str) -> bool:
    match = _WRITER_PID.search(name)
    return name.startswith(".") and match is not None and not pid_alive(int(match.group(1)))


def _preserved_first(entries: list[Path]) -> list[Path]:
    """`.old` copies first, the most recently renamed (the newest model) first among them."""

    def order(entry: Path) -> tuple[bool, float]:
        try:
            changed = entry.lstat().st_ctime  # a rename sets it
        except OSError:
            changed = 0.0
        return (not _PRESERVED.match(entry.name), -changed)

    return sorted(entries, key=order)


def _only_copy_of(entry: Path) -> Path | None:
    """STEM for a `.STEM.old-*` folder when nothing is named STEM, else None."""
    match = _PRESERVED.match(entry.name)
    if match is None or not entry.is_dir() or entry.is_symlink():
        return None
    final = entry.parent / match.group(1)
    return None if os.path.lexists(final) else final


def _restore(entry: Path, final: Path) -> None:
    try:
        os.rename(entry, final)  # fails rather than replace a non-empty folder made meanwhile
    except OSError as exc:
        log.warning(
            "warning: %s is missing and its previous copy %s could not be renamed back (%s); "
            "rename it to %s by hand",
            final, entry, exc.strerror or exc, final.name,
        )  # fmt: skip
        return
    log.warning(
        "warning: %s was missing (a run was stopped while replacing it); restored the "
        "previous model from %s",
        final, entry.name,
    )  # fmt: skip


def temp_folder(folder: Path, stem: str, kind: str = TMP_MARKER) -> Path:
    """A new empty `.STEM.tmp-PID-*` folder in `folder`, readable by other users (a server
    may run as another user than the trainer)."""
    path = Path(tempfile.mkdtemp(prefix=f".{stem}{kind}{os.getpid()}-", dir=folder))
    shareable(path, directory=True)
    return path
