"""The benchmark's own arithmetic: scores as the product's, threshold choice, subsets.

The scores themselves are `trainer.metrics`' (tests/trainer/test_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.accuracy import MAX_INSCOPE_DROP, choose_oos_threshold, closed_set_scores, decisions
from bench.datasets import Clinc, intent_name, small_clinc, stratified_holdout
from bench.loadgen import percentiles_ms
from bench.speed import text_mix
from intent_server.core.decision import OUT_OF_SCOPE, Thresholds
from trainer.calibration.thresholds import Calibration, threshold_cost
from trainer.evaluation.report import label_indices
from trainer.metrics import label_metrics, oos_scores
from trainer.training.report import build_report


def _random_answers(seed: int) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """Truth and probabilities whose argmax is right about 70 % of the time."""
    labels = ("alpha", "beta", "delta", "gamma", OUT_OF_SCOPE)  # sorted, as a model's are
    rng = np.random.default_rng(seed)
    truth = [labels[i] for i in rng.integers(0, len(labels), 300)]
    answers = [t if rng.random() < 0.7 else labels[rng.integers(0, 5)] for t in truth]
    probs = rng.random((300, len(labels)))
    for row, answer in enumerate(answers):
        probs[row, labels.index(answer)] = 2.0
    return truth, probs / probs.sum(axis=1, keepdims=True), labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_benchmark_and_the_product_score_the_same_answers_identically(seed: int) -> None:
    truth, probs, labels = _random_answers(seed)
    bench = closed_set_scores(probs, labels, truth)
    cal = Calibration(
        probs,
        np.array([labels.index(t) for t in truth]),
        np.full(len(truth), 0.5),
        labels,
        "held-out",
    )
    texts = [f"text {i}" for i in range(len(truth))]
    trained = build_report(cal, texts, Thresholds(), threshold_cost(cal, Thresholds()), 2.0)
    answers = decisions(probs, labels, Thresholds())
    y_true, y_pred, names = label_indices(truth, answers, labels)  # `intent-train evaluate`'s
    evaluated = label_metrics(y_true, y_pred, names, texts)
    for product in (trained.labels, evaluated):
        assert bench["accuracy"] == product.accuracy  # exactly: one definition
        assert bench["macro_f1"] == product.macro_f1


def test_threshold_choice_agrees_with_the_server_rule() -> None:
    labels = ["a", "b", "c"]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 3)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = [labels[int(np.argmax(row))] for row in probs[:40]] + [OUT_OF_SCOPE] * 20
    probs[40:] = probs[40:] * 0.2 + 0.8 / 3  # out-of-scope rows are flat
    chosen, on_val = choose_oos_threshold(probs, labels, truth)
    assert 0.0 < chosen.confidence < 1.0 and chosen.margin == 0.0
    # the sweep's shortcut must give exactly what `decide` gives at that threshold
    assert oos_scores(decisions(probs, labels, chosen), truth) == on_val
    raw = oos_scores(decisions(probs, labels, Thresholds()), truth).inscope_accuracy
    assert on_val.inscope_accuracy >= raw - MAX_INSCOPE_DROP
    best = on_val.inscope_accuracy + on_val.oos_recall
    for value in np.arange(0.0, 1.0, 0.05):
        other = oos_scores(decisions(probs, labels, Thresholds(float(value))), truth)
        if other.inscope_accuracy >= raw - MAX_INSCOPE_DROP:
            assert other.inscope_accuracy + other.oos_recall <= best + 1e-9
    assert on_val.oos_recall > 0.5  # flat rows are caught


def test_stratified_holdout_keeps_every_intent() -> None:
    pairs = [(f"text {i}", f"intent{i % 3}") for i in range(30)] + [("lonely", "rare")]
    rest, held = stratified_holdout(pairs, 0.1, seed=0)
    assert sorted(rest + held) == sorted(pairs)
    assert {intent for _, intent in held} == {"intent0", "intent1", "intent2", "rare"}
    assert stratified_holdout(pairs, 0.1, seed=0) == (rest, held)


def test_small_clinc_subset() -> None:
    full = Clinc(
        train=[(f"t{i}", f"i{i % 20}") for i in range(400)],
        val=[(f"v{i}", f"i{i % 20}") for i in range(100)],
        test=[(f"s{i}", f"i{i % 20}") for i in range(100)],
        oos_train=[(f"o{i}", OUT_OF_SCOPE) for i in range(30)],
        oos_val=[(f"p{i}", OUT_OF_SCOPE) for i in range(30)],
        oos_test=[(f"q{i}", OUT_OF_SCOPE) for i in range(30)],
    )
    small = small_clinc(full, intents=10, per_intent=8)
    assert len({intent for _, intent in small.train}) == 10
    assert len(small.train) == 80
    assert {i for _, i in small.test} <= {i for _, i in small.train}


def test_text_mix_spans_lengths_and_is_fixed() -> None:
    texts = [" ".join(["w"] * n) + f" {n}" for n in range(1, 300)]
    mix = text_mix(texts, count=50)
    assert len(mix) == 50 and mix == text_mix(texts, count=50)
    lengths = sorted(len(t.split()) for t in mix)
    assert lengths[0] <= 3 and lengths[-1] >= 290


def test_percentiles_ms() -> None:
    result = percentiles_ms([0.001 * i for i in range(1, 101)])
    assert result["p50_ms"] == pytest.approx(50.5)
    assert result["p99_ms"] == pytest.approx(99.01)


def test_banking_category_names_become_valid_intent_names() -> None:
    assert intent_name("reverted_card_payment?") == "reverted_card_payment"
    assert intent_name("card_arrival") == "card_arrival"
