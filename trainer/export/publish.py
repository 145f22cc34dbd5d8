"""Atomic publishing of an export: temp folder -> rename -> `current` pointer switched last
(the folder steps are `trainer.staging`'s).

A server polling `exported/MODEL/current` sees either the old complete version or the new
complete one, never a half-written folder.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from intent_server.core.exports import pointer_text
from intent_server.core.files import atomic_write, fsync_dir, sha256_file
from intent_server.core.layout import CURRENT, MANIFEST, is_temp_name
from trainer.staging import rename_new_folder, staged_folder


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
    with staged_folder(model_dir, version, "export folder") as tmp:
        yield tmp


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file in `folder` (flat: exports have no sub-folders)."""
    return {path.name: sha256_file(path) for path in sorted(folder.iterdir()) if path.is_file()}


def promote(tmp: Path, model_dir: Path, version: str) -> Path:
    """Rename the finished temp folder to its version name (same file system: atomic)."""
    final = model_dir / version
    rename_new_folder(tmp, final, "export of the same model")
    return final


def switch_current(model_dir: Path, version: str) -> None:
    """Point `model_dir/current` at `version` (an atomic replace of the pointer file), with
    its manifest's sha256, so a manifest edited afterwards is refused by the loader."""
    manifest_sha = sha256_file(model_dir / version / MANIFEST)
    atomic_write(model_dir / CURRENT, pointer_text(version, manifest_sha))
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
