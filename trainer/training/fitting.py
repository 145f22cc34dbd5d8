"""Fit the head and calibrate the out-of-scope rule, on a held-out split or cross-validated.

Small bots (fewer than CROSS_FIT_BELOW examples, no explicit validation file) have no
examples to spare: the head learns every example, and k heads each trained without one
fold score that fold, so every example gets an answer from a head that never saw it. Those
answers choose the thresholds and fill the report. Larger bots keep a held-out split.

Which head (`--head auto`, the default): a small bot's folds are answered both by MLP heads
and by logistic regression (`training.logistic`, its C chosen on the same folds); the final
head is the kind that answered more examples right, the MLP on a tie. Larger bots get the
MLP.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np

from intent_server.core.decision import OUT_OF_SCOPE, Thresholds
from intent_server.core.fields import Fields, JsonObject
from trainer.calibration.familiarity import (
    Bank,
    build_bank,
    confidence_weight,
    cross_fitted,
    familiarity,
    neighbours_for,
    with_confidence,
)
from trainer.calibration.thresholds import Calibration, choose_thresholds, threshold_cost
from trainer.metrics import ScopeCounts
from trainer.training.logistic import C_GRID, FoldAnswers, fold_answers, train_logistic
from trainer.training.loop import FittedHead, predict_proba, train_head
from trainer.training.options import TrainOptions

log = logging.getLogger(__name__)

CROSS_VALIDATED = "cross-validated"
HELD_OUT = "held-out"
MLP = "mlp"
LOGISTIC = "logistic"


@dataclass(frozen=True)
class HeadChoice:
    """Which kind of head the bot got and why: `how` is "cross-validated" (auto, the
    accuracies below decided), "asked" (--head mlp/logistic) or "larger bot" (auto keeps
    the MLP on bots with a held-out split). Accuracies are shares of the calibration texts
    answered right (None: not measured)."""

    kind: str = MLP
    how: str = "larger bot"
    mlp_accuracy: float | None = None
    logistic_accuracy: float | None = None
    c: float | None = None  # logistic regression's regularisation (higher: weaker)

    def summary(self) -> str:
        scores = [
            f"{name} {100.0 * value:.2f} %"
            for name, value in ((MLP, self.mlp_accuracy), (LOGISTIC, self.logistic_accuracy))
            if value is not None
        ]
        regularisation = f", C = {self.c:g}" if self.kind == LOGISTIC and self.c else ""
        measured = f" ({', '.join(scores)} {self.how})" if scores else f" ({self.how})"
        return f"{self.kind}{regularisation}{measured}"

    def to_json(self) -> JsonObject:
        return asdict(self) | {"summary": self.summary()}

    @classmethod
    def optional(cls, fields: Fields, key: str) -> HeadChoice | None:
        """The record under `key`, None where the file has none (trained before it)."""
        if not fields.has(key) or fields.raw(key) is None:
            return None
        section = fields.section(key)
        return cls(
            section.text("kind"),
            section.text("how"),
            section.optional_number("mlp_accuracy"),
            section.optional_number("logistic_accuracy"),
            section.optional_number("c"),
        )


@dataclass(frozen=True)
class Split:
    """Features and label indices; `x_val` is empty when the bot is cross-validated."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    train_texts: list[str]
    val_texts: list[str]

    @property
    def cross_validated(self) -> bool:
        return len(self.y_val) == 0


@dataclass(frozen=True)
class Fitted:
    """The final head, its familiarity bank and the calibrated out-of-scope rule."""

    fit: FittedHead
    bank: Bank
    calibration: Calibration
    texts: list[str]  # one per calibration row
    thresholds: Thresholds
    cost: ScopeCounts  # what the thresholds cost on the calibration texts
    train_examples: int  # the final head learnt this many
    choice: HeadChoice = HeadChoice()


