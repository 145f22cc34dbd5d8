"""`train(...)`: data -> features -> head -> thresholds -> report -> `models/MODEL/`."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE, Thresholds
from intent_server.core.entities.spans import EntitySpan
from intent_server.core.layout import (
    FAMILIARITY_BANK,
    HEAD_WEIGHTS,
    MODEL_CARD,
    REPORT_DIR,
    VALIDATION_SPLIT,
)
from intent_server.core.model_card import (
    EncoderIdentity,
    FineTuning,
    ModelCard,
    TrainingMetrics,
    TrainingRun,
)
from trainer.data import TrainingData
from trainer.errors import UserError
from trainer.features.cache import EmbeddingCache, default_cache_dir
from trainer.features.extract import EmbedStats, embed_with_stats
from trainer.features.identity import encoder_identity
from trainer.features.torch_features import load_encoder
from trainer.finetune.comparison import Outcome, fine_tune
from trainer.finetune.joint import EntityTargets
from trainer.finetune.storage import save_tuned_encoder
from trainer.tagging.store import save_entity_head
from trainer.tagging.training import EntityTraining, joint_entities, train_entities
from trainer.training.fitting import (
    HELD_OUT,
    MLP,
    Fitted,
    HeadChoice,
    Split,
    fit_and_calibrate,
)
from trainer.training.model_store import (
    ValidationSplit,
    check_model_name,
    model_lock,
    save_bank,
    save_head,
    staged_model_dir,
)
from trainer.training.options import CROSS_FIT_BELOW, TrainOptions
from trainer.training.report import EntitySection, TrainingReport, build_report
from trainer.training.report_text import summary_text, write_report
from trainer.training.split import stratified_split

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
    report: TrainingReport = field(repr=False)  # report.json

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def metrics(self) -> TrainingMetrics:
        return self.card.metrics

    @property
    def thresholds(self) -> Thresholds:
        return self.card.thresholds


def _sorted_pairs(data: TrainingData) -> list[tuple[str, str]]:
    """Deterministic order whatever the file order: by intent, then text."""
    return sorted(zip(data.texts(), data.intents(), strict=True), key=lambda p: (p[1], p[0]))


def _embed_split(
    data: TrainingData,
    validation: TrainingData | None,
    labels: tuple[str, ...],
    options: TrainOptions,
    embed: Callable[[list[str]], EmbedStats],
) -> tuple[Split, EmbedStats]:
    """Features of training and validation texts; without `validation`, a stratified
    hold-out of `data`, or none for a bot small enough to be cross-validated."""
    index = {name: i for i, name in enumerate(labels)}
    pairs = _sorted_pairs(data)
    val_pairs = _sorted_pairs(validation) if validation is not None else []
    unknown = sorted({intent for _, intent in val_pairs} - set(labels))
    if unknown:
        raise UserError(f"validation data has intents not in the training data: {unknown}")
    stats = embed([t for t, _ in pairs] + [t for t, _ in val_pairs])
    y_all = np.array([index[i] for _, i in pairs], dtype=np.int64)
    x_all = stats.vectors[: len(pairs)]
    texts = [t for t, _ in pairs]
    if validation is not None:
        y_val = np.array([index[i] for _, i in val_pairs], dtype=np.int64)
        x_val = stats.vectors[len(pairs) :]
        return Split(x_all, y_all, x_val, y_val, texts, [t for t, _ in val_pairs]), stats
    if len(pairs) < CROSS_FIT_BELOW:
        return Split(x_all, y_all, x_all[:0], y_all[:0], texts, []), stats
    train_idx, val_idx = stratified_split(y_all, options.val_fraction, options.seed)
    split = Split(
        x_all[train_idx],
        y_all[train_idx],
        x_all[val_idx],
        y_all[val_idx],
        [texts[i] for i in train_idx],
        [texts[i] for i in val_idx],
    )
    return split, stats


def _version(head_path: Path, now: datetime) -> str:
    """UTC time + 8 hex of the head weights' sha256."""
    digest = hashlib.sha256(head_path.read_bytes()).hexdigest()
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}"


