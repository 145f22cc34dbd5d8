"""Verification gates: the ONNX files must reproduce the PyTorch model before they are published.

Each gate returns a `GateResult`; `require` turns a failed one into `GateFailure` (exit 1).
The bars are module constants so a test can tighten one to force a failure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from intent_server.core.manifest import GateResult
from trainer import metrics

ENCODER_MIN_COSINE = 0.9999
HEAD_MAX_ABS_DIFF = 1e-5
FAMILIARITY_MAX_ABS_DIFF = 1e-5
INT8_MIN_MEAN_COSINE = 0.99
INT8_MIN_AGREEMENT = 0.99
# On a small validation set 1 % is less than one text: a bot with 80 validation texts would
# fail on a single ambiguous sentence. Up to this many disagreements always pass; from 200
# texts on, the 1 % bar is the stricter one.
INT8_SMALL_SAMPLE_FLIPS = 2
# The INT8 head (`head_int8.py`) against the fp32 head on the same features: measured on the
# example bot 3.8e-3 (probabilities) and 8.6e-4 (familiarity) at most over 1,386 texts.
HEAD_INT8_MAX_ABS_DIFF = 0.02
HEAD_INT8_FAMILIARITY_MAX_DIFF = 0.005
INT8_MAX_ACCURACY_DROP = 0.003  # INT8 is the default variant only within 0.3 points of fp32
REFERENCE_TOLERANCE = 1e-3
# all-MiniLM-L6-v2, "hello world", first five dimensions of the normalised embedding.
REFERENCE_TEXT = "hello world"
REFERENCE_VALUES = (-0.0345, 0.0310, 0.0067, 0.0261, -0.0394)
REFERENCE_WEIGHTS_PREFIX = "53aa5117"
REFERENCE_LAYERS = 6  # the values are the full model's: a cut encoder (--encoder-layers) differs


class GateFailure(Exception):
    """An exported file does not reproduce the PyTorch model: nothing is published."""


def require(result: GateResult) -> GateResult:
    if not result.passed:
        raise GateFailure(
            f"verification gate '{result.name}' failed: {result.detail} (bar: {result.bar}); "
            "nothing was published, the previous export is unchanged"
        )
    return result


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.asarray(np.sum(a * b, axis=1) / np.maximum(norms, 1e-12), dtype=np.float64)


def encoder_parity(onnx: np.ndarray, torch_ref: np.ndarray, texts: Sequence[str]) -> GateResult:
    """fp32 ONNX `sentence_embedding` vs sentence-transformers `encode` (normalised), per text."""
    cosines = row_cosines(onnx, torch_ref)
    worst = int(np.argmin(cosines))
    value = float(cosines[worst])
    return GateResult(
        name="encoder_fp32_vs_pytorch",
        passed=value >= ENCODER_MIN_COSINE,
        value=value,
        bar=f"cosine >= {ENCODER_MIN_COSINE} for every text",
        detail=f"lowest cosine {value:.6f} over {len(texts)} texts (at {texts[worst]!r})",
    )


def features_parity(onnx: np.ndarray, torch_ref: np.ndarray, texts: Sequence[str]) -> GateResult:
    """fp32 ONNX `features` vs the trainer's torch features (what the head was trained on)."""
    cosines = row_cosines(onnx, torch_ref)
    worst = int(np.argmin(cosines))
    value = float(cosines[worst])
    return GateResult(
        name="features_fp32_vs_trainer",
        passed=value >= ENCODER_MIN_COSINE and onnx.shape == torch_ref.shape,
        value=value,
        bar=f"same width and cosine >= {ENCODER_MIN_COSINE} for every text",
        detail=f"lowest cosine {value:.6f} over {len(texts)} texts (at {texts[worst]!r}); "
        f"width {onnx.shape[1]} vs {torch_ref.shape[1]}",
    )


def head_parity(onnx_probs: np.ndarray, torch_probs: np.ndarray) -> GateResult:
    """Head ONNX vs torch head on the same embeddings: same argmax, probabilities close."""
    diff = float(np.max(np.abs(onnx_probs - torch_probs)))
    same = np.argmax(onnx_probs, axis=1) == np.argmax(torch_probs, axis=1)
    passed = bool(same.all()) and diff <= HEAD_MAX_ABS_DIFF
    return GateResult(
        name="head_onnx_vs_pytorch",
        passed=passed,
        value=diff,
        bar=f"same argmax everywhere and max |diff| <= {HEAD_MAX_ABS_DIFF}",
        detail=f"max |diff| {diff:.2e}, argmax differs on {int((~same).sum())} of {len(same)}",
    )


def familiarity_parity(onnx: np.ndarray | None, torch_ref: np.ndarray) -> GateResult:
    """The head graph's familiarity output vs the same cosine computed in torch."""
    if onnx is None:
        diff, detail = float("inf"), "head.onnx has no familiarity output"
    else:
        diff = float(np.max(np.abs(onnx - torch_ref))) if len(onnx) else 0.0
        detail = f"max |diff| {diff:.2e} over {len(onnx)} texts"
    return GateResult(
        name="familiarity_onnx_vs_pytorch",
        passed=diff <= FAMILIARITY_MAX_ABS_DIFF,
        value=diff if np.isfinite(diff) else None,
        bar=f"max |diff| <= {FAMILIARITY_MAX_ABS_DIFF}",
        detail=detail,
    )


