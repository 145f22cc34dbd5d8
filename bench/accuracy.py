"""Accuracy through the product's own path: YAML -> loader -> train -> export -> ONNX runtime.

Every model is trained by `trainer.pipeline.train` from YAML read back by the real loader,
exported by `trainer.export.export_model`, loaded by `intent_server.core.exports`,
answered by `IntentModel` + `intent_server.core.decision.decide`, the code the server runs,
and scored by `trainer.metrics`, as `intent-train evaluate` and the training report are.
The out-of-scope threshold the literature's protocol chooses on validation data
(`choose_oos_threshold`) is the benchmark's own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.datasets import Banking, Clinc, Pairs, one_intent_per_text
from bench.result_types import (
    VARIANTS,
    AccuracyResults,
    BankingResults,
    ClincResults,
    ClincSetting,
    ClosedSetScores,
    OosEvaluation,
    OosScoresJson,
    ProductDefault,
    SmallBots,
    ThresholdsJson,
    TrainingTime,
    VariantAccuracy,
)
from intent_server.core.decision import OUT_OF_SCOPE, Thresholds, decide
from intent_server.core.exports import LoadedExport, load_export, resolve_current
from intent_server.core.intent_model import IntentModel
from trainer.logs import progress
from trainer.metrics import OosScores, accuracy, auroc, macro_f1, oos_scores

if TYPE_CHECKING:
    from trainer.data import TrainingData
    from trainer.training.options import TrainOptions

EVAL_BATCH = 64
THRESHOLD_GRID = np.round(np.arange(0.0, 1.0, 0.01), 2)
# The threshold may cost at most this much in-scope validation accuracy (vs no threshold):
# maximising in-scope accuracy + OOS recall alone picks a high-recall point (CLINC: ~89 %
# in-scope for 93 % recall), which no bot owner would deploy.
MAX_INSCOPE_DROP = 0.015


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Workspace:
    """Temporary folders for one benchmark run."""

    root: Path
    cache_dir: Path = field(init=False)
    models_dir: Path = field(init=False)
    export_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.cache_dir = self.root / "cache"
        self.models_dir = self.root / "models"
        self.export_dir = self.root / "exported"


@dataclass
class TrainedExport:
    name: str
    train_seconds: float
    embed_seconds: float
    export_seconds: float
    version_dir: Path


def load_yaml_data(pairs: Pairs, path: Path) -> TrainingData:
    """Write pairs as native YAML and read them back with the real loader."""
    from trainer.data import load_training_data, write_native_yaml

    write_native_yaml(pairs, path)
    return load_training_data(path, min_examples=1)


def train_and_export(
    ws: Workspace,
    name: str,
    train: Pairs,
    validation: Pairs | None,
    *,
    export: bool = True,
    options: TrainOptions | None = None,
) -> TrainedExport:
    """Train `name` on `train` (early stopping and thresholds on `validation`; None: the
    product's own hold-out or cross-validation) with `options` (a `TrainOptions`; None: the
    defaults), export it."""
    from trainer.export.pipeline import export_model
    from trainer.pipeline import TrainOptions
    from trainer.pipeline import train as run_training

    data = load_yaml_data(train, ws.root / "data" / f"{name}.yml")
    val = (
        load_yaml_data(validation, ws.root / "data" / f"{name}.val.yml")
        if validation is not None
        else None
    )
    _say(f"training {name}: {len(train)} examples, {len(validation or [])} validation")
    result = run_training(
        data,
        model_name=name,
        models_dir=ws.models_dir,
        options=options or TrainOptions(),
        cache_dir=ws.cache_dir,
        validation=val,
    )
    started = time.perf_counter()
    version_dir = ws.export_dir / name
    if export:
        _say(f"exporting {name}")
        export_model(name, models_dir=ws.models_dir, export_dir=ws.export_dir)
        version_dir = resolve_current(ws.export_dir, name)
    return TrainedExport(
        name=name,
        train_seconds=result.total_seconds,
        embed_seconds=result.embed_seconds,
        export_seconds=time.perf_counter() - started,
        version_dir=version_dir,
    )


@dataclass(frozen=True)
class Scored:
    probs: np.ndarray
    familiarity: np.ndarray | None
    export: LoadedExport


class Scorer:
    """Probabilities of a model's head on texts, for one encoder variant.

    All benchmark models share the frozen encoder file (same sha256), so each text set is
    embedded once per variant and only the head differs: `IntentModel.predict` is exactly
    `classify_features(embed(texts))`.
    """

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self._embeddings: dict[tuple[str, str], np.ndarray] = {}
        self.embed_seconds: dict[str, float] = {}

    def probabilities(
        self, export: TrainedExport, text_set: str, texts: Sequence[str]
    ) -> tuple[np.ndarray, LoadedExport]:
        """Head probabilities of `texts` (named `text_set` for the embedding memo)."""
        scored = self.score(export, text_set, texts)
        return scored.probs, scored.export

    def features(self, export: TrainedExport, text_set: str, texts: Sequence[str]) -> np.ndarray:
        """The encoder's features of `texts` (the head's input), memoised by `text_set`."""
        loaded = load_export(export.version_dir, self.variant)
        return self._embed(loaded, loaded.open(), text_set, texts)

    def score(self, export: TrainedExport, text_set: str, texts: Sequence[str]) -> Scored:
        """Head probabilities and familiarity of `texts`, as the server computes them."""
        loaded = load_export(export.version_dir, self.variant)
        model = loaded.open()
        probs, familiarity = model.score_features(self._embed(loaded, model, text_set, texts))
        return Scored(probs, familiarity, loaded)

    def _embed(
        self, loaded: LoadedExport, model: IntentModel, text_set: str, texts: Sequence[str]
    ) -> np.ndarray:
        key = (loaded.manifest.files[loaded.encoder_path.name], text_set)
        if key not in self._embeddings:
            started = time.perf_counter()
            batches = progress(
                range(0, len(texts), EVAL_BATCH),
                desc=f"embed {text_set} ({self.variant})",
                unit="batch",
            )
            parts = [model.embed(list(texts[i : i + EVAL_BATCH])) for i in batches]
            self._embeddings[key] = np.concatenate(parts, axis=0)
            self.embed_seconds[text_set] = time.perf_counter() - started
        return self._embeddings[key]


def top_inscope_probability(probs: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Best in-scope probability per row (the confidence the threshold compares)."""
    keep = [i for i, name in enumerate(labels) if name != OUT_OF_SCOPE]
    return np.asarray(probs[:, keep].max(axis=1))


