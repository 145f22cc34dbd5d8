"""`--fine-tune`: tune the encoder, fit the usual head on its features, and keep whichever
of the frozen and the tuned model answers more of the bot's held-out examples correctly.

Larger bots compare on their held-out split: one tuning run on the training part. Small
(cross-validated) bots tune once per fold, each fold's examples answered and scored by an
encoder and head that never saw them; those answers also calibrate the tuned model's
thresholds, as a tuned encoder has pulled its own training examples together and would make
them look more familiar than a new message. Then, unless the frozen model won (and the mode
is not `force`), a last run tunes on every example.

With entity annotations (`EntityTargets`), every run trains a token head along (`joint`),
and the comparison scores slot F1 too, on the same texts: the tuned run's joint head and a
head retrained on its token states (the better one is the tuned side's, and is kept),
against a head trained on the frozen encoder's token states. The tuned model is kept when
intent accuracy plus slot F1 (one point of each weighing the same) is higher than the
frozen one's.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.model_card import EncoderIdentity, FineTuning
from trainer.calibration.familiarity import build_bank, familiarity, neighbours_for
from trainer.calibration.thresholds import Calibration
from trainer.features.torch_features import encode_with, load_encoder
from trainer.finetune.budget import Budget
from trainer.finetune.entity_scores import (
    SlotScores,
    extracted,
    frozen_head,
    slot_f1,
    spans_in,
    token_data,
)
from trainer.finetune.joint import EntityTargets
from trainer.finetune.tuning import TunedEncoder, plan_run, tune_encoder
from trainer.logs import progress
from trainer.metrics import accuracy
from trainer.tagging.fitting import TokenData
from trainer.tagging.head import TokenHead
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
    # The head trained with the kept tuned encoder, when it beat a retrained one (None: the
    # pipeline retrains one on the tuned states).
    token_head: TokenHead | None = None


@dataclass(frozen=True)
class _Tuned:
    runs: int
    final: TunedEncoder | None  # None: the folds showed no gain, the last run was skipped
    fitted: Fitted | None
    examples: int
    frozen_accuracy: float
    tuned_accuracy: float
    slots: SlotScores | None = None  # with annotated spans among the compared examples

    def gain(self) -> float:
        """Tuned minus frozen: intent accuracy, plus slot F1 when it was measured (the
        better of the tuned encoder's two heads)."""
        gain = self.tuned_accuracy - self.frozen_accuracy
        if self.slots is not None:
            gain += self.slots.tuned - self.slots.frozen
        return gain


def _accuracy(probs: np.ndarray, truth: np.ndarray) -> float:
    return accuracy(probs.argmax(axis=1), truth) if len(truth) else 0.0


def _held_out(
    split: Split,
    labels: tuple[str, ...],
    options: TrainOptions,
    identity: EncoderIdentity,
    frozen: Fitted,
    targets: EntityTargets | None,
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
            targets=targets,
        )
    x_train = encode_with(tuned.model, split.train_texts, identity)
    x_val = encode_with(tuned.model, split.val_texts, identity)
    on_tuned = Split(x_train, split.y_train, x_val, split.y_val, split.train_texts, split.val_texts)
    fitted = fit_and_calibrate(on_tuned, labels, options, head=tuned.head)
    cal = frozen.calibration
    slots = _held_out_slots(tuned, split, identity, targets, options.seed)
    return _Tuned(
        1,
        tuned,
        fitted,
        len(split.y_val),
        _accuracy(cal.probs, cal.truth),
        _accuracy(fitted.calibration.probs, fitted.calibration.truth),
        slots,
    )


def _held_out_slots(
    tuned: TunedEncoder,
    split: Split,
    identity: EncoderIdentity,
    targets: EntityTargets | None,
    seed: int,
) -> SlotScores | None:
    """Slot F1 on the held-out texts; None without annotated spans there."""
    val, train = split.val_texts, split.train_texts
    if targets is None or tuned.token_head is None or not spans_in(targets, val):
        return None
    tuned_val = token_data(tuned.model, identity, val, targets)
    retrained = frozen_head(token_data(tuned.model, identity, train, targets), targets, seed)
    base = load_encoder(identity)
    head = frozen_head(token_data(base, identity, train, targets), targets, seed)
    frozen_val = token_data(base, identity, val, targets)
    slots = SlotScores(
        _f1(extracted(head, targets, frozen_val), targets, val),
        _f1(extracted(tuned.token_head, targets, tuned_val), targets, val),
        _f1(extracted(retrained, targets, tuned_val), targets, val),
        spans_in(targets, val),
    )
    log.info("fine-tuning: held-out %s", slots.summary())
    return slots


def _f1(found: list[list[ExtractedEntity]], targets: EntityTargets, texts: list[str]) -> float:
    return slot_f1(found, targets, texts) or 0.0


@dataclass
class _OutOfFold:
    """Each example's answers from a tuned encoder and head that never saw it, and from a
    frozen-feature head trained on the same folds."""

    tuned_probs: np.ndarray
    familiarity: np.ndarray
    frozen_probs: np.ndarray
    tuned_found: list[list[ExtractedEntity]]  # entities (with annotations): the joint head
    retrained_found: list[list[ExtractedEntity]]  # a head retrained on the tuned states
    frozen_found: list[list[ExtractedEntity]]


def _fold_answers(
    split: Split,
    labels: tuple[str, ...],
    options: TrainOptions,
    identity: EncoderIdentity,
    budget: Budget,
    bar: tqdm[Any],
    targets: EntityTargets | None,
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
        [[] for _ in texts],
        [[] for _ in texts],
        [[] for _ in texts],
    )
    frozen_tokens = None
    if targets is not None:
        frozen_tokens = token_data(load_encoder(identity), identity, texts, targets)
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
            targets,
        )
        x = encode_with(tuned.model, texts, identity)
        head = (tuned.head or train_head(x[rest], y[rest], x[:0], y[:0], classes, options)).head
        answers.tuned_probs[held] = predict_proba(head, x[held])
        answers.familiarity[held] = _fold_familiarity(x, y, held, answers.tuned_probs, labels)
        frozen = train_head(split.x_train[rest], y[rest], x[:0], y[:0], classes, options).head
        answers.frozen_probs[held] = predict_proba(frozen, split.x_train[held])
        if targets is not None and frozen_tokens is not None:
            _fold_entities(answers, tuned, frozen_tokens, held, identity, targets, options.seed)
    return answers, ends


