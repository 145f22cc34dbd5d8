"""`--fine-tune`: tune the encoder, fit the usual head on its features, and keep whichever
of the frozen and the tuned model answers more of the bot's held-out examples correctly.

Larger bots compare on their held-out split: one tuning run on the training part. Small
(cross-validated) bots tune once per fold, each fold's examples answered and scored by an
encoder and head that never saw them; those answers also calibrate the tuned model's
thresholds, as a tuned encoder has pulled its own training examples together and would make
them look more familiar than a new message. Then, unless the frozen model won (and the mode
is not `force`), a last run tunes on every example.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from intent_server.core.model_card import EncoderIdentity, FineTuning
from trainer.calibration.familiarity import build_bank, familiarity
from trainer.calibration.thresholds import Calibration
from trainer.features.torch_features import encode_with
from trainer.finetune.budget import Budget
from trainer.finetune.tuning import TunedEncoder, plan_run, tune_encoder
from trainer.logs import progress
from trainer.metrics import accuracy
from trainer.training.fitting import (
    CROSS_VALIDATED,
    HELD_OUT,
    Fitted,
    Split,
    calibrated,
    fit_and_calibrate,
    fold_of,
    in_scope_mask,
    scored,
)
from trainer.training.loop import predict_proba, train_head
from trainer.training.options import TrainOptions

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tqdm import tqdm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """The comparison's record and, when the tuned model is kept, its encoder and head."""

    record: FineTuning
    model: SentenceTransformer | None
    fitted: Fitted | None


@dataclass(frozen=True)
class _Tuned:
    runs: int
    final: TunedEncoder | None  # None: the folds showed no gain, the last run was skipped
    fitted: Fitted | None
    examples: int
    frozen_accuracy: float
    tuned_accuracy: float


def _accuracy(probs: np.ndarray, truth: np.ndarray) -> float:
    return accuracy(probs.argmax(axis=1), truth) if len(truth) else 0.0


def _held_out(
    split: Split,
    labels: tuple[str, ...],
    options: TrainOptions,
    identity: EncoderIdentity,
    frozen: Fitted,
) -> _Tuned:
    budget = Budget.of_minutes(options.max_minutes)
    plan = plan_run(options, split.y_train)
    with progress(total=plan.steps, desc="fine-tuning", unit="step") as bar:
        tuned = tune_encoder(
            split.train_texts,
            split.y_train,
            len(labels),
            identity,
            options,
            budget,
            budget.plan(plan.steps),
            bar,
            options.seed,
        )
    x_train = encode_with(tuned.model, split.train_texts, identity)
    x_val = encode_with(tuned.model, split.val_texts, identity)
    on_tuned = Split(x_train, split.y_train, x_val, split.y_val, split.train_texts, split.val_texts)
    fitted = fit_and_calibrate(on_tuned, labels, options, head=tuned.head)
    cal = frozen.calibration
    return _Tuned(
        1,
        tuned,
        fitted,
        len(split.y_val),
        _accuracy(cal.probs, cal.truth),
        _accuracy(fitted.calibration.probs, fitted.calibration.truth),
    )


@dataclass
class _OutOfFold:
    """Each example's answers from a tuned encoder and head that never saw it, and from a
    frozen-feature head trained on the same folds."""

    tuned_probs: np.ndarray
    familiarity: np.ndarray
    frozen_probs: np.ndarray