def fold_of(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold number per row, each intent spread evenly over the folds (seeded)."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for intent in np.unique(y):
        rows = np.flatnonzero(y == intent)
        rng.shuffle(rows)
        fold[rows] = np.arange(len(rows)) % folds
    return fold


def in_scope_mask(labels: tuple[str, ...]) -> np.ndarray:
    return np.array([name != OUT_OF_SCOPE for name in labels], dtype=bool)


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float((probs.argmax(axis=1) == y).mean()) if len(y) else 0.0


def _mlp_folds(
    x: np.ndarray, y: np.ndarray, folds: np.ndarray, classes: int, options: TrainOptions
) -> np.ndarray:
    """Each example's probabilities from an MLP head trained without its fold."""
    probs = np.zeros((len(y), classes), dtype=np.float32)
    for k in range(options.cross_fit_folds):
        held = folds == k
        if not held.any():
            continue
        log.info("cross-validation: fold %d of %d", k + 1, options.cross_fit_folds)
        head = train_head(x[~held], y[~held], x[:0], y[:0], classes, options).head
        probs[held] = predict_proba(head, x[held])
    return probs


def choose_head(
    y: np.ndarray, mlp: np.ndarray | None, logistic: FoldAnswers | None
) -> tuple[HeadChoice, np.ndarray]:
    """The kind of head whose out-of-fold answers are right more often (ties: the MLP),
    and those answers; only one given: that one, as asked."""
    c = logistic.best_c(y) if logistic is not None else None
    if logistic is None or c is None:
        assert mlp is not None
        return HeadChoice(MLP, "asked", _accuracy(mlp, y)), mlp
    logistic_accuracy = logistic.accuracy(c, y)
    if mlp is None:
        return HeadChoice(LOGISTIC, "asked", None, logistic_accuracy, c), logistic.probs[c]
    mlp_accuracy = _accuracy(mlp, y)
    better = logistic_accuracy > mlp_accuracy
    kind, probs = (LOGISTIC, logistic.probs[c]) if better else (MLP, mlp)
    return HeadChoice(kind, CROSS_VALIDATED, mlp_accuracy, logistic_accuracy, c), probs


def _cross_validated(split: Split, labels: tuple[str, ...], options: TrainOptions) -> Fitted:
    x, y, classes = split.x_train, split.y_train, len(labels)
    folds = fold_of(y, options.cross_fit_folds, options.seed)
    mlp = None if options.head == LOGISTIC else _mlp_folds(x, y, folds, classes, options)
    logistic = None
    if options.head != MLP:
        log.info("cross-validation: logistic regression, C in %s", C_GRID)
        logistic = fold_answers(x, y, folds, classes, options)
    choice, probs = choose_head(y, mlp, logistic)
    log.info("head: every example; head: %s", choice.summary())
    if choice.kind == LOGISTIC:
        assert choice.c is not None
        fit = train_logistic(x, y, classes, choice.c, options)
    else:
        fit = train_head(x, y, x[:0], y[:0], classes, options)
    near = neighbours_for(labels)
    raw = cross_fitted(x, y, folds, in_scope_mask(labels), probs.argmax(axis=1), near)
    scores, bank = scored(raw, probs, labels, build_bank(x, y, in_scope_mask(labels)))
    calibration = Calibration(probs, y, scores, labels, CROSS_VALIDATED)
    fitted = calibrated(fit, bank, calibration, split.train_texts, options, len(y))
    return replace(fitted, choice=choice)


def _held_out_logistic(
    split: Split, classes: int, options: TrainOptions
) -> tuple[FittedHead, HeadChoice]:
    """--head logistic on a bot with a validation split: the C that answers it best."""
    fits = [train_logistic(split.x_train, split.y_train, classes, c, options) for c in C_GRID]
    scores = [_accuracy(predict_proba(fit.head, split.x_val), split.y_val) for fit in fits]
    best = int(np.argmax(scores))
    return fits[best], HeadChoice(LOGISTIC, "asked", None, scores[best], C_GRID[best])


def _held_out(
    split: Split, labels: tuple[str, ...], options: TrainOptions, fit: FittedHead | None = None
) -> Fitted:
    choice = HeadChoice() if options.head == "auto" else HeadChoice(options.head, "asked")
    if fit is None and options.head == LOGISTIC:
        fit, choice = _held_out_logistic(split, len(labels), options)
    elif fit is None:
        fit = train_head(
            split.x_train, split.y_train, split.x_val, split.y_val, len(labels), options
        )
    bank = build_bank(split.x_train, split.y_train, in_scope_mask(labels))
    probs = predict_proba(fit.head, split.x_val)
    raw = familiarity(split.x_val, bank, probs.argmax(axis=1), neighbours_for(labels))
    scores, bank = scored(raw, probs, labels, bank)
    calibration = Calibration(probs, split.y_val, scores, labels, HELD_OUT)
    fitted = calibrated(fit, bank, calibration, split.val_texts, options, len(split.y_train))
    return replace(fitted, choice=choice)


def scored(
    raw: np.ndarray, probs: np.ndarray, labels: tuple[str, ...], bank: Bank
) -> tuple[np.ndarray, Bank]:
    """Calibration familiarity as the server will compute it, and the bank that records how:
    without out_of_scope examples the score takes the head's confidence in too (with them,
    the thresholds weigh confidence themselves). `raw` was measured with
    `neighbours_for(labels)` intent neighbours."""
    weight = 0.0 if OUT_OF_SCOPE in labels else confidence_weight(raw, probs)
    info = replace(bank.info, confidence_weight=weight, intent_neighbours=neighbours_for(labels))
    return with_confidence(raw, probs, weight), replace(bank, info=info)


def calibrated(
    fit: FittedHead,
    bank: Bank,
    calibration: Calibration,
    texts: list[str],
    options: TrainOptions,
    train_examples: int,
) -> Fitted:
    thresholds = choose_thresholds(
        calibration,
        unfamiliar_sigmas=options.unfamiliar_sigmas,
        max_inscope_loss=options.max_inscope_loss,
    )
    cost = threshold_cost(calibration, thresholds)
    return Fitted(fit, bank, calibration, texts, thresholds, cost, train_examples)


def fit_and_calibrate(
    split: Split, labels: tuple[str, ...], options: TrainOptions, head: FittedHead | None = None
) -> Fitted:
    """Train the head (held-out split: or take `head`, trained elsewhere on the same
    features), build its familiarity bank and choose the thresholds."""
    if split.cross_validated:
        if head is not None:
            raise ValueError("a head trained elsewhere needs a held-out split to be scored on")
        fitted = _cross_validated(split, labels, options)
    else:
        fitted = _held_out(split, labels, options, head)
    log.info(
        "head: %d epochs, best epoch %d (%.1f s)",
        fitted.fit.epochs_run,
        fitted.fit.best_epoch,
        fitted.fit.seconds,
    )
    return fitted
