"""Which head a bot gets: the rule on cross-validated answers, `--head` forcing a kind, the
held-out path (larger bots) left to the MLP, and a logistic head trained, calibrated and
stored through the real pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.paths import EXAMPLES
from trainer.calibration.familiarity import INTENT_NEIGHBOURS, cross_fitted, with_confidence
from trainer.training.fitting import (
    CROSS_VALIDATED,
    LOGISTIC,
    MLP,
    HeadChoice,
    Split,
    choose_head,
    fit_and_calibrate,
    fold_of,
)
from trainer.training.logistic import FoldAnswers
from trainer.training.options import TrainOptions


def _one_hot(answers: list[int], classes: int = 3) -> np.ndarray:
    probs = np.full((len(answers), classes), 0.1, dtype=np.float32)
    probs[np.arange(len(answers)), answers] = 0.8
    return probs


Y = np.array([0, 0, 1, 1, 2, 2])


def test_logistic_regression_wins_only_when_it_answers_more_right() -> None:
    mlp = _one_hot([0, 0, 1, 1, 2, 0])  # 5 of 6
    better = FoldAnswers({1.0: _one_hot([0, 0, 1, 0, 2, 0]), 10.0: _one_hot([0, 0, 1, 1, 2, 2])})
    choice, probs = choose_head(Y, mlp, better)
    assert (choice.kind, choice.how, choice.c) == (LOGISTIC, CROSS_VALIDATED, 10.0)
    assert choice.mlp_accuracy == pytest.approx(5 / 6) and choice.logistic_accuracy == 1.0
    assert probs is better.probs[10.0]


def test_a_tie_keeps_the_mlp() -> None:
    mlp = _one_hot([0, 0, 1, 1, 2, 0])
    same = FoldAnswers({10.0: _one_hot([0, 1, 1, 1, 2, 2])})
    choice, probs = choose_head(Y, mlp, same)
    assert choice.kind == MLP and probs is mlp
    assert "mlp 83.33 %" in choice.summary() and "logistic 83.33 %" in choice.summary()


def test_a_head_asked_for_is_the_one_given() -> None:
    mlp = _one_hot([0, 0, 1, 1, 2, 0])
    logistic = FoldAnswers({3.0: _one_hot([0, 0, 1, 1, 2, 2])})
    assert choose_head(Y, mlp, None)[0] == HeadChoice(MLP, "asked", pytest.approx(5 / 6))
    only = choose_head(Y, None, logistic)[0]
    assert (only.kind, only.how, only.c, only.mlp_accuracy) == (LOGISTIC, "asked", 3.0, None)


def test_ties_between_values_of_c_go_to_the_lower_log_loss() -> None:
    sure = _one_hot([0, 0, 1, 1, 2, 2])
    unsure = np.where(sure > 0.5, 0.4, 0.3).astype(np.float32)
    assert FoldAnswers({1.0: unsure, 10.0: sure}).best_c(Y) == 10.0
    assert FoldAnswers({1.0: sure, 10.0: unsure}).best_c(Y) == 1.0


def _blob_split(per_intent: int, val_per_intent: int) -> Split:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 12))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(4), n)
        x = centres[y] + rng.normal(size=(len(y), 12))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y

    (x, y), (xv, yv) = draw(per_intent), draw(val_per_intent)
    return Split(x, y, xv, yv, ["t"] * len(y), ["v"] * len(yv))


LABELS = ("a", "b", "c", "d")


def test_auto_keeps_the_mlp_on_a_bot_with_a_validation_split() -> None:
    split = _blob_split(40, 10)
    auto = fit_and_calibrate(split, LABELS, TrainOptions(epochs=2))
    mlp = fit_and_calibrate(split, LABELS, TrainOptions(epochs=2, head="mlp"))
    assert auto.choice == HeadChoice() and auto.fit.config.hidden == (1024,)
    assert np.array_equal(auto.calibration.probs, mlp.calibration.probs)


def test_logistic_on_a_validation_split_chooses_c_there() -> None:
    fitted = fit_and_calibrate(_blob_split(40, 10), LABELS, TrainOptions(head="logistic"))
    assert fitted.fit.config.hidden == ()
    assert fitted.choice.kind == LOGISTIC and fitted.choice.c is not None
    assert fitted.choice.logistic_accuracy == pytest.approx(
        float((fitted.calibration.probs.argmax(axis=1) == fitted.calibration.truth).mean())
    )


def test_a_small_bot_compares_both_and_calibrates_on_the_winners_answers() -> None:
    split = _blob_split(8, 0)
    fitted = fit_and_calibrate(split, LABELS, TrainOptions())
    choice = fitted.choice
    assert choice.how == CROSS_VALIDATED
    assert choice.mlp_accuracy is not None and choice.logistic_accuracy is not None
    won = choice.logistic_accuracy if choice.kind == LOGISTIC else choice.mlp_accuracy
    right = float((fitted.calibration.probs.argmax(axis=1) == split.y_train).mean())
    assert right == pytest.approx(won)
    assert fitted.fit.config.hidden == (() if choice.kind == LOGISTIC else (1024,))
    assert fitted.thresholds.familiarity is not None


def test_the_example_bot_trains_a_logistic_head_end_to_end(
    tmp_path: Path, embedding_cache_dir: Path
) -> None:
    from trainer.data import load_training_data
    from trainer.pipeline import train
    from trainer.training.model_store import load_trained_model
    from trainer.training.report import TrainingReport

    result = train(
        load_training_data(EXAMPLES),
        model_name="linear",
        models_dir=tmp_path,
        options=TrainOptions(head="logistic"),
        cache_dir=embedding_cache_dir,
    )
    trained = load_trained_model(result.model_dir)
    assert trained.card.head.hidden == ()
    assert trained.card.training.options["head"] == "logistic"
    report = TrainingReport.read(result.model_dir / "report" / "report.json")
    assert report.validation_method == CROSS_VALIDATED
    assert report.labels.accuracy > 0.8


def test_the_choice_reads_back_from_its_json() -> None:
    from intent_server.core.fields import Fields
    from trainer.training.report import ReportError

    choice = HeadChoice(LOGISTIC, CROSS_VALIDATED, 0.9, 0.95, 30.0)
    data = {"head": choice.to_json()}
    assert HeadChoice.optional(Fields(data, "report.json", ReportError), "head") == choice
    assert HeadChoice.optional(Fields({}, "report.json", ReportError), "head") is None
    assert choice.summary() == "logistic, C = 30 (mlp 90.00 %, logistic 95.00 % cross-validated)"


def test_calibration_familiarity_follows_the_answered_intent_without_out_of_scope() -> None:
    split = _blob_split(8, 0)
    fitted = fit_and_calibrate(split, LABELS, TrainOptions(head="logistic"))
    assert fitted.bank.info.intent_neighbours == INTENT_NEIGHBOURS
    x, y, probs = split.x_train, split.y_train, fitted.calibration.probs
    folds = fold_of(y, TrainOptions().cross_fit_folds, TrainOptions().seed)
    raw = cross_fitted(x, y, folds, np.ones(4, dtype=bool), probs.argmax(axis=1), 2)
    weight = fitted.bank.info.confidence_weight
    expected = with_confidence(raw, probs, weight)
    assert np.allclose(fitted.calibration.familiarity, expected, atol=1e-6)
    with_oos = fit_and_calibrate(
        split, ("a", "b", "c", "out_of_scope"), TrainOptions(head="logistic")
    )
    assert with_oos.bank.info.intent_neighbours == 0
    assert with_oos.bank.info.confidence_weight == 0.0