def _metrics(report: TrainingReport, train_examples: int) -> TrainingMetrics:
    """The model card's scores, from the report."""
    scored = report.validation_examples > 0
    th = report.thresholds
    return TrainingMetrics(
        val_examples=report.validation_examples,
        val_method=report.validation_method,
        val_accuracy=report.labels.accuracy if scored else None,
        val_macro_f1=report.labels.macro_f1 if scored else None,
        val_inscope_accuracy_with_thresholds=th.inscope_accuracy_with_thresholds,
        val_correct_inscope_rejected=th.correct_inscope_rejected,
        val_oos_recall=th.oos_recall,
        train_examples=train_examples,
    )


def _section(entities: EntityTraining | None) -> EntitySection | None:
    """The report's entity section (None: a bot without entity annotations)."""
    if entities is None:
        return None
    tuned = entities.held_out is None and entities.info.val_f1 is not None  # see joint_entities
    return EntitySection(
        entities.annotated,
        entities.held_examples,
        entities.held_out,
        entities.info.val_f1 if tuned else None,
        entities.info.val_spans if tuned else 0,
    )


def _publish(
    folder: Path,
    name: str,
    fitted: Fitted,
    identity: EncoderIdentity,
    run: TrainingRun,
    fine_tuning: FineTuning | None = None,
    entities: EntityTraining | None = None,
    gold: dict[str, tuple[EntitySpan, ...]] | None = None,
) -> tuple[ModelCard, TrainingReport]:
    """Write the head, the familiarity bank, the entity head, the calibration texts (with
    their annotated spans, `gold`, for a bot with an entity head), the report and the model
    card into `folder`."""
    now = datetime.now(timezone.utc)
    cal = fitted.calibration
    sigmas = run.options["unfamiliar_sigmas"]
    report = build_report(
        cal,
        fitted.texts,
        fitted.thresholds,
        fitted.cost,
        sigmas,
        fine_tuning,
        _section(entities),
        fitted.choice,
    )
    save_head(fitted.fit.head, folder / HEAD_WEIGHTS)
    save_bank(
        fitted.bank.vectors, fitted.bank.offsets, fitted.bank.intents, folder / FAMILIARITY_BANK
    )
    if entities is not None:
        save_entity_head(entities.head, folder)
    card = ModelCard(
        name=name,
        version=_version(folder / HEAD_WEIGHTS, now),
        labels=cal.labels,
        head=fitted.fit.config,
        encoder=identity,
        thresholds=fitted.thresholds,
        training=run,
        metrics=_metrics(report, fitted.train_examples),
        created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        familiarity=fitted.bank.info,
        fine_tuning=fine_tuning,
        entities=None if entities is None else entities.info,
    )
    val_labels = tuple(cal.labels[i] for i in cal.truth.tolist())
    held_out = cal.method == HELD_OUT
    spans = None if gold is None else tuple(gold.get(text, ()) for text in fitted.texts)
    validation = ValidationSplit(tuple(fitted.texts), val_labels, held_out, spans)
    validation.write(folder / VALIDATION_SPLIT)
    write_report(folder / REPORT_DIR, report, cal, name, card.version)
    card.write(folder / MODEL_CARD)
    return card, report


def _without_oos_examples(fitted: Fitted) -> str:
    """What the server will do for a bot without out_of_scope examples, and how to change it."""
    floor, cost = fitted.thresholds.familiarity, fitted.cost
    if floor is None:
        return "no out_of_scope examples, and too few correct answers to calibrate on"
    return (
        "no out_of_scope examples: the server answers out_of_scope (reason UNFAMILIAR) to a "
        f"message whose familiarity, its closeness to the {fitted.bank.info.examples} "
        f"training examples, is below {floor:.3f}. That floor turned away "
        f"{cost.rejected_correct} of your {cost.inscope_total} own examples (each scored "
        "by a model that did not learn it) and catches unrelated questions. To catch more "
        "or fewer, add an intent named out_of_scope with examples of messages the bot must "
        "not handle (they then set the operating point), or pass --unfamiliar-sigmas (lower "
        "is stricter); the report's familiarity table shows the trade-off."
    )


