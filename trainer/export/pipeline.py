"""`export_model(...)`: trained model folder -> verified ONNX export, published atomically.

models/MODEL/ -> exported/MODEL/.VERSION.tmp-*/ (encoder fp32 + INT8, head, tokenizer) ->
gates (run through the server's own runtime code) -> manifest -> rename to VERSION/ ->
re-read with the server's loader -> `current` switched last. Any failure removes the temp
folder and leaves the previous export and pointer untouched.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from intent_server.core.errors import ExportError
from intent_server.core.exports import file_path, load_export
from intent_server.core.layout import (
    DEFAULT_OPSET,
    ENCODER_FP32,
    ENCODER_INT8,
    ENCODER_STORE,
    ENTITY_HEAD_ONNX,
    HEAD_INT8_ONNX,
    HEAD_ONNX,
    TOKENIZER,
    TUNED_ENCODER,
    VARIANT_FILES,
)
from intent_server.core.manifest import ExportedEncoder, ExportMetrics, GateResult, Manifest
from intent_server.core.model_card import EncoderIdentity
from trainer.errors import UserError
from trainer.export import encoder_store, gates
from trainer.export import verify as verify_module
from trainer.export.entity_files import export_entity_head
from trainer.export.head_int8 import quantize_head
from trainer.export.onnx_files import export_head, quantize_encoder, write_tokenizer
from trainer.export.publish import (
    file_hashes,
    free_version_name,
    promote,
    prune_versions,
    staged_export,
    switch_current,
)
from trainer.export.verify import Inputs, Verification, exported_entities, verify
from trainer.features.identity import default_encoder_path, encoder_identity
from trainer.features.onnx_graph import export_encoder
from trainer.features.torch_features import load_sentence_transformer
from trainer.logs import progress
from trainer.tagging.store import load_entity_head
from trainer.training.model_store import TrainedModel, check_model_name, load_trained_model


@dataclass(frozen=True)
class ExportResult:
    version_dir: Path
    manifest: Manifest
    seconds: dict[str, float]
    sizes: dict[str, int] = field(default_factory=dict)
    pruned: tuple[str, ...] = ()
    reused_encoder: bool = False  # the store held this encoder: nothing traced or quantized
    collected: tuple[str, ...] = ()  # stored encoders removed: no version refers to them

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def default_encoder(self) -> str:
        return self.manifest.default_encoder

    @property
    def metrics(self) -> ExportMetrics:
        return self.manifest.metrics

    @property
    def verification(self) -> dict[str, GateResult]:
        return self.manifest.verification


class _Steps:
    """Progress bar over the export stages, with the time each one took."""

    def __init__(self, total: int) -> None:
        self.bar = progress(total=total, desc="export", unit="step")
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.bar.set_postfix_str(name)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.bar.update(1)


def _encoder_of(trained: TrainedModel, encoder: Path | None) -> EncoderIdentity:
    """The encoder folder the model was trained with (or `encoder`), with its feature layers
    and the depth it ran at (`num_layers`: a card from before --encoder-layers records the
    full depth), checked to hold the same weights."""
    recorded = trained.card.encoder
    if encoder is None:
        encoder = Path(recorded.path)
        tuned = trained.path / TUNED_ENCODER
        if tuned.is_dir():  # --fine-tune kept its encoder: wherever the model folder is now
            encoder = tuned
        elif not encoder.exists():  # e.g. .venv re-created: the bundled encoder moved
            encoder = default_encoder_path()
    identity = encoder_identity(encoder, recorded.feature_layers, recorded.num_layers)
    if identity.weights_sha256 != recorded.weights_sha256:
        raise UserError(
            f"encoder {identity.path} (weights sha256 {identity.weights_sha256[:12]}…) is not "
            f"the one model '{trained.name}' was trained with ({recorded.name}, "
            f"{recorded.weights_sha256[:12]}…); pass --encoder PATH to that folder"
        )
    if identity.feature_dim != trained.card.head.input_dim:
        raise UserError(
            f"model '{trained.name}' has a head for {trained.card.head.input_dim}-d inputs but "
            f"the encoder's features (layers {list(identity.feature_layers)}) are "
            f"{identity.feature_dim}-d; {trained.path / 'model.json'} is inconsistent, retrain"
        )
    return identity


def _trace_encoders(
    folder: Path, identity: EncoderIdentity, opset: int, skip_int8: bool, steps: _Steps
) -> dict[str, Path]:
    """Trace (and quantize) the encoder into `folder`: variant -> file."""
    with steps.step("encoder onnx"):
        # Eager attention traces to the plain attention pattern ORT's fusions recognise.
        st = load_sentence_transformer(
            identity.path, identity.num_layers, model_kwargs={"attn_implementation": "eager"}
        )
        transformer = getattr(st[0], "auto_model")  # noqa: B009
        export_encoder(transformer, identity, folder / ENCODER_FP32, opset)
        del st
    if skip_int8:
        return {"fp32": folder / ENCODER_FP32}
    with steps.step("int8 quantize"):
        quantize_encoder(folder / ENCODER_FP32, folder / ENCODER_INT8)
    return {"fp32": folder / ENCODER_FP32, "int8": folder / ENCODER_INT8}


def _write_head(
    folder: Path, trained: TrainedModel, identity: EncoderIdentity, options: _Options
) -> Path | None:
    """head.onnx, the tokenizer, the entity head; with INT8, the INT8 head when the head has
    matrices worth quantizing (returned; None: the INT8 encoder serves head.onnx)."""
    opset = options.opset
    export_head(trained.served_head(), folder / HEAD_ONNX, opset)
    int8_head = None
    if not options.skip_int8 and quantize_head(folder / HEAD_ONNX, folder / HEAD_INT8_ONNX):
        int8_head = folder / HEAD_INT8_ONNX
    write_tokenizer(Path(identity.path), identity.max_seq_length, folder / TOKENIZER)
    info = trained.card.entities
    if info is not None:
        head = load_entity_head(trained.path, info)
        export_entity_head(head, info.token_dim, folder / ENTITY_HEAD_ONNX, opset)
    return int8_head


@dataclass(frozen=True)
class _Placed:
    """Where the verified encoders went: variant -> file name, their sha256, the store."""

    names: dict[str, str]
    hashes: dict[str, str]
    store: str | None


def _place_encoders(
    export_dir: Path,
    staged: Path,
    encoders: dict[str, Path],
    key: tuple[str, dict[str, object]] | None,
) -> _Placed:
    """Self-contained (`key` None): the files stay in (or are copied into) the version folder
    as encoder.onnx / encoder.int8.onnx. Shared: traced files move into the store."""
    if key is None:
        names = {variant: VARIANT_FILES[variant] for variant in encoders}
        for variant, path in encoders.items():
            if path.parent != staged:
                shutil.copyfile(path, staged / names[variant])
        return _Placed(names, {}, None)
    traced = {v: p for v, p in encoders.items() if p.parent == staged}
    stored = encoder_store.store(export_dir, *key, traced) if traced else None
    names = {v: p.name for v, p in encoders.items() if p.parent != staged}
    names |= stored.files if stored else {}
    return _Placed(names, {n: n.removesuffix(".onnx") for n in names.values()}, ENCODER_STORE)


def _manifest(
    trained: TrainedModel,
    version: str,
    identity: EncoderIdentity,
    opset: int,
    checked: Verification,
    placed: _Placed,
    files: dict[str, str],
    staged: Path,
) -> Manifest:
    import onnx
    import onnxruntime
    import torch

    return Manifest(
        name=trained.name,
        version=version,
        model_version=trained.version,
        labels=trained.labels,
        thresholds=trained.card.thresholds,
        encoder=ExportedEncoder.of(identity, trained.card.fine_tuning),
        default_encoder=checked.default_encoder,
        encoders=placed.names,
        head=HEAD_ONNX,
        tokenizer=TOKENIZER,
        opset=opset,
        metrics=checked.metrics,
        verification=checked.gates,
        tools={
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        files=files | placed.hashes,
        created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        familiarity=trained.card.familiarity,
        encoder_store=placed.store,
        entities=exported_entities(trained),
        heads={"int8": HEAD_INT8_ONNX} if (staged / HEAD_INT8_ONNX).is_file() else {},
    )


def _publish(staged: Path, model_dir: Path, manifest: Manifest, steps: _Steps) -> Path:
    """Rename the staged folder to its version, read it back with the server's loader, then
    switch `current` to it."""
    with steps.step("publish"):
        final = promote(staged, model_dir, manifest.version)
    try:
        with steps.step("check published"):
            for variant in sorted(manifest.encoders):
                load_export(final, variant, verify_all=True)
        switch_current(model_dir, manifest.version)
    except ExportError as exc:
        shutil.rmtree(final, ignore_errors=True)
        raise gates.GateFailure(f"the written export does not load: {exc}") from exc
    except BaseException:
        # Not yet (or not successfully) current: nobody can have loaded it.
        shutil.rmtree(final, ignore_errors=True)
        raise
    return final


def _encoders(
    export_dir: Path,
    staged: Path,
    identity: EncoderIdentity,
    options: _Options,
    steps: _Steps,
) -> tuple[dict[str, Path], bool]:
    """The encoder files to verify (variant -> path) and whether they came from the store:
    the store's when it holds this identity (nothing traced), else traced into `staged`."""
    variants = ("fp32",) if options.skip_int8 else ("fp32", "int8")
    with steps.step("find stored encoder"):
        stored = encoder_store.find(export_dir, options.key[0], variants)
    if stored is not None:
        steps.bar.total = 6  # nothing to trace or quantize
        return {variant: stored.path(variant) for variant in variants}, True
    return _trace_encoders(staged, identity, options.opset, options.skip_int8, steps), False


