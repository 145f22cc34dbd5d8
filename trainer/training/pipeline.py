"""`train(...)`: data -> embeddings -> head -> thresholds -> report -> `models/MODEL/`."""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.decision import Thresholds
from trainer.data import TrainingData
from trainer.embedding_cache import EmbeddingCache, default_cache_dir
from trainer.embeddings import EmbedStats, embed_with_stats, encoder_identity
from trainer.errors import UserError
from trainer.model_store import (
    FORMAT_VERSION,
    HEAD_FILE,
    MODEL_FILE,
    REPORT_DIR,
    VALIDATION_FILE,
    check_model_name,
    save_head,
    staged_model_dir,
    write_json,
)
from trainer.report import build_report, summary_text, write_report
from trainer.thresholds import choose_thresholds, threshold_cost
from trainer.training import TrainOptions, predict_proba, stratified_split, train_head

__all__ = ["TrainOptions", "TrainResult", "train"]


@dataclass(frozen=True)
class TrainResult:
    model_dir: Path
    version: str
    metrics: dict[str, Any]
    thresholds: Thresholds
    embed_seconds: float
    cached_count: int
    embedded_count: int
    train_seconds: float
    total_seconds: float
    report: dict[str, Any] = field(repr=False, default_factory=dict)


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


def _split(
    data: TrainingData,
    validation: TrainingData | None,
    labels: tuple[str, ...],
    options: TrainOptions,
    embed: Any,
) -> tuple[_Split, EmbedStats]:
    index = {name: i for i, name in enumerate(labels)}
    pairs = _sorted_pairs(data)
    val_pairs = _sorted_pairs(validation) if validation is not None else []
    unknown = sorted({intent for _, intent in val_pairs} - set(labels))
    if unknown:
        raise UserError(f"validation data has intents not in the training data: {unknown}")
    texts = [t for t, _ in pairs] + [t for t, _ in val_pairs]
    stats: EmbedStats = embed(texts)
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
    digest = hashlib.sha256(head_path.read_bytes()).hexdigest()
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"


def _say(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def train(
    data: TrainingData,
    *,
    model_name: str,
    models_dir: Path,
    options: TrainOptions,
    encoder_path: Path | None = None,
    cache_dir: Path | None = None,
    validation: TrainingData | None = None,
    quiet: bool = False,
    feature_layers: Sequence[int] | None = None,
) -> TrainResult:
    """Train a model and publish it atomically as `models_dir/model_name/`.

    `feature_layers`: encoder layers whose pooled states the head reads (None: the default,
    the last three; `(6,)` on MiniLM: the plain sentence embedding).
    """
    started = time.perf_counter()
    check_model_name(model_name)
    labels = tuple(data.labels)
    if len(labels) < 2:
        raise UserError("training needs at least two intents")
    identity = encoder_identity(encoder_path, feature_layers)
    cache = EmbeddingCache(cache_dir or default_cache_dir(), identity, quiet=quiet)

    def embed(texts: list[str]) -> EmbedStats:
        return embed_with_stats(texts, identity, cache, quiet=quiet)

    split, stats = _split(data, validation, labels, options, embed)
    _say(
        f"embeddings: {stats.embedded} embedded, {stats.cached} from the cache "
        f"({stats.seconds:.1f} s)",
        quiet,
    )
    if len(split.y_val) == 0:
        _say(
            "warning: no validation examples (every intent is too small for --val-fraction "
            f"{options.val_fraction}): training all {options.epochs} epochs without early "
            "stopping, out-of-scope thresholds disabled, no report metrics",
            quiet,
        )
    outcome = train_head(
        split.x_train, split.y_train, split.x_val, split.y_val, len(labels), options, quiet=quiet
    )
    _say(
        f"head: {outcome.epochs_run} epochs, best epoch {outcome.best_epoch} "
        f"({outcome.seconds:.1f} s)",
        quiet,
    )
    probs = predict_proba(outcome.head, split.x_val)
    thresholds = choose_thresholds(probs, labels, split.y_val.tolist())
    cost = threshold_cost(probs, labels, split.y_val.tolist(), thresholds)
    report = build_report(probs, split.y_val, labels, split.val_texts, thresholds, cost)
    metrics = {
        "val_examples": len(split.y_val),
        "val_accuracy": report["accuracy"] if len(split.y_val) else None,
        "val_macro_f1": report["macro_f1"] if len(split.y_val) else None,
        "val_inscope_accuracy_with_thresholds": report["thresholds"][
            "inscope_accuracy_with_thresholds"
        ],
        "val_correct_inscope_rejected": cost.rejected_correct,
        "val_oos_recall": cost.oos_recall,
        "train_examples": len(split.y_train),
    }
    now = datetime.now(timezone.utc)
    with staged_model_dir(Path(models_dir), model_name) as tmp:
        save_head(outcome.head, tmp / HEAD_FILE)
        version = _version(tmp / HEAD_FILE, now)
        write_json(
            tmp / VALIDATION_FILE,
            {
                "texts": split.val_texts,
                "labels": [labels[i] for i in split.y_val.tolist()],
            },
        )
        write_report(tmp / REPORT_DIR, report, probs, split.y_val, labels, model_name, version)
        write_json(
            tmp / MODEL_FILE,
            {
                "format_version": FORMAT_VERSION,
                "name": model_name,
                "version": version,
                "labels": list(labels),
                "head": outcome.config.to_json(),
                "encoder": identity.to_json(),
                "thresholds": {
                    "confidence": thresholds.confidence,
                    "margin": thresholds.margin,
                    "rule": thresholds.rule,
                },
                "training": options.to_json()
                | {
                    "epochs_run": outcome.epochs_run,
                    "best_epoch": outcome.best_epoch,
                    "best_val_loss": outcome.best_val_loss,
                    "explicit_validation": validation is not None,
                    "data_sources": [str(s) for s in data.sources],
                },
                "metrics": metrics,
                "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )
    model_dir = Path(models_dir) / model_name
    if not quiet:
        print(summary_text(report), file=sys.stderr)
    return TrainResult(
        model_dir=model_dir,
        version=version,
        metrics=metrics,
        thresholds=thresholds,
        embed_seconds=stats.seconds,
        cached_count=stats.cached,
        embedded_count=stats.embedded,
        train_seconds=outcome.seconds,
        total_seconds=time.perf_counter() - started,
        report=report,
    )
