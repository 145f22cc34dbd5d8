"""Run the exporter's gates on a folder not yet published, through the server's runtime.

fp32: the ONNX sentence embedding against sentence-transformers, the published "hello
world" values (stock all-MiniLM-L6-v2 at full depth only), the ONNX features against the
trainer's and the ONNX head against the torch head. INT8: its features and answers against
fp32, and its INT8 head (served with it, `head_int8.py`) against the fp32 head on the same
features. Then the variant to serve by default.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.intent_model import IntentModel
from intent_server.core.layout import ENTITY_HEAD_ONNX, HEAD_ONNX, TOKENIZER
from intent_server.core.manifest import ExportMetrics, GateResult
from intent_server.core.model_card import EncoderIdentity
from trainer.export import entity_files, gates
from trainer.features.torch_features import encode
from trainer.tagging.store import load_entity_head
from trainer.training.model_store import TrainedModel

# Added to the validation texts for the encoder gates: short, long, punctuation, non-ASCII.
PROBE_TEXTS = (
    gates.REFERENCE_TEXT,
    "ok",
    "Could you please move my 3:30 meeting with the design team to Thursday afternoon?",
    "¿dónde está la estación? — naïve café, 東京",
)
# An encoder reused from the store passed every gate on all texts when it was stored: its
# comparisons with torch run again on this many validation texts (plus PROBE_TEXTS), the
# head's, familiarity's and INT8's on all of them.
REUSED_ENCODER_TEXTS = 32


@dataclass(frozen=True)
class Verification:
    gates: dict[str, GateResult]
    metrics: ExportMetrics
    default_encoder: str


@dataclass(frozen=True)
class _Fp32:
    features: np.ndarray
    probs: np.ndarray
    entities: list[list[ExtractedEntity]]  # empty without an entity head


def exported_entities(trained: TrainedModel) -> EntityHeadInfo | None:
    """The model card's entity section as the manifest records it (with its ONNX file)."""
    info = trained.card.entities
    return None if info is None else replace(info, head_file=ENTITY_HEAD_ONNX)


def _runtime(
    folder: Path, encoder: Path, variant: str, trained: TrainedModel, head: Path | None = None
) -> IntentModel:
    """The server's runtime model over the not-yet-published files (`head`: another head
    than head.onnx)."""
    info = exported_entities(trained)
    return IntentModel(
        encoder,
        head or folder / HEAD_ONNX,
        folder / TOKENIZER,
        trained.card.encoder.max_seq_length,
        variant=variant,
        entity_head=None if info is None else folder / info.head_file,
        entities=info,
    )