def int8_parity(
    int8: np.ndarray, fp32: np.ndarray, int8_pred: np.ndarray, fp32_pred: np.ndarray
) -> GateResult:
    """INT8 features close to fp32 and the same predicted intent almost everywhere."""
    mean_cosine = float(np.mean(row_cosines(int8, fp32)))
    flips = int(np.sum(int8_pred != fp32_pred))
    allowed = allowed_disagreements(len(fp32_pred))
    passed = mean_cosine >= INT8_MIN_MEAN_COSINE and flips <= allowed
    return GateResult(
        name="int8_vs_fp32",
        passed=passed,
        value=mean_cosine,
        bar=f"mean cosine >= {INT8_MIN_MEAN_COSINE}, same intent >= {INT8_MIN_AGREEMENT:.0%} "
        f"(here at most {allowed} different)",
        detail=f"mean cosine {mean_cosine:.4f}, different intent for {flips} of "
        f"{len(fp32_pred)} texts",
    )


def head_int8_parity(
    int8: tuple[np.ndarray, np.ndarray | None], fp32: tuple[np.ndarray, np.ndarray | None]
) -> GateResult:
    """The INT8 head's (probabilities, familiarity) against the fp32 head's on the same
    features: the same intent almost everywhere, probabilities close, and familiarity close
    wherever the intent is the same."""
    (probs, familiarity), (ref_probs, ref_familiarity) = int8, fp32
    diff = float(np.max(np.abs(probs - ref_probs))) if len(probs) else 0.0
    same = probs.argmax(axis=1) == ref_probs.argmax(axis=1)
    if familiarity is None or ref_familiarity is None:
        known = familiarity is None and ref_familiarity is None
        fam_diff = 0.0 if known else float("inf")
    else:
        # A text that changed intent (counted below) is compared with that intent's examples
        # when the bank scores by intent, so only texts of the same intent are compared here.
        gaps = np.abs(familiarity - ref_familiarity)[same]
        fam_diff = float(np.max(gaps)) if len(gaps) else 0.0
    flips = int(np.sum(~same))
    allowed = allowed_disagreements(len(probs))
    passed = (
        diff <= HEAD_INT8_MAX_ABS_DIFF
        and fam_diff <= HEAD_INT8_FAMILIARITY_MAX_DIFF
        and flips <= allowed
    )
    return GateResult(
        name="head_int8_vs_fp32",
        passed=passed,
        value=diff,
        bar=f"max |diff| <= {HEAD_INT8_MAX_ABS_DIFF} (probabilities), "
        f"<= {HEAD_INT8_FAMILIARITY_MAX_DIFF} (familiarity), same intent >= "
        f"{INT8_MIN_AGREEMENT:.0%} (here at most {allowed} different)",
        detail=f"max |diff| {diff:.2e} (probabilities), {fam_diff:.2e} (familiarity), "
        f"different intent for {flips} of {len(probs)} texts",
    )


def allowed_disagreements(count: int) -> int:
    """How many texts may change intent under INT8: 1 %, but never fewer than
    INT8_SMALL_SAMPLE_FLIPS."""
    return max(math.floor((1.0 - INT8_MIN_AGREEMENT) * count + 1e-9), INT8_SMALL_SAMPLE_FLIPS)


def reference_values(embedding: np.ndarray, weights_sha256: str, num_layers: int) -> GateResult:
    """The published all-MiniLM-L6-v2 values for "hello world" (skipped for other encoders,
    and for the stock one cut to fewer layers: its last layer is then another layer)."""
    name = "reference_hello_world"
    bar = f"first dims within {REFERENCE_TOLERANCE} of {list(REFERENCE_VALUES)}"
    if not weights_sha256.startswith(REFERENCE_WEIGHTS_PREFIX):
        return GateResult(name, True, None, bar, "skipped: not the default MiniLM", True)
    if num_layers != REFERENCE_LAYERS:
        detail = f"skipped: the default MiniLM cut to {num_layers} of {REFERENCE_LAYERS} layers"
        return GateResult(name, True, None, bar, detail, True)
    first = embedding[: len(REFERENCE_VALUES)]
    diff = float(np.max(np.abs(first - np.asarray(REFERENCE_VALUES))))
    shown = ", ".join(f"{v:.4f}" for v in first)
    return GateResult(
        name, diff <= REFERENCE_TOLERANCE, diff, bar, f"got [{shown}], max |diff| {diff:.1e}"
    )


def accuracy(probs: np.ndarray, labels: Sequence[str], truth: Sequence[str]) -> float:
    """Argmax accuracy (`trainer.metrics`, as the training report's val_accuracy)."""
    if not truth:
        return 0.0
    return metrics.accuracy([labels[i] for i in np.argmax(probs, axis=1)], truth)


def allowed_accuracy_drop(count: int) -> float:
    """How much validation accuracy INT8 may lose and still be served: 0.3 points, or on a
    small validation set the INT8_SMALL_SAMPLE_FLIPS texts the agreement gate allows (on 83
    texts one text is 1.2 points, which is noise, not a quantisation loss)."""
    if count <= 0:
        return INT8_MAX_ACCURACY_DROP
    return max(INT8_MAX_ACCURACY_DROP, INT8_SMALL_SAMPLE_FLIPS / count)


def choose_default(
    acc_fp32: float, acc_int8: float | None, int8_passed: bool, count: int = 0
) -> str:
    """INT8 when it passed its gate and lost at most `allowed_accuracy_drop(count)` of
    validation accuracy against fp32 (`count`: validation texts; 0 = unknown)."""
    if acc_int8 is None or not int8_passed:
        return "fp32"
    drop = acc_fp32 - acc_int8
    return "int8" if drop <= allowed_accuracy_drop(count) + 1e-12 else "fp32"
