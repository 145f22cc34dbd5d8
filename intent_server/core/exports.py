"""Find and verify an export folder (`exported/MODEL/VERSION/`) without torch.

The server calls `resolve_current` + `load_export` on start and on reload; anything wrong
with the files becomes an `ExportError` whose message names the file and the problem, so a
bad export is refused instead of being served.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from intent_server.core.decision import Thresholds
from intent_server.core.encoder.runtime import EncoderRuntime
from intent_server.core.errors import ExportError
from intent_server.core.files import sha256_file
from intent_server.core.intent_model import IntentModel, head_shape
from intent_server.core.layout import CURRENT, ENCODER_STORE, MANIFEST, VARIANTS, is_temp_name
from intent_server.core.manifest import Manifest

if TYPE_CHECKING:
    from tokenizers import Tokenizer


@dataclass(frozen=True)
class LoadedExport:
    """A verified export folder and the encoder variant chosen from it."""

    path: Path
    manifest: Manifest
    encoder_variant: str

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    @property
    def thresholds(self) -> Thresholds:
        return self.manifest.thresholds

    @property
    def max_tokens(self) -> int:
        return self.manifest.encoder.max_tokens

    @property
    def encoder_path(self) -> Path:
        """The one way to the encoder file: in the shared store or in the version folder."""
        return (
            encoder_folder(self.path, self.manifest) / self.manifest.encoders[self.encoder_variant]
        )

    @property
    def encoder_sha256(self) -> str:
        """The served encoder file's sha256 (checked when loaded): what identifies it."""
        return self.manifest.files[self.manifest.encoders[self.encoder_variant]]

    @property
    def encoder_identity(self) -> str:
        """What makes two exports' served encoders the same: the sha256 the manifest records
        for the served encoder file, and the variant (`sha256:variant`). Bots with the same
        identity share one loaded encoder in the server."""
        return f"{self.encoder_sha256}:{self.encoder_variant}"

    @property
    def tokenizer_sha256(self) -> str:
        return self.manifest.files.get(self.manifest.tokenizer, "")

    @property
    def head_path(self) -> Path:
        """The head served with the chosen encoder (the INT8 one's own `head.int8.onnx`)."""
        return self.path / self.manifest.head_for(self.encoder_variant)

    @property
    def tokenizer_path(self) -> Path:
        return self.path / self.manifest.tokenizer

    @property
    def entity_head_path(self) -> Path | None:
        entities = self.manifest.entities
        return None if entities is None else self.path / entities.head_file

    def open(
        self,
        threads: int = 1,
        *,
        encoder: EncoderRuntime | None = None,
        tokenizer: Tokenizer | None = None,
        head_threads: int | None = None,
        tokenizer_lowercases: bool | None = None,
    ) -> IntentModel:
        """The runtime model over these files (ONNX sessions with `threads` threads each);
        `encoder`/`tokenizer`: the same files already loaded for another bot, shared."""
        return IntentModel(
            self.encoder_path,
            self.head_path,
            self.tokenizer_path,
            self.max_tokens,
            variant=self.encoder_variant,
            threads=threads,
            encoder_runtime=encoder,
            tokenizer_object=tokenizer,
            head_threads=head_threads,
            tokenizer_lowercases=tokenizer_lowercases,
            entity_head=self.entity_head_path,
            entities=self.manifest.entities,
        )


def list_models(export_dir: Path) -> list[str]:
    """Model names under `export_dir` that have a `current` pointer."""
    if not export_dir.is_dir():
        return []
    return sorted(
        entry.name
        for entry in export_dir.iterdir()
        if entry.is_dir() and not is_temp_name(entry.name) and (entry / CURRENT).is_file()
    )


MANIFEST_SHA_KEY = "manifest-sha256="


def pointer_text(version: str, manifest_sha256: str) -> str:
    """What `current` holds: the version folder and the sha256 of its manifest, which lists
    the sha256 of every other file: one chain from the pointer to every byte served."""
    return f"{version} {MANIFEST_SHA_KEY}{manifest_sha256}\n"


def parse_pointer(text: str) -> tuple[str, str | None]:
    """(version, manifest sha256 or None for a pointer holding only a version)."""
    version, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    return version, rest.removeprefix(MANIFEST_SHA_KEY) if rest else None


def read_pointer(export_dir: Path, model: str) -> str:
    """The version name in `export_dir/model/current` ("" when missing or unreadable)."""
    try:
        text = (export_dir / model / CURRENT).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    return parse_pointer(text)[0]


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
        version, manifest_sha = parse_pointer(pointer.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"{pointer} cannot be read: {exc}") from exc
    if not version or "/" in version or "\\" in version or version in (".", ".."):
        raise ExportError(f"{pointer} must hold a version folder name, found {version!r}")
    if is_temp_name(version):
        raise ExportError(f"{pointer} points at a temporary folder {version!r}; refusing it")
    target = model_dir / version
    if not target.is_dir():
        raise ExportError(f"{pointer} points at {version!r}, which does not exist in {model_dir}")
    if manifest_sha is not None:
        _check_manifest_sha(pointer, target / MANIFEST, manifest_sha)
    return target


def _check_manifest_sha(pointer: Path, manifest: Path, expected: str) -> None:
    try:
        actual = sha256_file(manifest)
    except OSError as exc:
        raise ExportError(f"{manifest} cannot be read: {exc.strerror}") from None
    if actual != expected:
        raise ExportError(
            f"{manifest} was changed after export (sha256 {actual[:12]}..., {pointer} says "
            f"{expected[:12]}...): re-export the model rather than editing the export"
        )


