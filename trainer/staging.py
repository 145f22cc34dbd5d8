"""Atomic folder publishing, for the model store and the export publisher: the one place
where folders are staged, swapped and swept (single files: `intent_server.core.files`).

A folder being written is `.STEM.tmp-PID-RANDOM` next to its final place (`staged_folder`);
when complete it either replaces the folder at its final name (`replace_folder`: exchanged
in one step on Linux, else the old one is kept as `.STEM.old-PID-RANDOM` while the new one
is renamed in) or takes a name nobody has used (`rename_new_folder`). The PID tells a running
writer's folder from one a killed run left behind, which the next run removes, or, for a
`.old` copy whose STEM is gone, renames back.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from intent_server.core.files import fsync_dir, shareable
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


@contextmanager
def staged_folder(parent: Path, stem: str, what: str) -> Iterator[Path]:
    """Yield a new empty temp folder for `parent/stem` (after sweeping what killed runs left
    in `parent`); it is removed on any exception, Ctrl-C included, and whatever the caller
    did not move into place by the end."""
    ensure_folder(parent, what)
    remove_stale(parent)
    tmp = temp_folder(parent, stem)
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def sync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder`, so that a power cut after the rename that
    publishes it cannot leave names pointing at empty files."""
    for path in [*folder.rglob("*"), folder]:
        if path.is_symlink():
            continue
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def replace_folder(tmp: Path, final: Path) -> None:
    """Put the finished `tmp` at `final` so that a complete folder is there at every instant:
    exchanged with the old one in one step, then the old one (now at `tmp`) is removed."""
    sync_tree(tmp)
    if not os.path.lexists(final):
        os.replace(tmp, final)
        fsync_dir(final.parent)
    elif exchange(tmp, final):
        fsync_dir(final.parent)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        _replace_by_two_renames(tmp, final)


def _replace_by_two_renames(tmp: Path, final: Path) -> None:
    """Where folders cannot be exchanged: old -> `.NAME.old-*`, tmp -> final. The old one is
    put back if the second step fails here, or by the next run's sweep after a crash."""
    old = temp_folder(final.parent, final.name, kind=OLD_MARKER)
    old.rmdir()
    try:
        os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        if not os.path.lexists(final) and os.path.lexists(old):
            os.replace(old, final)
        raise
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


def rename_new_folder(tmp: Path, final: Path, what: str) -> None:
    """Rename the finished `tmp` to `final`, a name that must not exist (a folder a reader
    may already hold is never replaced); UserError when another `what` (say, "export of the
    same model") took it meanwhile."""
    sync_tree(tmp)
    try:
        os.rename(tmp, final)
    except OSError as exc:
        if final.exists():
            raise UserError(
                f"{final} appeared while it was being written (another {what} ran at the "
                "same time); run it again"
            ) from exc
        raise
    fsync_dir(final.parent)