def _fold_answers(
    split: Split,
    labels: tuple[str, ...],
    options: TrainOptions,
    identity: EncoderIdentity,
    budget: Budget,
    bar: tqdm[Any],
) -> tuple[_OutOfFold, list[int]]:
    """Tune once per fold; returns the answers and the budget share of each run (the last
    share is the final run's, reserved here so every run is planned up front)."""
    y, texts, classes = split.y_train, split.train_texts, len(labels)
    folds = fold_of(y, options.fine_tune_folds, options.seed)
    # Each fold runs the final run's epochs: its examples are seen as often as they will be.
    final = plan_run(options, y)
    used = sorted(set(folds.tolist()))  # a fold can be empty when intents are tiny
    folds_plan = [plan_run(options, y[folds != k], final.epochs) for k in used]
    ends = [budget.plan(plan.steps) for plan in [*folds_plan, final]]
    bar.total = ends[-1]
    bar.refresh()
    answers = _OutOfFold(
        np.zeros((len(y), classes), dtype=np.float32),
        np.zeros(len(y), dtype=np.float32),
        np.zeros((len(y), classes), dtype=np.float32),
    )
    in_scope = in_scope_mask(labels)
    for index, k in enumerate(used):
        held, rest = folds == k, folds != k
        log.info("fine-tuning: fold %d of %d", index + 1, len(used))
        rest_texts = [texts[i] for i in np.flatnonzero(rest)]
        tuned = tune_encoder(
            rest_texts,
            y[rest],
            classes,
            identity,
            options,
            budget,
            ends[index],
            bar,
            options.seed + 1 + index,
            final.epochs,
        )
        x = encode_with(tuned.model, texts, identity)
        head = (tuned.head or train_head(x[rest], y[rest], x[:0], y[:0], classes, options)).head
        answers.tuned_probs[held] = predict_proba(head, x[held])
        answers.familiarity[held] = familiarity(x[held], build_bank(x[rest], y[rest], in_scope))
        frozen = train_head(split.x_train[rest], y[rest], x[:0], y[:0], classes, options).head
        answers.frozen_probs[held] = predict_proba(frozen, split.x_train[held])
    return answers, ends


def _cross_validated(
    split: Split,
    labels: tuple[str, ...],
    options: TrainOptions,
    identity: EncoderIdentity,
) -> _Tuned:
    budget = Budget.of_minutes(options.max_minutes)
    y, texts = split.y_train, split.train_texts
    with progress(desc="fine-tuning", unit="step") as bar:
        answers, ends = _fold_answers(split, labels, options, identity, budget, bar)
        frozen_accuracy = _accuracy(answers.frozen_probs, y)
        tuned_accuracy = _accuracy(answers.tuned_probs, y)
        runs = len(ends) - 1  # the folds that held examples
        if tuned_accuracy <= frozen_accuracy and options.fine_tune != "force":
            log.info("fine-tuning: no gain across the folds; the last run is skipped")
            return _Tuned(runs, None, None, len(y), frozen_accuracy, tuned_accuracy)
        log.info("fine-tuning: every example")
        final = tune_encoder(
            texts, y, len(labels), identity, options, budget, ends[-1], bar, options.seed
        )
    x = encode_with(final.model, texts, identity)
    fit = final.head or train_head(x, y, x[:0], y[:0], len(labels), options)
    probs = answers.tuned_probs
    scores, bank = scored(
        answers.familiarity, probs, labels, build_bank(x, y, in_scope_mask(labels))
    )
    calibration = Calibration(probs, y, scores, labels, CROSS_VALIDATED)
    fitted = calibrated(fit, bank, calibration, texts, options, len(y))
    return _Tuned(runs + 1, final, fitted, len(y), frozen_accuracy, tuned_accuracy)


def fine_tune(
    split: Split,
    labels: tuple[str, ...],
    options: TrainOptions,
    identity: EncoderIdentity,
    frozen: Fitted,
) -> Outcome:
    """Tune the encoder per `options` and decide between it and the `frozen` model (ties
    keep the frozen one: same answers, faster to retrain)."""
    started = time.perf_counter()
    if split.cross_validated:
        tuned = _cross_validated(split, labels, options, identity)
    else:
        tuned = _held_out(split, labels, options, identity, frozen)
    better = tuned.tuned_accuracy > tuned.frozen_accuracy
    keep = tuned.final is not None and (better or options.fine_tune == "force")
    final = tuned.final
    record = FineTuning(
        recipe=options.fine_tune_recipe,
        mode=options.fine_tune,
        kept=FineTuning.TUNED if keep else FineTuning.FROZEN,
        compared_on=CROSS_VALIDATED if split.cross_validated else HELD_OUT,
        compared_examples=tuned.examples,
        frozen_accuracy=round(tuned.frozen_accuracy, 6),
        tuned_accuracy=round(tuned.tuned_accuracy, 6),
        base_weights_sha256=identity.weights_sha256,
        runs=tuned.runs,
        epochs=final.epochs if final else 0,
        steps=final.steps if final else 0,
        stopped_early=bool(final and final.stopped_early),
        minutes=round((time.perf_counter() - started) / 60.0, 2),
    )
    log.info("%s", record.summary())
    if not keep:
        return Outcome(record, None, None)
    assert final is not None
    return Outcome(record, final.model, tuned.fitted)
