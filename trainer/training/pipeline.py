"""`train(...)`: data -> features -> head -> thresholds -> report -> `models/MODEL/`."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.core.decision import Thresholds
from intent_server.core.layout import HEAD_WEIGHTS, MODEL_CARD, REPORT_DIR, VALIDATION_SPLIT
from intent_server.core.model_card import EncoderIdentity, ModelCard, TrainingMetrics, TrainingRun
from trainer.data import TrainingData
from trainer.errors import UserError
from trainer.features.cache import EmbeddingCache, default_cache_dir
from trainer.features.embed import EmbedStats, embed_with_stats
from trainer.features.encoder import encoder_identity
from trainer.training.loop import FittedHead, predict_proba, train_head
from trainer.training.model_store import (
    ValidationSplit,
    check_model_name,
    save_head,
    staged_model_dir,
)
from trainer.training.options import TrainOptions
from trainer.training.report import build_report, summary_text, write_report
from trainer.training.split import stratified_split
from trainer.training.thresholds import ThresholdCost, choose_thresholds, threshold_cost

__all__ = ["TrainOptions", "TrainResult", "train"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path
    card: ModelCard
    embed_seconds: float
    cached_count: int
    embedded_count: int
    train_seconds: float
    total_seconds: float
    report: dict[str, Any] = field(repr=False, default_factory=dict)  # report.json content

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def metrics(self) -> TrainingMetrics:
        return self.card.metrics

    @property
    def thresholds(self) -> Thresholds:
        return self.card.thresholds


@dataclass(frozen=True)
class _Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    val_texts: list[str]


def _sorted_pairs(data: TrainingData) -> list[tuple[str, str]]:
    """Deterministic order whatever the file order: by intent, then text."""
    return sorted(zip(data.texts(), data.intents(), strict=True), key=lambda p: (p[1], p[0]))


def _embed_split(
    data: TrainingData,
    validation: TrainingData | None,
    labels: tuple[str, ...],
    options: TrainOptions,
    embed: Callable[[list[str]], EmbedStats],
) -> tuple[_Split, EmbedStats]:
    """Features of training and validation texts; without `validation`, a stratified
    hold-out of `data`."""
    index = {name: i for i, name in enumerate(labels)}
    pairs = _sorted_pairs(data)
    val_pairs = _sorted_pairs(validation) if validation is not None else []
    unknown = sorted({intent for _, intent in val_pairs} - set(labels))
    if unknown:
        raise UserError(f"validation data has intents not in the training data: {unknown}")
    stats = embed([t for t, _ in pairs] + [t for t, _ in val_pairs])
    y_all = np.array([index[i] for _, i in pairs], dtype=np.int64)
    x_all = stats.vectors[: len(pairs)]
    if validation is not None:
        y_val = np.array([index[i] for _, i in val_pairs], dtype=np.int64)
        split = _Split(x_all, y_all, stats.vectors[len(pairs) :], y_val, [t for t, _ in val_pairs])
        return split, stats
    train_idx, val_idx = stratified_split(y_all, options.val_fraction, options.seed)
    split = _Split(
        x_all[train_idx],
        y_all[train_idx],
        x_all[val_idx],
        y_all[val_idx],
        [pairs[i][0] for i in val_idx],
    )
    return split, stats


def _version(head_path: Path, now: datetime) -> str:
    """UTC time + 8 hex of the head weights' sha256."""
    digest = hashlib.sha256(head_path.read_bytes()).hexdigest()
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"


@dataclass(frozen=True)
class _Fitted:
    """The head and everything measured on the validation split."""

    split: _Split
    fit: FittedHead
    probs: np.ndarray
    thresholds: Thresholds
    cost: ThresholdCost
    report: dict[str, Any]

    @property
    def metrics(self) -> TrainingMetrics:
        split, report = self.split, self.report
        scored = len(split.y_val) > 0
        return TrainingMetrics(
            val_examples=len(split.y_val),
            val_accuracy=report["accuracy"] if scored else None,
            val_macro_f1=report["macro_f1"] if scored else None,
            val_inscope_accuracy_with_thresholds=report["thresholds"][
                "inscope_accuracy_with_thresholds"
            ],
            val_correct_inscope_rejected=self.cost.rejected_correct,
            val_oos_recall=self.cost.oos_recall,
            train_examples=len(split.y_train),
        )