def decisions(
    probs: np.ndarray,
    labels: Sequence[str],
    thresholds: Thresholds,
    familiarity: np.ndarray | None = None,
) -> list[str]:
    """The server's own rule (`intent_server.core.decision.decide`) applied to every row
    (`familiarity` None: the familiarity rule is skipped)."""
    if familiarity is None:
        return [decide(row, labels, thresholds).label for row in probs]
    return [
        decide(row, labels, thresholds, float(f)).label
        for row, f in zip(probs, familiarity, strict=True)
    ]


def choose_oos_threshold(
    probs: np.ndarray, labels: Sequence[str], truth: Sequence[str]
) -> tuple[Thresholds, OosScores]:
    """The confidence on a 0.01 grid maximising in-scope accuracy + OOS recall on validation
    data while losing at most MAX_INSCOPE_DROP in-scope accuracy (ties: the lowest value);
    margin off. Never call this with test data."""
    # With the margin off, `decide` turns an answer into out_of_scope exactly when the best
    # in-scope probability is below the confidence: sweep that on the threshold-free answers.
    raw = np.array(decisions(probs, labels, Thresholds()), dtype=object)
    best_p = top_inscope_probability(probs, labels)
    best_value, best_objective, floor = 0.0, -1.0, -1.0
    for value in THRESHOLD_GRID:
        scores = oos_scores(np.where(best_p < value, OUT_OF_SCOPE, raw), truth)
        in_acc, recall = scores.inscope_accuracy, scores.oos_recall
        if floor < 0:
            floor = in_acc - MAX_INSCOPE_DROP  # the grid starts at 0: no threshold
        if in_acc >= floor - 1e-12 and in_acc + recall > best_objective + 1e-12:
            best_value, best_objective = float(value), in_acc + recall
    rule = (
        f"confidence {best_value:.2f} maximises in-scope accuracy + OOS recall on validation "
        f"(val + oos_val) losing at most {100 * MAX_INSCOPE_DROP:.1f} points of in-scope "
        "accuracy; margin off"
    )
    chosen = Thresholds(confidence=best_value, margin=0.0, rule=rule)
    return chosen, oos_scores(decisions(probs, labels, chosen), truth)


