"""`export_model(...)`: trained model folder -> verified ONNX export, published atomically.

models/MODEL/ -> exported/MODEL/.VERSION.tmp-*/ (encoder fp32 + INT8, head, tokenizer) ->
gates (run through the server's own runtime code) -> manifest -> rename to VERSION/ ->
re-read with the server's loader -> `current` switched last. Any failure removes the temp
folder and leaves the previous export and pointer untouched.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.export_loader import FORMAT_VERSION, ExportError, LoadedExport, load_export
from intent_server.onnx_encoder import IntentModel
from trainer import export_gates as gates
from trainer.embeddings import EncoderIdentity, default_encoder_path, encode, encoder_identity
from trainer.errors import UserError
from trainer.export_onnx import (
    DEFAULT_OPSET,
    export_encoder,
    export_head,
    quantize_encoder,
    write_tokenizer,
)
from trainer.model_store import TrainedModel, check_model_name, load_trained_model
from trainer.publish import (
    file_hashes,
    free_version_name,
    promote,
    prune_versions,
    staged_export,
    switch_current,
    write_json,
)

ENCODER_FP32 = "encoder.onnx"
ENCODER_INT8 = "encoder.int8.onnx"
HEAD = "head.onnx"
TOKENIZER = "tokenizer.json"
MANIFEST = "manifest.json"
# Added to the validation texts for the encoder gates: short, long, punctuation, non-ASCII.
PROBE_TEXTS = (
    gates.REFERENCE_TEXT,
    "ok",
    "Could you please move my 3:30 meeting with the design team to Thursday afternoon?",
    "¿dónde está la estación? — naïve café, 東京",
)


@dataclass(frozen=True)
class ExportResult:
    version_dir: Path
    version: str
    default_encoder: str
    metrics: dict[str, Any]
    verification: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    sizes: dict[str, int] = field(default_factory=dict)
    pruned: tuple[str, ...] = ()


class _Steps:
    """Progress bar over the export stages, with the time each one took."""

    def __init__(self, total: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="export", unit="step", file=sys.stderr, disable=quiet)
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.bar.set_postfix_str(name)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.bar.update(1)


def _encoder_folder(trained: TrainedModel, encoder: Path | None) -> EncoderIdentity:
    """The encoder with the feature layers the model was trained on (none recorded: a model
    from before multi-layer features, whose head reads the plain sentence embedding)."""
    recorded = trained.config["encoder"]
    if encoder is None:
        encoder = trained.encoder_path
        if not encoder.exists():  # e.g. .venv re-created: the bundled encoder moved
            encoder = default_encoder_path()
    layers = [int(layer) for layer in recorded.get("feature_layers") or []]
    identity = encoder_identity(encoder, layers or None)
    if not layers:
        identity = replace(identity, feature_layers=())
    if identity.weights_sha256 != recorded["weights_sha256"]:
        raise UserError(
            f"encoder {identity.path} (weights sha256 {identity.weights_sha256[:12]}…) is not "
            f"the one model '{trained.name}' was trained with ({recorded['name']}, "
            f"{str(recorded['weights_sha256'])[:12]}…); pass --encoder PATH to that folder"
        )
    if identity.feature_dim != trained.head_config.input_dim:
        raise UserError(
            f"model '{trained.name}' has a head for {trained.head_config.input_dim}-d inputs but "
            f"the encoder's features (layers {list(identity.feature_layers)}) are "
            f"{identity.feature_dim}-d; {trained.path / 'model.json'} is inconsistent, retrain"
        )
    return identity


def _runtime(tmp: Path, trained: TrainedModel, variant: str, max_tokens: int) -> IntentModel:
    """The server's IntentModel over the not-yet-published files."""
    export = LoadedExport(
        name=trained.name,
        version=trained.version,
        path=tmp,
        manifest={},
        labels=trained.labels,
        thresholds=trained.thresholds,
        encoder_path=tmp / (ENCODER_INT8 if variant == "int8" else ENCODER_FP32),
        head_path=tmp / HEAD,
        tokenizer_path=tmp / TOKENIZER,
        encoder_variant=variant,
        max_tokens=max_tokens,
    )
    return IntentModel(export)


