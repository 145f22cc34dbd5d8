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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from intent_server.core.errors import ExportError
from intent_server.core.exports import load_export
from intent_server.core.layout import (
    DEFAULT_OPSET,
    ENCODER_FP32,
    ENCODER_INT8,
    ENTITY_HEAD_ONNX,
    HEAD_ONNX,
    TOKENIZER,
    TUNED_ENCODER,
)
from intent_server.core.manifest import ExportedEncoder, ExportMetrics, GateResult, Manifest
from intent_server.core.model_card import EncoderIdentity
from trainer.errors import UserError
from trainer.export import gates
from trainer.export.entity_files import export_entity_head
from trainer.export.onnx_files import export_head, quantize_encoder, write_tokenizer
from trainer.export.publish import (
    file_hashes,
    free_version_name,
    promote,
    prune_versions,
    staged_export,
    switch_current,
)
from trainer.export.verify import Verification, exported_entities, verify
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


def _write_onnx(
    folder: Path,
    trained: TrainedModel,
    identity: EncoderIdentity,
    opset: int,
    skip_int8: bool,
    steps: _Steps,
) -> None:
    with steps.step("encoder onnx"):
        # Eager attention traces to the plain attention pattern ORT's fusions recognise.
        st = load_sentence_transformer(
            identity.path, identity.num_layers, model_kwargs={"attn_implementation": "eager"}
        )
        transformer = getattr(st[0], "auto_model")  # noqa: B009
        export_encoder(transformer, identity, folder / ENCODER_FP32, opset)
        del st
    if not skip_int8:
        with steps.step("int8 quantize"):
            quantize_encoder(folder / ENCODER_FP32, folder / ENCODER_INT8)
    with steps.step("head + tokenizer"):
        export_head(trained.served_head(), folder / HEAD_ONNX, opset)
        write_tokenizer(Path(identity.path), identity.max_seq_length, folder / TOKENIZER)
        info = trained.card.entities
        if info is not None:
            head = load_entity_head(trained.path, info)
            export_entity_head(head, info.token_dim, folder / ENTITY_HEAD_ONNX, opset)


def _manifest(
    trained: TrainedModel,
    version: str,
    identity: EncoderIdentity,
    opset: int,
    checked: Verification,
    files: dict[str, str],
) -> Manifest:
    import onnx
    import onnxruntime
    import torch

    encoders = {"fp32": ENCODER_FP32}
    if ENCODER_INT8 in files:
        encoders["int8"] = ENCODER_INT8
    return Manifest(
        name=trained.name,
        version=version,
        model_version=trained.version,
        labels=trained.labels,
        thresholds=trained.card.thresholds,
        encoder=ExportedEncoder.of(identity, trained.card.fine_tuning),
        default_encoder=checked.default_encoder,
        encoders=encoders,
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
        files=files,
        created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        familiarity=trained.card.familiarity,
        entities=exported_entities(trained),
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
) -> ExportResult:
    """Export `models_dir/model` to `export_dir/model/VERSION/` and make it current; then
    keep only the newest `keep` versions (0: keep all).

    Raises UserError (bad input), GateFailure (a verification gate failed) or ExportError.
    """
    check_model_name(model)
    if skip_int8 and require_int8:
        raise UserError("--skip-int8 and --require-int8 contradict each other; pick one")
    started = time.perf_counter()
    trained = load_trained_model(Path(models_dir) / model)
    identity = _encoder_of(trained, encoder)
    model_dir = Path(export_dir) / model
    steps = _Steps(total=6 if skip_int8 else 7)
    with steps.bar, staged_export(model_dir, trained.version) as staged:
        _write_onnx(staged, trained, identity, opset, skip_int8, steps)
        with steps.step("verify"):
            int8 = "skip" if skip_int8 else "require" if require_int8 else "prefer"
            checked = verify(staged, trained, identity, int8)
        with steps.step("manifest"):
            version = free_version_name(model_dir, trained.version)
            manifest = _manifest(trained, version, identity, opset, checked, file_hashes(staged))
            manifest.write(staged)
        final = _publish(staged, model_dir, manifest, steps)
    pruned = prune_versions(model_dir, keep, version) if keep > 0 else []
    steps.seconds["total"] = round(time.perf_counter() - started, 3)
    return ExportResult(
        version_dir=final,
        manifest=manifest,
        seconds=steps.seconds,
        sizes={path.name: path.stat().st_size for path in sorted(final.iterdir())},
        pruned=tuple(pruned),
    )