def _fold_familiarity(
    x: np.ndarray, y: np.ndarray, held: np.ndarray, probs: np.ndarray, labels: tuple[str, ...]
) -> np.ndarray:
    """The held fold's familiarity against a bank of the other folds, by its answered intent."""
    bank = build_bank(x[~held], y[~held], in_scope_mask(labels))
    return familiarity(x[held], bank, probs[held].argmax(axis=1), neighbours_for(labels))


def _fold_entities(
    answers: _OutOfFold,
    tuned: TunedEncoder,
    frozen_tokens: TokenData,
    held: np.ndarray,
    identity: EncoderIdentity,
    targets: EntityTargets,
    seed: int,
) -> None:
    """The held fold's entities from the fold's joint head over its tuned encoder, from a
    head retrained on the tuned states of the other folds, and from a head trained on their
    frozen states."""
    held_rows, rest_rows = np.flatnonzero(held).tolist(), np.flatnonzero(~held).tolist()
    texts = [token.text for token in frozen_tokens.tokens]
    assert tuned.token_head is not None
    tuned_held = token_data(tuned.model, identity, [texts[i] for i in held_rows], targets)
    tuned_rest = token_data(tuned.model, identity, [texts[i] for i in rest_rows], targets)
    retrained = frozen_head(tuned_rest, targets, seed)
    head = frozen_head(frozen_tokens.subset(rest_rows), targets, seed)
    found = zip(
        held_rows,
        extracted(tuned.token_head, targets, tuned_held),
        extracted(retrained, targets, tuned_held),
        extracted(head, targets, frozen_tokens.subset(held_rows)),
        strict=True,
    )
    for row, joint, again, frozen in found:
        answers.tuned_found[row], answers.retrained_found[row] = joint, again
        answers.frozen_found[row] = frozen


