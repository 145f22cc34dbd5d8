"""`EXPORT_DIR/.encoders/`: every encoder file once, named by its sha256, shared by the
versions of every model that export the same encoder identity.

An identity is what makes two exporters write the same graph: the encoder's weights, its
depth and feature layers, the opset, the graph's format and the tools that traced and
quantized it. A record per identity (`KEY.identity.json`) names its files, so the next
export of any bot on that encoder reuses them instead of tracing and quantizing again.

Files enter the store like every other published file: written under a temp name, fsynced,
renamed, the folder fsynced. Exporters hold a shared lock on the export folder from the moment they
rely on a stored file until their version is current; `collect` takes the lock exclusively
(or skips, when an export is in progress) and removes only files no manifest names.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from intent_server.core.exports import stored_sha256
from intent_server.core.files import fsync_dir, sha256_file, write_json
from intent_server.core.layout import (
    ENCODER_STORE,
    IDENTITY_RECORD_SUFFIX,
    MANIFEST,
    STORED_ENCODER_SUFFIX,
    TMP_MARKER,
    stored_encoder_name,
)
from intent_server.core.model_card import EncoderIdentity
from trainer.features.onnx_graph import GRAPH_FORMAT

_STORED_NAME = re.compile(r"[0-9a-f]{64}" + re.escape(STORED_ENCODER_SUFFIX))


def store_dir(export_dir: Path) -> Path:
    return Path(export_dir) / ENCODER_STORE


def identity_fields(identity: EncoderIdentity, opset: int) -> dict[str, object]:
    """Everything the encoder graph depends on (the head and tokenizer are per version)."""
    import onnx
    import onnxruntime
    import torch

    return {
        "weights_sha256": identity.weights_sha256,
        "num_layers": identity.num_layers,
        "feature_layers": list(identity.feature_layers),
        "token_type_ids": identity.token_type_ids,
        "opset": opset,
        "graph_format": GRAPH_FORMAT,
        "tools": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }


def identity_key(fields: dict[str, object]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredEncoders:
    """The store's files of one identity: variant -> file name (`SHA256.onnx`)."""

    folder: Path
    files: dict[str, str]

    def path(self, variant: str) -> Path:
        return self.folder / self.files[variant]


@contextmanager
def store_lock(export_dir: Path, exclusive: bool = False) -> Iterator[bool]:
    """Shared (exporters) or exclusive (collection) lock on the export folder itself (no lock
    file to leave behind); yields False when the exclusive lock is not free at once (an
    export is in progress)."""
    Path(export_dir).mkdir(parents=True, exist_ok=True)
    descriptor = os.open(export_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        mode = fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(descriptor, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)  # closing releases the lock


def _intact(path: Path) -> bool:
    """A stored file whose content still has the sha256 it is named after."""
    name = path.name.removesuffix(STORED_ENCODER_SUFFIX)
    return path.is_file() and stored_sha256(path) == name


def find(export_dir: Path, key: str, variants: tuple[str, ...]) -> StoredEncoders | None:
    """The stored files of identity `key` for every variant in `variants`, each checked
    against its sha256; None when any is missing or damaged (the exporter then writes them)."""
    record = store_dir(export_dir) / f"{key}{IDENTITY_RECORD_SUFFIX}"
    try:
        files = json.loads(record.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, dict) or not all(v in files for v in variants):
        return None
    stored = StoredEncoders(store_dir(export_dir), {v: str(files[v]) for v in variants})
    if not all(_STORED_NAME.fullmatch(n) for n in stored.files.values()):
        return None
    return stored if all(_intact(stored.path(v)) for v in variants) else None


def _publish_file(source: Path, folder: Path) -> str:
    """Move `source` into the store as `SHA256.onnx` (fsync, rename, fsync the folder); a
    stored file with that name is replaced only when damaged."""
    name = stored_encoder_name(sha256_file(source))
    final = folder / name
    if _intact(final):
        source.unlink()
        return name
    temp = folder / f".{name}{TMP_MARKER}{os.getpid()}"
    shutil.move(source, temp)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    fsync_dir(folder)
    return name


def store(
    export_dir: Path, key: str, fields: dict[str, object], files: dict[str, Path]
) -> StoredEncoders:
    """Move the verified encoder `files` (variant -> path) into the store and record them as
    identity `key`'s (the record last, so it never names a file that is not there)."""
    folder = store_dir(export_dir)
    folder.mkdir(parents=True, exist_ok=True)
    names = {variant: _publish_file(path, folder) for variant, path in sorted(files.items())}
    write_json(folder / f"{key}{IDENTITY_RECORD_SUFFIX}", {"identity": fields, "files": names})
    fsync_dir(folder)
    return StoredEncoders(folder, names)


def referenced(export_dir: Path) -> set[str]:
    """Store file names any manifest under `export_dir` mentions: every version of every
    model, half-written ones included (read as text, so a damaged manifest still counts)."""
    names: set[str] = set()
    for manifest in Path(export_dir).glob(f"*/*/{MANIFEST}"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            names.update(_STORED_NAME.findall(manifest.read_text(encoding="utf-8")))
    return names


def collect(export_dir: Path) -> list[str] | None:
    """Remove the stored encoders no version of any model refers to (and records naming
    them, and files left by killed exports); None when an export holds the store."""
    folder = store_dir(export_dir)
    if not folder.is_dir():
        return []
    with store_lock(export_dir, exclusive=True) as free:
        if not free:
            return None
        keep = referenced(export_dir)
        removed = []
        for path in sorted(folder.iterdir()):
            if TMP_MARKER in path.name or (
                _STORED_NAME.fullmatch(path.name) and path.name not in keep
            ):
                _remove(path)
                removed.append(path.name)
        for record in folder.glob(f"*{IDENTITY_RECORD_SUFFIX}"):
            if not _record_complete(record):
                record.unlink(missing_ok=True)
        fsync_dir(folder)
        return [name for name in removed if _STORED_NAME.fullmatch(name)]


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _record_complete(record: Path) -> bool:
    try:
        files = json.loads(record.read_text(encoding="utf-8"))["files"]
        return all((record.parent / str(name)).is_file() for name in files.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