def _torch_outputs(trained: TrainedModel, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and familiarity of the trained head and bank, in torch."""
    import torch

    with torch.no_grad():
        probs, familiarity = trained.served_head()(torch.from_numpy(features))
    return np.asarray(probs.numpy(), dtype=np.float32), familiarity.numpy()


@dataclass(frozen=True)
class Inputs:
    """What the gates run on: the staged folder (head, tokenizer), the encoder files by
    variant (staged, or reused from the store), and how many validation texts the torch
    comparisons of the encoder use (None: all)."""

    folder: Path
    encoders: dict[str, Path]
    reference_texts: int | None = None
    int8_head: Path | None = None  # served with the INT8 encoder (None: head.onnx is)


def _check_fp32(
    inputs: Inputs,
    trained: TrainedModel,
    identity: EncoderIdentity,
    probe: list[str],
    results: list[GateResult],
) -> _Fp32:
    """Every fp32 gate is fatal: a wrong fp32 export would serve wrong answers."""
    fp32 = _runtime(inputs.folder, inputs.encoders["fp32"], "fp32", trained)
    texts = len(trained.validation.texts)
    sample = texts if inputs.reference_texts is None else min(inputs.reference_texts, texts)
    rows = list(range(sample)) + list(range(texts, len(probe)))
    if probe.index(gates.REFERENCE_TEXT) not in rows:  # a validation text past the sample
        rows.append(probe.index(gates.REFERENCE_TEXT))
    checked = [probe[row] for row in rows]
    sentence = fp32.sentence_embeddings(checked)
    reference = encode(checked, identity, sentence=True)
    results.append(gates.require(gates.encoder_parity(sentence, reference, checked)))
    hello = sentence[checked.index(gates.REFERENCE_TEXT)]
    published = gates.reference_values(hello, identity.weights_sha256, identity.num_layers)
    results.append(gates.require(published))
    features = fp32.embed(probe)
    trainer_features = encode(checked, identity)
    parity = gates.features_parity(features[rows], trainer_features, checked)
    results.append(gates.require(parity))
    probs, familiarity = fp32.score_features(features)
    torch_probs, torch_familiarity = _torch_outputs(trained, features)
    results.append(gates.require(gates.head_parity(probs, torch_probs)))
    results.append(gates.require(gates.familiarity_parity(familiarity, torch_familiarity)))
    entities: list[list[ExtractedEntity]] = []
    if trained.card.entities is not None:
        head = load_entity_head(trained.path, trained.card.entities)
        checks, entities = entity_files.fp32_gates(
            fp32, head, trained.card.entities, identity, probe
        )
        results.extend(checks)
    return _Fp32(features, probs, entities)


def _check_int8(
    inputs: Inputs, trained: TrainedModel, probe: list[str], fp32: _Fp32
) -> tuple[list[GateResult], np.ndarray]:
    quantized = _runtime(inputs.folder, inputs.encoders["int8"], "int8", trained, inputs.int8_head)
    features = quantized.embed(probe)
    scores = quantized.score_features(features)
    probs = scores[0]
    checks = [
        gates.int8_parity(features, fp32.features, probs.argmax(axis=1), fp32.probs.argmax(axis=1))
    ]
    if inputs.int8_head is not None:
        head = IntentModel(
            quantized.encoder.path,
            inputs.folder / HEAD_ONNX,
            inputs.folder / TOKENIZER,
            trained.card.encoder.max_seq_length,
            encoder_runtime=quantized.encoder,
            tokenizer_object=quantized.tokenizer,
        )
        checks.append(gates.head_int8_parity(scores, head.score_features(features)))
    if trained.card.entities is not None:
        gold = trained.validation.entities
        checks.append(entity_files.int8_gate(quantized, probe, fp32.entities, gold))
    return checks, probs


def verify(
    inputs: Inputs, trained: TrainedModel, identity: EncoderIdentity, int8: str
) -> Verification:
    """`int8` is "skip", "require" (its gate is fatal) or "prefer" (a failed INT8 gate only
    makes fp32 the default: on a small validation set one ambiguous text flipping is
    already more than 1 %)."""
    texts = list(trained.validation.texts)
    truth = trained.validation.labels
    probe = texts + [t for t in PROBE_TEXTS if t not in texts]
    results: list[GateResult] = []
    fp32 = _check_fp32(inputs, trained, identity, probe, results)
    acc_fp32 = gates.accuracy(fp32.probs[: len(texts)], trained.labels, truth)
    acc_int8: float | None = None
    int8_passed = False
    if int8 != "skip":
        checks, probs_int8 = _check_int8(inputs, trained, probe, fp32)
        results.extend(gates.require(check) if int8 == "require" else check for check in checks)
        int8_passed = all(check.passed for check in checks)
        acc_int8 = gates.accuracy(probs_int8[: len(texts)], trained.labels, truth)
    return Verification(
        gates={result.name: result for result in results},
        metrics=ExportMetrics(
            len(texts), trained.validation.held_out, acc_fp32, acc_int8, trained.card.metrics
        ),
        default_encoder=gates.choose_default(acc_fp32, acc_int8, int8_passed, len(texts)),
    )