def _cross_validated(
    split: Split,
    labels: tuple[str, ...],
    options: TrainOptions,
    identity: EncoderIdentity,
    targets: EntityTargets | None,
) -> _Tuned:
    budget = Budget.of_minutes(options.max_minutes)
    y, texts = split.y_train, split.train_texts
    with progress(desc="fine-tuning", unit="step") as bar:
        answers, ends = _fold_answers(split, labels, options, identity, budget, bar, targets)
        folds = _out_of_fold(answers, y, texts, targets, len(ends) - 1)
        if folds.gain() <= 0 and options.fine_tune != "force":
            log.info("fine-tuning: no gain across the folds; the last run is skipped")
            return folds
        log.info("fine-tuning: every example")
        final = tune_encoder(
            texts,
            y,
            len(labels),
            identity,
            options,
            budget,
            ends[-1],
            bar,
            options.seed,
            targets=targets,
        )
    x = encode_with(final.model, texts, identity)
    fit = final.head or train_head(x, y, x[:0], y[:0], len(labels), options)
    probs = answers.tuned_probs
    scores, bank = scored(
        answers.familiarity, probs, labels, build_bank(x, y, in_scope_mask(labels))
    )
    calibration = Calibration(probs, y, scores, labels, CROSS_VALIDATED)
    fitted = calibrated(fit, bank, calibration, texts, options, len(y))
    return dataclasses.replace(folds, runs=folds.runs + 1, final=final, fitted=fitted)


def _out_of_fold(
    answers: _OutOfFold,
    y: np.ndarray,
    texts: list[str],
    targets: EntityTargets | None,
    runs: int,
) -> _Tuned:
    """The folds' comparison, before the last run (`runs`: the folds that held examples)."""
    slots = None
    if targets is not None and spans_in(targets, texts):
        slots = SlotScores(
            _f1(answers.frozen_found, targets, texts),
            _f1(answers.tuned_found, targets, texts),
            _f1(answers.retrained_found, targets, texts),
            spans_in(targets, texts),
        )
        log.info("fine-tuning: out-of-fold %s", slots.summary())
    return _Tuned(
        runs,
        None,
        None,
        len(y),
        _accuracy(answers.frozen_probs, y),
        _accuracy(answers.tuned_probs, y),
        slots,
    )


def fine_tune(
    split: Split,
    labels: tuple[str, ...],
    options: TrainOptions,
    identity: EncoderIdentity,
    frozen: Fitted,
    targets: EntityTargets | None = None,
) -> Outcome:
    """Tune the encoder per `options` and decide between it and the `frozen` model (ties
    keep the frozen one: same answers, faster to retrain). With entity `targets`, slot F1
    counts too (`_Tuned.gain`)."""
    started = time.perf_counter()
    if split.cross_validated:
        tuned = _cross_validated(split, labels, options, identity, targets)
    else:
        tuned = _held_out(split, labels, options, identity, frozen, targets)
    better = tuned.gain() > 0
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
        **_entity_fields(tuned.slots),
    )
    log.info("%s", record.summary())
    if not keep:
        return Outcome(record, None, None)
    assert final is not None
    joint = final.token_head if tuned.slots is None or tuned.slots.keeps_joint else None
    return Outcome(record, final.model, tuned.fitted, joint)


def _entity_fields(slots: SlotScores | None) -> dict[str, Any]:
    if slots is None:
        return {}
    return {
        "frozen_entity_f1": round(slots.frozen, 6),
        "tuned_entity_f1": round(slots.tuned, 6),
        "entity_spans": slots.spans,
        "entity_head": "joint" if slots.keeps_joint else "retrained",
    }