@dataclass(frozen=True)
class _Options:
    opset: int
    skip_int8: bool
    int8: str  # "skip", "require" or "prefer"
    self_contained: bool
    key: tuple[str, dict[str, object]]  # the encoder identity's store key and its fields


def _export(
    trained: TrainedModel, identity: EncoderIdentity, export_dir: Path, options: _Options
) -> ExportResult:
    model_dir = export_dir / trained.name
    steps = _Steps(total=7 if options.skip_int8 else 8)
    with steps.bar, staged_export(model_dir, trained.version) as staged:
        encoders, reused = _encoders(export_dir, staged, identity, options, steps)
        with steps.step("head + tokenizer"):
            int8_head = _write_head(staged, trained, identity, options)
        with steps.step("verify"):
            sample = verify_module.REUSED_ENCODER_TEXTS if reused else None
            inputs = Inputs(staged, encoders, reference_texts=sample, int8_head=int8_head)
            checked = verify(inputs, trained, identity, options.int8)
        with steps.step("manifest"):
            key = None if options.self_contained else options.key
            placed = _place_encoders(export_dir, staged, encoders, key)
            version = free_version_name(model_dir, trained.version)
            files = file_hashes(staged)
            manifest = _manifest(
                trained, version, identity, options.opset, checked, placed, files, staged
            )
            manifest.write(staged)
        final = _publish(staged, model_dir, manifest, steps)
    return ExportResult(final, manifest, steps.seconds, reused_encoder=reused)