def oos_json(scores: OosScores) -> OosScoresJson:
    return {
        "inscope_accuracy": scores.inscope_accuracy,
        "oos_recall": scores.oos_recall,
        "oos_precision": scores.oos_precision,
        "oos_f1": scores.oos_f1,
    }


def thresholds_json(thresholds: Thresholds) -> ThresholdsJson:
    return {
        "confidence": thresholds.confidence,
        "margin": thresholds.margin,
        "rule": thresholds.rule,
        "familiarity": thresholds.familiarity,
    }


def closed_set_scores(
    probs: np.ndarray, labels: Sequence[str], truth: Sequence[str]
) -> ClosedSetScores:
    """Accuracy and macro-F1 by argmax (thresholds off), as the literature reports them."""
    predicted = decisions(probs, labels, Thresholds())
    return {"accuracy": accuracy(predicted, truth), "macro_f1": macro_f1(predicted, truth)}


def oos_evaluation(
    val_probs: np.ndarray,
    val_truth: Sequence[str],
    test_probs: np.ndarray,
    test_truth: Sequence[str],
    labels: Sequence[str],
    product_thresholds: Thresholds,
    test_familiarity: np.ndarray | None,
) -> OosEvaluation:
    """Threshold chosen on val + oos_val, scored on test + oos_test; plus the product's own
    rule (familiarity included)."""
    chosen, on_val = choose_oos_threshold(val_probs, labels, val_truth)
    on_test = oos_scores(decisions(test_probs, labels, chosen), test_truth)
    product = oos_scores(
        decisions(test_probs, labels, product_thresholds, test_familiarity), test_truth
    )
    is_oos = np.array([t == OUT_OF_SCOPE for t in test_truth])
    return {
        "threshold": chosen.confidence,
        "threshold_rule": chosen.rule,
        "val": oos_json(on_val),
        "test": oos_json(on_test),
        "auroc": auroc(1.0 - top_inscope_probability(test_probs, labels), is_oos),
        "product_thresholds": {
            "confidence": product_thresholds.confidence,
            "margin": product_thresholds.margin,
            "familiarity": product_thresholds.familiarity,
            "test": oos_json(product),
        },
    }


def _labels(pairs: Pairs) -> list[str]:
    return [intent for _, intent in pairs]


def _texts(pairs: Pairs) -> list[str]:
    return [text for text, _ in pairs]


def _clinc_setting(clinc: Clinc, export: TrainedExport, scorer: Scorer) -> ClincSetting:
    val = clinc.val + clinc.oos_val
    test = clinc.test + clinc.oos_test
    val_probs, loaded = scorer.probabilities(export, "clinc_val", _texts(val))
    scored = scorer.score(export, "clinc_test", _texts(test))
    test_probs = scored.probs
    inscope = len(clinc.test)
    return {
        "test_inscope": closed_set_scores(test_probs[:inscope], loaded.labels, _labels(clinc.test)),
        "oos": oos_evaluation(
            val_probs,
            _labels(val),
            test_probs,
            _labels(test),
            loaded.labels,
            loaded.thresholds,
            scored.familiarity,
        ),
    }


