"""Atomic publishing of an export: temp folder -> rename -> `current` pointer switched last.

A server polling `exported/MODEL/current` sees either the old complete version or the new
complete one, never a half-written folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from intent_server.export_loader import CURRENT, TMP_MARKER, is_temp_name, sha256_file
from trainer.errors import UserError
from trainer.processes import pid_alive


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def remove_stale_temp_dirs(model_dir: Path) -> None:
    """Temp folders of exports that were killed (SIGKILL) and whose process is gone."""
    for entry in model_dir.glob(f".*{TMP_MARKER}*"):
        match = re.search(rf"{re.escape(TMP_MARKER)}(\d+)-", entry.name)
        if not match or pid_alive(int(match.group(1))):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def free_version_name(model_dir: Path, version: str) -> str:
    """`version`, or `version-2`, `-3`, ... when an export of that version already exists
    (re-exporting must not overwrite a folder a running server may have loaded)."""
    candidate, suffix = version, 1
    while (model_dir / candidate).exists():
        suffix += 1
        candidate = f"{version}-{suffix}"
    return candidate


@contextmanager
def staged_export(model_dir: Path, version: str) -> Iterator[Path]:
    """Yield an empty temp folder in `model_dir`; removed on any exception (Ctrl-C included)."""
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the export folder {model_dir}: {exc}") from exc
    remove_stale_temp_dirs(model_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}{TMP_MARKER}{os.getpid()}-", dir=model_dir))
    # mkdtemp makes the folder private (0700); a server may run as another user.
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file in `folder` (flat: exports have no sub-folders)."""
    return {path.name: sha256_file(path) for path in sorted(folder.iterdir()) if path.is_file()}


def write_json(path: Path, data: Any) -> None:
    with path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def promote(tmp: Path, model_dir: Path, version: str) -> Path:
    """Rename the finished temp folder to its version name (same file system: atomic)."""
    for path in tmp.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    final = model_dir / version
    try:
        os.rename(tmp, final)
    except OSError as exc:
        if final.exists():
            raise UserError(
                f"{final} appeared while exporting (another export of the same model ran at "
                "the same time); run the export again"
            ) from exc
        raise
    fsync_dir(model_dir)
    return final


def switch_current(model_dir: Path, version: str) -> None:
    """Point `model_dir/current` at `version`: write a temp file, then os.replace it."""
    fd, name = tempfile.mkstemp(prefix=f".{CURRENT}{TMP_MARKER}{os.getpid()}-", dir=model_dir)
    try:
        os.chmod(name, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(version + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, model_dir / CURRENT)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the switch happened; durability is best effort
        fsync_dir(model_dir)


def prune_versions(model_dir: Path, keep: int, current: str) -> list[str]:
    """Remove all but the newest `keep` version folders (never `current`); returns the names.

    A server that already loaded an older version keeps working: its sessions hold the data.
    """
    versions = sorted(
        (entry for entry in model_dir.iterdir() if entry.is_dir() and not is_temp_name(entry.name)),
        key=lambda entry: entry.stat().st_mtime_ns,
        reverse=True,
    )
    removed = []
    for entry in versions[max(keep, 1) :]:
        if entry.name != current:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed
