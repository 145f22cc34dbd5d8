"""Read and verify an export folder (`exported/MODEL/VERSION/`) without torch.

The server calls `resolve_current` + `load_export` on start and on reload; anything wrong with
the files becomes an `ExportError` whose message names the file and the problem, so a bad
export is refused instead of being served.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intent_server.decision import Thresholds

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CURRENT = "current"
TMP_MARKER = ".tmp-"
VARIANTS = ("fp32", "int8")
REQUIRED_KEYS = (
    "format_version",
    "name",
    "version",
    "labels",
    "thresholds",
    "encoder",
    "default_encoder",
    "encoders",
    "head",
    "tokenizer",
    "files",
)
_CHUNK = 1 << 20


class ExportError(Exception):
    """An export folder cannot be used; the message says which file and what is wrong."""


@dataclass(frozen=True)
class LoadedExport:
    name: str
    version: str
    path: Path
    manifest: dict[str, Any]
    labels: tuple[str, ...]
    thresholds: Thresholds
    encoder_path: Path
    head_path: Path
    tokenizer_path: Path
    encoder_variant: str
    max_tokens: int


def sha256_file(path: Path) -> str:
    """Streaming sha256 (exports hold ~90 MB encoders; never read them whole)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_temp_name(name: str) -> bool:
    """A half-written export (`.VERSION.tmp-*`) or any hidden entry."""
    return name.startswith(".") or TMP_MARKER in name


def list_models(export_dir: Path) -> list[str]:
    """Model names under `export_dir` that have a `current` pointer."""
    if not export_dir.is_dir():
        return []
    return sorted(
        entry.name
        for entry in export_dir.iterdir()
        if entry.is_dir() and not is_temp_name(entry.name) and (entry / CURRENT).is_file()
    )