def evaluate_clinc(
    clinc: Clinc, plain: TrainedExport, with_oos: TrainedExport, scorer: Scorer
) -> ClincResults:
    return {
        "without_oos_train": _clinc_setting(clinc, plain, scorer),
        "with_oos_train": _clinc_setting(clinc, with_oos, scorer),
    }


def evaluate_product_default(clinc: Clinc, export: TrainedExport, scorer: Scorer) -> ProductDefault:
    """A model trained as a user would (`make train` on every labelled example, the product's
    own hold-out), scored on test + oos_test by its own thresholds: does the default
    operating point keep its promise on unseen data?"""
    test = clinc.test + clinc.oos_test
    scored = scorer.score(export, "clinc_test", _texts(test))
    labels = scored.export.labels
    predicted = decisions(scored.probs, labels, scored.export.thresholds, scored.familiarity)
    top1 = closed_set_scores(scored.probs[: len(clinc.test)], labels, _labels(clinc.test))
    return {
        "top1_inscope": top1["accuracy"],
        "test": oos_json(oos_scores(predicted, _labels(test))),
        "thresholds": thresholds_json(scored.export.thresholds),
    }


def evaluate_banking(banking: Banking, export: TrainedExport, scorer: Scorer) -> BankingResults:
    probs, loaded = scorer.probabilities(export, "banking_test", _texts(banking.test))
    return {"test": closed_set_scores(probs, loaded.labels, _labels(banking.test))}


def _training_time(ws: Workspace, clinc: Clinc) -> tuple[TrainingTime, TrainedExport]:
    """The CLINC model trained from an empty embedding cache (cold), then again with the
    cache filled (warm, and exported); training is deterministic, so the second run
    rebuilds the same model."""
    _say("CLINC training, cold embedding cache")
    cold = train_and_export(ws, "clinc", clinc.train, clinc.val, export=False)
    _say("CLINC training, warm embedding cache")
    warm = train_and_export(ws, "clinc", clinc.train, clinc.val)
    times: TrainingTime = {
        "examples": float(len(clinc.train)),
        "cold_seconds": cold.train_seconds,
        "cold_embed_seconds": cold.embed_seconds,
        "warm_seconds": warm.train_seconds,
        "warm_embed_seconds": warm.embed_seconds,
    }
    return times, warm


def run_accuracy(
    ws: Workspace,
    clinc: Clinc,
    banking: Banking,
    small_bots: Callable[[Scorer, TrainedExport], SmallBots],
) -> AccuracyResults:
    """Train, export and score the three benchmark models (the CLINC one twice, for its
    cold and warm training times); every number for results.json."""
    times, plain = _training_time(ws, clinc)
    with_oos = train_and_export(
        ws,
        "clinc_oos",
        clinc.train + clinc.oos_train,
        clinc.val + clinc.oos_val,
    )
    bank = train_and_export(ws, "banking", banking.train, banking.holdout)
    everything = one_intent_per_text(clinc.train + clinc.val + clinc.oos_train + clinc.oos_val)
    product = train_and_export(ws, "clinc_product", everything, None)
    scores: dict[str, VariantAccuracy] = {}
    bots: SmallBots | None = None
    for variant in VARIANTS:
        scorer = Scorer(variant)
        _say(f"scoring with the {variant} encoder")
        scores[variant] = {
            "clinc": evaluate_clinc(clinc, plain, with_oos, scorer),
            "banking": evaluate_banking(banking, bank, scorer),
            "clinc_product_default": evaluate_product_default(clinc, product, scorer),
            "embed_seconds": scorer.embed_seconds,
        }
        if variant == "int8":  # what the server serves by default
            bots = small_bots(scorer, plain)
    results: AccuracyResults = {
        "training_time": times,
        "exports": {
            e.name: {"export_seconds": e.export_seconds, "train_seconds": e.train_seconds}
            for e in (plain, with_oos, bank, product)
        },
        "fp32": scores["fp32"],
        "int8": scores["int8"],
    }
    if bots is not None:
        results["small_bots"] = bots
    return results