def encoder_folder(version_dir: Path, manifest: Manifest) -> Path:
    """Where the manifest's encoder files are: `EXPORT_DIR/STORE/` (two levels above the
    version folder) when the export uses the shared store, else the version folder."""
    if manifest.encoder_store is None:
        return version_dir
    return version_dir.parent.parent / manifest.encoder_store


def file_path(version_dir: Path, manifest: Manifest, name: str) -> Path:
    """Where a file the manifest lists lives (an encoder may be in the shared store)."""
    if name in manifest.encoders.values():
        return encoder_folder(version_dir, manifest) / name
    return version_dir / name


# Stored encoders already hashed by this process, by (path, device, inode, size, mtime): a
# store file shared by 1,000 bots is read once, not once per bot; a file changed or replaced
# since has another key and is hashed again.
_HASHED: dict[tuple[str, int, int, int, int], str] = {}


def stored_sha256(path: Path) -> str:
    """sha256 of a file of the encoder store, hashed once per process while it is unchanged."""
    stat = path.stat()
    key = (str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _HASHED:
        _HASHED[key] = sha256_file(path)
    return _HASHED[key]


def _missing_from_store(version_dir: Path, manifest: Manifest, path: Path) -> ExportError:
    variants = [v for v, name in manifest.encoders.items() if name == path.name]
    where = "is missing" if path.parent.is_dir() else "is missing (the whole folder is)"
    return ExportError(
        f"{path} {where}: {version_dir} keeps its {'/'.join(variants)} encoder in the shared "
        f"encoder store {ENCODER_STORE}/ of its export folder {path.parent.parent} (manifest "
        f"encoder_store), and this copy lacks it; copy {ENCODER_STORE}/{path.name} from the "
        f"export folder it was made in to {path.parent}/ (or copy the whole export folder, "
        f"{ENCODER_STORE}/ included), or export the model again here (`intent-train export`; "
        "--self-contained keeps the encoder in the version folder)"
    )


def verify_files(version_dir: Path, manifest: Manifest, names: Iterable[str]) -> None:
    """Check that each named file exists and has the sha256 the manifest records."""
    for name in names:
        path = file_path(version_dir, manifest, name)
        stored = path.parent != version_dir
        expected = manifest.files.get(name)
        if expected is None:
            raise ExportError(f"{version_dir / MANIFEST} records no sha256 for {name}")
        if not path.is_file():
            if stored:
                raise _missing_from_store(version_dir, manifest, path)
            raise ExportError(f"{path} is missing (listed in the manifest)")
        actual = stored_sha256(path) if stored else sha256_file(path)
        if actual != expected:
            raise ExportError(
                f"{path} is corrupted or was changed: sha256 {actual[:12]}… but the manifest "
                f"expects {expected[:12]}…; re-export the model"
            )


def _check_head(head: Path, manifest: Manifest) -> None:
    """The head must read the encoder's features and output one probability per label."""
    check_head_shape(head, manifest, *head_shape(head))


def check_head_shape(head: Path, manifest: Manifest, width: int, classes: int) -> None:
    """`_check_head` for a head already opened (its input width and class count)."""
    if width != manifest.encoder.feature_dim:
        raise ExportError(
            f"{head} reads {width}-d inputs but the encoder produces "
            f"{manifest.encoder.feature_dim}-d features (manifest encoder.feature_dim); the head "
            "was trained on other features, re-export the model"
        )
    if classes != len(manifest.labels):
        raise ExportError(
            f"{head} outputs {classes} classes but the manifest lists {len(manifest.labels)} "
            "labels; the export is inconsistent, re-export the model"
        )


def load_export(
    version_dir: Path,
    variant: str | None = None,
    *,
    verify_all: bool = False,
    loaded_encoders: Container[str] = (),
    check_head: bool = True,
) -> LoadedExport:
    """Read and verify one export version folder.

    `variant` picks the encoder ("fp32" or "int8"; default: the manifest's `default_encoder`).
    Only the files the server loads (that encoder, head, tokenizer) are hashed unless
    `verify_all`: hashing the unused 90 MB fp32 encoder would cost start-up time for nothing.
    An encoder whose identity is in `loaded_encoders` is not hashed either (unless
    `verify_all`): the server already holds those bytes, checked, and never reads this copy.
    `check_head=False`: the caller checks the head's shape when it opens it
    (`check_head_shape`), instead of a one-off session here.
    """
    version_dir = Path(version_dir)
    if is_temp_name(version_dir.name):
        raise ExportError(f"{version_dir} is a temporary (half-written) export; refusing it")
    if not version_dir.is_dir():
        raise ExportError(f"{version_dir} is not an export folder (it does not exist)")
    manifest = Manifest.read(version_dir)
    chosen = variant or manifest.default_encoder
    if chosen not in VARIANTS or chosen not in manifest.encoders:
        raise ExportError(
            f"{version_dir / MANIFEST}: encoder variant {chosen!r} is not available "
            f"(this export has {sorted(manifest.encoders)})"
        )
    export = LoadedExport(version_dir, manifest, chosen)
    loaded = [manifest.head_for(chosen), manifest.tokenizer]
    if export.encoder_identity not in loaded_encoders:
        loaded.append(manifest.encoders[chosen])
    if manifest.entities is not None:
        loaded.append(manifest.entities.head_file)
    verify_files(version_dir, manifest, sorted(manifest.files) if verify_all else loaded)
    if check_head:
        _check_head(export.head_path, manifest)
    return export