def _write_model(
    models_dir: Path,
    name: str,
    fitted: Fitted,
    identity: EncoderIdentity,
    run: TrainingRun,
    outcome: Outcome | None,
    entities: EntityTraining | None,
    gold: dict[str, tuple[EntitySpan, ...]] | None = None,
) -> tuple[ModelCard, TrainingReport]:
    """Publish `models_dir/name/` atomically, with the tuned encoder when it was kept."""
    with staged_model_dir(models_dir, name) as folder:
        if outcome is not None and outcome.model is not None:
            final = models_dir.resolve() / name
            identity = save_tuned_encoder(outcome.model, folder, final, identity)
        record = outcome.record if outcome is not None else None
        return _publish(folder, name, fitted, identity, run, record, entities, gold)


def _entities(
    data: TrainingData, identity: EncoderIdentity, options: TrainOptions, outcome: Outcome | None
) -> EntityTraining | None:
    """The entity head over the token states of the encoder the model keeps (tuned or not:
    with the tuned one, the head trained along with it unless the comparison found a
    retrained one better); None, and no encoder load, for a bot without entity annotations."""
    if not any(example.entities for example in data.examples):
        return None
    tuned = outcome.model if outcome is not None else None
    if outcome is not None and outcome.token_head is not None:
        record = outcome.record
        f1, spans = record.tuned_entity_f1, record.entity_spans
        return joint_entities(data, outcome.token_head, identity, f1, spans)
    return train_entities(data, tuned or load_encoder(identity), identity, options.seed)


def _gold_spans(
    data: TrainingData, validation: TrainingData | None
) -> dict[str, tuple[EntitySpan, ...]]:
    """Each example's annotated spans by text (the export's INT8 entity gate scores the
    validation texts against them)."""
    examples = [*data.examples, *(validation.examples if validation is not None else ())]
    return {example.text: tuple(example.entities) for example in examples}


def train(
    data: TrainingData,
    *,
    model_name: str,
    models_dir: Path,
    options: TrainOptions,
    cache_dir: Path | None = None,
    validation: TrainingData | None = None,
) -> TrainResult:
    """Train a model and publish it atomically as `models_dir/model_name/`; one run of a
    model at a time (`model_lock`: a second one is refused with a UserError).

    `validation`: an explicit validation split (else a stratified hold-out of `data`).
    Progress and the report summary are logged (logger `trainer`, INFO).
    """
    check_model_name(model_name)
    if len(data.labels) < 2:
        raise UserError("training needs at least two intents")
    with model_lock(Path(models_dir), model_name):
        return _train_locked(data, model_name, Path(models_dir), options, cache_dir, validation)


def _train_locked(
    data: TrainingData,
    model_name: str,
    models_dir: Path,
    options: TrainOptions,
    cache_dir: Path | None,
    validation: TrainingData | None,
) -> TrainResult:
    started = time.perf_counter()
    labels = tuple(data.labels)
    identity = encoder_identity(options.encoder, options.feature_layers, options.encoder_layers)
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
    if len(split.y_val) == 0 and validation is not None:
        log.warning("warning: the validation data is empty: cross-validating instead")
    fitted = fit_and_calibrate(split, labels, options)
    outcome = None
    if options.fine_tune != "off":
        targets = EntityTargets.of(data, validation)
        outcome = fine_tune(split, labels, options, identity, fitted, targets)
        if outcome.fitted is not None:  # the tuned encoder's head is an MLP
            fitted = replace(outcome.fitted, choice=HeadChoice(MLP, "fine-tuned encoder"))
    run = TrainingRun(
        options=options.to_json(),
        epochs_run=fitted.fit.epochs_run,
        best_epoch=fitted.fit.best_epoch,
        best_val_loss=fitted.fit.best_val_loss,
        explicit_validation=validation is not None,
        data_sources=tuple(str(source) for source in data.sources),
    )
    entities = _entities(data, identity, options, outcome)
    gold = None if entities is None else _gold_spans(data, validation)
    card, report = _write_model(
        Path(models_dir), model_name, fitted, identity, run, outcome, entities, gold
    )
    log.info("%s", summary_text(report))
    if OUT_OF_SCOPE not in labels:
        log.info("%s", _without_oos_examples(fitted))
    return TrainResult(
        model_dir=Path(models_dir) / model_name,
        card=card,
        embed_seconds=stats.seconds,
        cached_count=stats.cached,
        embedded_count=stats.embedded,
        train_seconds=fitted.fit.seconds,
        total_seconds=time.perf_counter() - started,
        report=report,
    )