def _torch_probs(trained: TrainedModel, embeddings: np.ndarray) -> np.ndarray:
    import torch

    from trainer.head import ProbabilityHead

    with torch.no_grad():
        probs = ProbabilityHead(trained.head).eval()(torch.from_numpy(embeddings))
    return np.asarray(probs.numpy(), dtype=np.float32)


def _verify(
    tmp: Path,
    trained: TrainedModel,
    identity: EncoderIdentity,
    int8: str,
    steps: _Steps,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Run the gates; `int8` is "skip", "require" (its gate is fatal) or "prefer" (a failed
    INT8 gate only makes fp32 the default: on a small validation set one ambiguous text
    flipping is already more than 1 %)."""
    texts = list(trained.validation_texts)
    probe = texts + [t for t in PROBE_TEXTS if t not in texts]
    results: list[gates.GateResult] = []
    with steps.step("verify fp32"):
        reference = encode(probe, identity, quiet=True, sentence=True)
        fp32 = _runtime(tmp, trained, "fp32", identity.max_seq_length)
        sentence, _ = fp32.sentence_embeddings(probe)
        results.append(gates.require(gates.encoder_parity(sentence, reference, probe)))
        hello = sentence[probe.index(gates.REFERENCE_TEXT)]
        results.append(gates.require(gates.reference_values(hello, identity.weights_sha256)))
        features = encode(probe, identity, quiet=True) if identity.feature_layers else reference
        emb_fp32, _ = fp32.embed(probe)
        results.append(gates.require(gates.features_parity(emb_fp32, features, probe)))
        probs_fp32 = fp32.classify_embeddings(emb_fp32)
        head_check = gates.head_parity(probs_fp32, _torch_probs(trained, emb_fp32))
        results.append(gates.require(head_check))
    acc_fp32 = gates.accuracy(probs_fp32[: len(texts)], trained.labels, trained.validation_labels)
    acc_int8: float | None = None
    int8_passed = False
    if int8 != "skip":
        with steps.step("verify int8"):
            quantized = _runtime(tmp, trained, "int8", identity.max_seq_length)
            emb_int8, _ = quantized.embed(probe)
            probs_int8 = quantized.classify_embeddings(emb_int8)
            check = gates.int8_parity(
                emb_int8, emb_fp32, probs_int8.argmax(axis=1), probs_fp32.argmax(axis=1)
            )
            results.append(gates.require(check) if int8 == "require" else check)
            int8_passed = check.passed
        acc_int8 = gates.accuracy(
            probs_int8[: len(texts)], trained.labels, trained.validation_labels
        )
    metrics: dict[str, Any] = {
        "val_examples": len(texts),
        "val_accuracy_fp32": acc_fp32,
        "val_accuracy_int8": acc_int8,
        "default_encoder": gates.choose_default(acc_fp32, acc_int8, int8_passed, len(texts)),
    }
    return {result.name: result.to_json() for result in results}, metrics


def _manifest(
    trained: TrainedModel,
    version: str,
    identity: EncoderIdentity,
    opset: int,
    metrics: dict[str, Any],
    verification: dict[str, dict[str, Any]],
    files: dict[str, str],
    skip_int8: bool,
) -> dict[str, Any]:
    import onnx
    import onnxruntime
    import torch

    encoders = {"fp32": ENCODER_FP32} if skip_int8 else {"fp32": ENCODER_FP32, "int8": ENCODER_INT8}
    return {
        "format_version": FORMAT_VERSION,
        "name": trained.name,
        "version": version,
        "model_version": trained.version,
        "labels": list(trained.labels),
        "thresholds": {
            "confidence": trained.thresholds.confidence,
            "margin": trained.thresholds.margin,
            "rule": trained.thresholds.rule,
        },
        "encoder": {
            "name": identity.name,
            "source_path": identity.path,
            "weights_sha256": identity.weights_sha256,
            "dim": identity.dim,
            "feature_layers": list(identity.feature_layers),
            "feature_dim": identity.feature_dim,
            "max_tokens": identity.max_seq_length,
        },
        "default_encoder": metrics["default_encoder"],
        "encoders": encoders,
        "head": HEAD,
        "tokenizer": TOKENIZER,
        "opset": opset,
        "metrics": {
            "val_examples": metrics["val_examples"],
            "val_accuracy_fp32": metrics["val_accuracy_fp32"],
            "val_accuracy_int8": metrics["val_accuracy_int8"],
            "training": dict(trained.config.get("metrics", {})),
        },
        "verification": verification,
        "tools": {
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "files": files,
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _check_published(final: Path, variants: list[str]) -> None:
    """Read the new folder back with the server's own loader before switching `current`."""
    try:
        for variant in variants:
            load_export(final, variant, verify_all=True)
    except ExportError as exc:
        raise gates.GateFailure(f"the written export does not load: {exc}") from exc


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
    quiet: bool = False,
) -> ExportResult:
    """Export `models_dir/model` to `export_dir/model/VERSION/` and make it current; then
    keep only the newest `keep` versions (0: keep all).

    Raises UserError (bad input), GateFailure (a verification gate failed) or ExportError.
    """
    check_model_name(model)
    if skip_int8 and require_int8:
        raise UserError("--skip-int8 and --require-int8 contradict each other; pick one")
    int8 = "skip" if skip_int8 else "require" if require_int8 else "prefer"
    started = time.perf_counter()
    trained = load_trained_model(Path(models_dir) / model)
    identity = _encoder_folder(trained, encoder)
    model_dir = Path(export_dir) / model
    steps = _Steps(total=6 if skip_int8 else 8, quiet=quiet)
    with steps.bar, staged_export(model_dir, trained.version) as tmp:
        with steps.step("encoder onnx"):
            from sentence_transformers import SentenceTransformer

            # Eager attention traces to the plain attention pattern ORT's fusions recognise.
            st = SentenceTransformer(
                identity.path,
                device="cpu",
                local_files_only=True,
                model_kwargs={"attn_implementation": "eager"},
            )
            transformer = getattr(st[0], "auto_model")  # noqa: B009
            export_encoder(transformer, tmp / ENCODER_FP32, opset, identity.feature_layers)
            del st
        if not skip_int8:
            with steps.step("int8 quantize"):
                quantize_encoder(tmp / ENCODER_FP32, tmp / ENCODER_INT8)
        with steps.step("head + tokenizer"):
            export_head(trained.head, trained.head_config.input_dim, tmp / HEAD, opset)
            write_tokenizer(Path(identity.path), identity.max_seq_length, tmp / TOKENIZER)
        verification, metrics = _verify(tmp, trained, identity, int8, steps)
        with steps.step("manifest"):
            version = free_version_name(model_dir, trained.version)
            files = file_hashes(tmp)
            manifest = _manifest(
                trained, version, identity, opset, metrics, verification, files, skip_int8
            )
            write_json(tmp / MANIFEST, manifest)
        with steps.step("publish"):
            final = promote(tmp, model_dir, version)
        try:
            with steps.step("check published"):
                _check_published(final, sorted(manifest["encoders"]))
            switch_current(model_dir, version)
        except BaseException:
            # Not yet (or not successfully) current: nobody can have loaded it.
            shutil.rmtree(final, ignore_errors=True)
            raise
    pruned = prune_versions(model_dir, keep, version) if keep > 0 else []
    steps.seconds["total"] = round(time.perf_counter() - started, 3)
    return ExportResult(
        version_dir=final,
        version=version,
        default_encoder=manifest["default_encoder"],
        metrics=manifest["metrics"],
        verification=verification,
        seconds=steps.seconds,
        sizes={path.name: path.stat().st_size for path in sorted(final.iterdir())},
        pruned=tuple(pruned),
    )