def _fit(split: _Split, labels: tuple[str, ...], options: TrainOptions) -> _Fitted:
    """Train the head, choose the thresholds and score it on the validation split."""
    if len(split.y_val) == 0:
        log.warning(
            "warning: no validation examples (every intent is too small for --val-fraction "
            "%s): training all %d epochs without early stopping, out-of-scope thresholds "
            "disabled, no report metrics",
            options.val_fraction,
            options.epochs,
        )
    fit = train_head(split.x_train, split.y_train, split.x_val, split.y_val, len(labels), options)
    log.info("head: %d epochs, best epoch %d (%.1f s)", fit.epochs_run, fit.best_epoch, fit.seconds)
    probs = predict_proba(fit.head, split.x_val)
    truth = split.y_val.tolist()
    thresholds = choose_thresholds(probs, labels, truth)
    cost = threshold_cost(probs, labels, truth, thresholds)
    report = build_report(probs, split.y_val, labels, split.val_texts, thresholds, cost)
    return _Fitted(split, fit, probs, thresholds, cost, report)


def _publish(
    folder: Path,
    name: str,
    labels: tuple[str, ...],
    fitted: _Fitted,
    identity: EncoderIdentity,
    run: TrainingRun,
) -> ModelCard:
    """Write the head, the validation split, the report and the model card into `folder`."""
    now = datetime.now(timezone.utc)
    save_head(fitted.fit.head, folder / HEAD_WEIGHTS)
    card = ModelCard(
        name=name,
        version=_version(folder / HEAD_WEIGHTS, now),
        labels=labels,
        head=fitted.fit.config,
        encoder=identity,
        thresholds=fitted.thresholds,
        training=run,
        metrics=fitted.metrics,
        created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    split = fitted.split
    val_labels = tuple(labels[i] for i in split.y_val.tolist())
    ValidationSplit(tuple(split.val_texts), val_labels).write(folder / VALIDATION_SPLIT)
    write_report(
        folder / REPORT_DIR, fitted.report, fitted.probs, split.y_val, labels, name, card.version
    )
    card.write(folder / MODEL_CARD)
    return card


def train(
    data: TrainingData,
    *,
    model_name: str,
    models_dir: Path,
    options: TrainOptions,
    cache_dir: Path | None = None,
    validation: TrainingData | None = None,
) -> TrainResult:
    """Train a model and publish it atomically as `models_dir/model_name/`.

    `validation`: an explicit validation split (else a stratified hold-out of `data`).
    Progress and the report summary are logged (logger `trainer`, INFO).
    """
    started = time.perf_counter()
    check_model_name(model_name)
    labels = tuple(data.labels)
    if len(labels) < 2:
        raise UserError("training needs at least two intents")
    identity = encoder_identity(options.encoder, options.feature_layers)
    cache = EmbeddingCache(cache_dir or default_cache_dir(), identity)
    split, stats = _embed_split(
        data, validation, labels, options, lambda texts: embed_with_stats(texts, identity, cache)
    )
    log.info(
        "embeddings: %d embedded, %d from the cache (%.1f s)",
        stats.embedded,
        stats.cached,
        stats.seconds,
    )
    fitted = _fit(split, labels, options)
    run = TrainingRun(
        options=options.to_json(),
        epochs_run=fitted.fit.epochs_run,
        best_epoch=fitted.fit.best_epoch,
        best_val_loss=fitted.fit.best_val_loss,
        explicit_validation=validation is not None,
        data_sources=tuple(str(source) for source in data.sources),
    )
    with staged_model_dir(Path(models_dir), model_name) as folder:
        card = _publish(folder, model_name, labels, fitted, identity, run)
    log.info("%s", summary_text(fitted.report))
    return TrainResult(
        model_dir=Path(models_dir) / model_name,
        card=card,
        embed_seconds=stats.seconds,
        cached_count=stats.cached,
        embedded_count=stats.embedded,
        train_seconds=fitted.fit.seconds,
        total_seconds=time.perf_counter() - started,
        report=fitted.report,
    )
