"""Errors the trainer reports in one line, without a traceback: mistakes the user can fix
(`UserError`, exit 2), and a disk it cannot write to (`write_failure` and `make_room`, for
exit 1 or a warning)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


class UserError(Exception):
    """A mistake the user can fix; the message says where and how."""

    exit_code = 2


def is_full_disk(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL_DISK


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding `path` (or its nearest existing parent)."""
    current = Path(os.path.abspath(path))
    while not current.exists() and current != current.parent:
        current = current.parent
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def folder_size(folder: Path) -> int:
    """Bytes of the files under `folder` (0 when it does not exist)."""
    if not folder.is_dir():
        return 0
    return sum(entry.stat().st_size for entry in folder.rglob("*") if entry.is_file())


def write_failure(exc: OSError, folder: Path) -> str:
    """What went wrong writing into `folder`: for a full disk (or quota), which file system
    and how much is free on it."""
    written = exc.filename or f"into {folder}"
    if not is_full_disk(exc):
        return f"cannot write {written}: {exc.strerror or exc}"
    mount = mount_point(folder)
    try:
        free = megabytes(shutil.disk_usage(mount).free)
    except OSError:
        free = "unknown"
    full = "no space left" if exc.errno == errno.ENOSPC else "the disk quota is used up"
    return f"{full} on the file system at {mount} ({free} free) while writing {written}"


def make_room(exc: OSError, needed: int = 0) -> str:
    """What to do about a failed write (`needed`: the bytes about to be written, if known)."""
    if not is_full_disk(exc):
        return "check the folder's permissions"
    wanted = f"at least {megabytes(needed)}" if needed else "some space"
    return f"free {wanted} there or choose a folder on another disk"
