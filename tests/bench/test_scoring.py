"""The benchmark's own arithmetic: AUROC, macro-F1, OOS scores, threshold choice, subsets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.datasets import Clinc, intent_name, small_clinc, stratified_holdout
from bench.loadgen import percentiles_ms
from bench.scoring import (
    MAX_INSCOPE_DROP,
    accuracy,
    auroc,
    choose_oos_threshold,
    decisions,
    macro_f1,
    oos_scores,
)
from bench.speed import text_mix
from intent_server.core.decision import OUT_OF_SCOPE, Thresholds


def brute_force_auroc(scores: list[float], positive: list[bool]) -> float:
    pairs = [
        (p, n)
        for p, n in itertools.product(range(len(scores)), repeat=2)
        if positive[p] and not positive[n]
    ]
    wins = sum(
        1.0 if scores[p] > scores[n] else 0.5 if scores[p] == scores[n] else 0.0 for p, n in pairs
    )
    return wins / len(pairs)


def test_auroc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=40).astype(float)  # many ties
    positive = rng.random(40) < 0.4
    assert auroc(scores, positive) == pytest.approx(
        brute_force_auroc(scores.tolist(), positive.tolist())
    )
    assert auroc(np.array([0.1, 0.2, 0.9]), np.array([False, False, True])) == 1.0
    assert auroc(np.array([0.9, 0.2, 0.1]), np.array([False, False, True])) == 0.0
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([True, True])))


def test_macro_f1_and_accuracy() -> None:
    truth = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", "b"]
    assert accuracy(predicted, truth) == 0.75
    # a: tp 1, fn 1 -> 2/3; b: tp 2, fp 1 -> 4/5
    assert macro_f1(predicted, truth) == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_oos_scores() -> None:
    truth = ["a", "b", OUT_OF_SCOPE, OUT_OF_SCOPE]
    predicted = ["a", OUT_OF_SCOPE, OUT_OF_SCOPE, "a"]
    scores = oos_scores(predicted, truth)
    assert scores.inscope_accuracy == 0.5
    assert scores.oos_recall == 0.5
    assert scores.oos_precision == 0.5


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