def resolve_current(export_dir: Path, model: str) -> Path:
    """The version folder that `export_dir/model/current` points at."""
    model_dir = export_dir / model
    pointer = model_dir / CURRENT
    if not model_dir.is_dir():
        known = ", ".join(list_models(export_dir)) or "none"
        raise ExportError(
            f"no export for model '{model}' in {export_dir} (exported models: {known}); "
            f"run `make export MODEL={model}` first"
        )
    if not pointer.is_file():
        raise ExportError(f"{pointer} is missing: the export of '{model}' was never completed")
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{pointer} cannot be read: {exc}") from exc
    if not version or "/" in version or "\\" in version or version in (".", ".."):
        raise ExportError(f"{pointer} must hold a version folder name, found {version!r}")
    if is_temp_name(version):
        raise ExportError(f"{pointer} points at a temporary folder {version!r}; refusing it")
    target = model_dir / version
    if not target.is_dir():
        raise ExportError(f"{pointer} points at {version!r}, which does not exist in {model_dir}")
    return target


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """Parse and check the structure of `manifest.json`."""
    path = version_dir / MANIFEST
    if not path.is_file():
        raise ExportError(f"{path} is missing: not a complete export folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ExportError(f"{path} is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ExportError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc
    if not isinstance(data, dict):
        raise ExportError(f"{path} must hold a JSON object, found {type(data).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ExportError(f"{path} lacks the keys {missing}; re-export the model")
    if data["format_version"] != FORMAT_VERSION:
        raise ExportError(
            f"{path} has format_version {data['format_version']!r}; this server reads "
            f"{FORMAT_VERSION}: re-export the model with the matching intent-export"
        )
    return data


def _field(manifest: dict[str, Any], where: Path, *keys: str) -> Any:
    value: Any = manifest
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise ExportError(f"{where / MANIFEST} lacks {'.'.join(keys)}")
        value = value[key]
    return value


def _file_name(manifest: dict[str, Any], where: Path, *keys: str) -> str:
    name = _field(manifest, where, *keys)
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ExportError(f"{where / MANIFEST}: {'.'.join(keys)} must be a plain file name")
    return name


def verify_files(version_dir: Path, manifest: dict[str, Any], names: Iterable[str]) -> None:
    """Check that each named file exists and has the sha256 the manifest records."""
    hashes = manifest["files"]
    if not isinstance(hashes, dict):
        raise ExportError(f"{version_dir / MANIFEST}: 'files' must map file names to sha256")
    for name in names:
        path = version_dir / name
        expected = hashes.get(name)
        if not isinstance(expected, str):
            raise ExportError(f"{version_dir / MANIFEST} records no sha256 for {name}")
        if not path.is_file():
            raise ExportError(f"{path} is missing (listed in the manifest)")
        actual = sha256_file(path)
        if actual != expected:
            raise ExportError(
                f"{path} is corrupted or was changed: sha256 {actual[:12]}… but the manifest "
                f"expects {expected[:12]}…; re-export the model"
            )


def head_output_size(head_path: Path) -> int:
    """Number of classes the head ONNX produces (runs it once when the shape is symbolic)."""
    return head_shape(head_path)[1]


def head_shape(head_path: Path) -> tuple[int, int]:
    """(input width, number of classes) of the head ONNX."""
    import numpy as np
    import onnxruntime as ort

    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a one-off check: no host-sized thread pool
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(head_path), options, providers=["CPUExecutionProvider"])
        feed = session.get_inputs()[0]
        width = feed.shape[-1] if feed.shape else None
        if not isinstance(width, int) or width <= 0:
            raise ExportError(f"{head_path}: the head input width is not fixed ({feed.shape})")
        output = session.get_outputs()[0]
        size = output.shape[-1] if output.shape else None
        if isinstance(size, int) and size > 0:
            return width, size
        result = session.run(None, {feed.name: np.zeros((1, width), dtype=np.float32)})[0]
        return width, int(result.shape[-1])
    except ExportError:
        raise
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ExportError(f"{head_path} cannot be loaded by onnxruntime: {exc}") from exc


def _check_head_input(manifest: dict[str, Any], where: Path, head: str, width: int) -> None:
    """The head must read what the encoder produces: `encoder.feature_dim` (exports from
    before multi-layer features: `encoder.dim`)."""
    encoder = manifest["encoder"]
    expected = encoder.get("feature_dim", encoder.get("dim")) if isinstance(encoder, dict) else None
    if not isinstance(expected, int):
        raise ExportError(f"{where / MANIFEST}: encoder.feature_dim must be an integer")
    if width != expected:
        raise ExportError(
            f"{where / head} reads {width}-d inputs but the encoder produces {expected}-d "
            "features (manifest encoder.feature_dim); the head was trained on other features, "
            "re-export the model"
        )


def load_export(
    version_dir: Path, variant: str | None = None, *, verify_all: bool = False
) -> LoadedExport:
    """Read and verify one export version folder.

    `variant` picks the encoder ("fp32" or "int8"; default: the manifest's `default_encoder`).
    Only the files the server loads (that encoder, head, tokenizer) are hashed unless
    `verify_all`: hashing the unused 90 MB fp32 encoder would cost start-up time for nothing.
    The head's input width must equal the manifest's `encoder.feature_dim` and its class
    count the number of labels.
    """
    version_dir = Path(version_dir)
    if is_temp_name(version_dir.name):
        raise ExportError(f"{version_dir} is a temporary (half-written) export; refusing it")
    if not version_dir.is_dir():
        raise ExportError(f"{version_dir} is not an export folder (it does not exist)")
    manifest = read_manifest(version_dir)
    chosen = variant or manifest["default_encoder"]
    encoders = _field(manifest, version_dir, "encoders")
    if chosen not in VARIANTS or not isinstance(encoders, dict) or chosen not in encoders:
        offered = sorted(encoders) if isinstance(encoders, dict) else []
        raise ExportError(
            f"{version_dir / MANIFEST}: encoder variant {chosen!r} is not available "
            f"(this export has {offered})"
        )
    encoder = _file_name(manifest, version_dir, "encoders", chosen)
    head = _file_name(manifest, version_dir, "head")
    tokenizer = _file_name(manifest, version_dir, "tokenizer")
    names = sorted(manifest["files"]) if verify_all else [encoder, head, tokenizer]
    verify_files(version_dir, manifest, names)

    labels = _field(manifest, version_dir, "labels")
    if (
        not isinstance(labels, list)
        or len(labels) < 2
        or not all(isinstance(label, str) and label for label in labels)
    ):
        raise ExportError(f"{version_dir / MANIFEST}: labels must be a list of 2+ names")
    if len(set(labels)) != len(labels):
        raise ExportError(f"{version_dir / MANIFEST}: labels contain duplicates")
    width, classes = head_shape(version_dir / head)
    _check_head_input(manifest, version_dir, head, width)
    if classes != len(labels):
        raise ExportError(
            f"{version_dir / head} outputs {classes} classes but the manifest lists "
            f"{len(labels)} labels; the export is inconsistent, re-export the model"
        )
    raw = _field(manifest, version_dir, "thresholds")
    try:
        thresholds = Thresholds(
            confidence=float(raw["confidence"]),
            margin=float(raw["margin"]),
            rule=str(raw.get("rule", "")),
        )
        max_tokens = int(_field(manifest, version_dir, "encoder", "max_tokens"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(
            f"{version_dir / MANIFEST}: invalid thresholds or encoder: {exc}"
        ) from exc
    return LoadedExport(
        name=str(manifest["name"]),
        version=str(manifest["version"]),
        path=version_dir,
        manifest=manifest,
        labels=tuple(labels),
        thresholds=thresholds,
        encoder_path=version_dir / encoder,
        head_path=version_dir / head,
        tokenizer_path=version_dir / tokenizer,
        encoder_variant=chosen,
        max_tokens=max_tokens,
    )