def export_model(
    model: str,
    *,
    models_dir: Path,
    export_dir: Path,
    encoder: Path | None = None,
    opset: int = DEFAULT_OPSET,
    skip_int8: bool = False,
    require_int8: bool = False,
    keep: int = 3,
    self_contained: bool = False,
) -> ExportResult:
    """Export `models_dir/model` to `export_dir/model/VERSION/` and make it current; then
    keep only the newest `keep` versions (0: keep all) and remove the stored encoders no
    version refers to any more.

    The encoder goes to the shared store `export_dir/.encoders/` (reused, not traced, when
    the store already holds its identity); `self_contained`: into the version folder.
    Raises UserError (bad input), GateFailure (a verification gate failed) or ExportError.
    """
    check_model_name(model)
    if skip_int8 and require_int8:
        raise UserError("--skip-int8 and --require-int8 contradict each other; pick one")
    started = time.perf_counter()
    trained = load_trained_model(Path(models_dir) / model)
    identity = _encoder_of(trained, encoder)
    fields = encoder_store.identity_fields(identity, opset)
    options = _Options(
        opset=opset,
        skip_int8=skip_int8,
        int8="skip" if skip_int8 else "require" if require_int8 else "prefer",
        self_contained=self_contained,
        key=(encoder_store.identity_key(fields), fields),
    )
    export_dir = Path(export_dir)
    with encoder_store.store_lock(export_dir):  # no collection while this export relies on it
        result = _export(trained, identity, export_dir, options)
    model_dir = export_dir / model
    pruned = prune_versions(model_dir, keep, result.version) if keep > 0 else []
    collected = encoder_store.collect(export_dir) or []
    result.seconds["total"] = round(time.perf_counter() - started, 3)
    return replace(
        result,
        sizes=_sizes(result.version_dir, result.manifest),
        pruned=tuple(pruned),
        collected=tuple(collected),
    )


def _sizes(version_dir: Path, manifest: Manifest) -> dict[str, int]:
    """Bytes of every file the version uses; a stored encoder as `.encoders/NAME`."""
    sizes = {path.name: path.stat().st_size for path in sorted(version_dir.iterdir())}
    if manifest.encoder_store is not None:
        for name in sorted(set(manifest.encoders.values())):
            path = file_path(version_dir, manifest, name)
            sizes[f"{manifest.encoder_store}/{name}"] = path.stat().st_size
    return sizes
