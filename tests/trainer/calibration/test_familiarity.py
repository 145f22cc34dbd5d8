"""The familiarity bank: which examples it keeps and the scores calibration reads."""

from __future__ import annotations

import numpy as np

from trainer.calibration.familiarity import (
    CONFIDENCE_WEIGHT,
    INTENT_NEIGHBOURS,
    OFFSET_SCALE,
    build_bank,
    confidence_weight,
    cross_fitted,
    density_offsets,
    familiarity,
    neighbours_for,
    unit_rows,
    with_confidence,
)
from trainer.training.fitting import fold_of


def clusters(per_intent: int, intents: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(intents, 16))
    x = np.concatenate([c + 0.3 * rng.normal(size=(per_intent, 16)) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(intents), per_intent)


def test_small_bots_keep_every_in_scope_example_and_never_out_of_scope_ones() -> None:
    x, y = clusters(12, 4)
    in_scope = np.array([True, True, False, True])  # intent 2 is out_of_scope
    bank = build_bank(x, y, in_scope)
    assert bank.info.examples == bank.info.source_examples == 36 and bank.info.per_intent == 0
    assert set(y[bank.rows].tolist()) == {0, 1, 3}
    assert np.allclose(np.linalg.norm(bank.vectors, axis=1), 1.0, atol=1e-5)


def test_large_bots_keep_a_bounded_spread_of_each_intent() -> None:
    x, y = clusters(50, 4)
    bank = build_bank(x, y, np.ones(4, dtype=bool), limit=40)
    assert bank.info.examples == 40 and bank.info.per_intent == 10
    assert np.bincount(y[bank.rows]).tolist() == [10, 10, 10, 10]
    again = build_bank(x, y, np.ones(4, dtype=bool), limit=40)
    assert np.array_equal(bank.rows, again.rows)  # deterministic


def test_familiarity_is_the_best_cosine_less_that_vectors_offset() -> None:
    x, y = clusters(10, 3)
    bank = build_bank(x, y, np.ones(3, dtype=bool))
    query = x[:5] + 0.2
    cosines = unit_rows(query) @ bank.vectors.T
    expected = (cosines - bank.offsets[None, :]).max(axis=1)
    assert np.allclose(familiarity(query, bank), expected, atol=1e-6)
    assert bank.info.offset_scale == OFFSET_SCALE


def test_with_intent_neighbours_it_is_the_mean_of_the_predicted_intents_best_two() -> None:
    x, y = clusters(10, 3)
    y[20:29] = 1  # intent 2 keeps a single example
    bank = build_bank(x, y, np.ones(3, dtype=bool))
    assert np.array_equal(bank.intents, y[bank.rows])
    query = np.concatenate([x[:4], x[25:27]]) + 0.2
    predicted = np.array([0, 1, 1, 2, 0, 2])
    scores = unit_rows(query) @ bank.vectors.T - bank.offsets[None, :]
    got = familiarity(query, bank, predicted, 2)
    for row, intent in enumerate(predicted):
        own = np.sort(scores[row, bank.intents == intent])[::-1][:2]
        assert np.isclose(got[row], own.mean(), atol=1e-6)  # intent 2: its one vector
    # An intent the bank does not hold (out_of_scope): the best over the whole bank.
    assert np.isclose(familiarity(query[:1], bank, np.array([7]), 2)[0], scores[0].max())
    assert np.allclose(familiarity(query, bank, predicted, 0), familiarity(query, bank))
    # Two neighbours of the answered intent must agree: never above the single best.
    assert (got <= scores.max(axis=1) + 1e-6).all()


def test_intent_neighbours_only_for_bots_without_out_of_scope_examples() -> None:
    assert neighbours_for(("a", "b")) == INTENT_NEIGHBOURS > 0
    assert neighbours_for(("a", "out_of_scope")) == 0


def test_offsets_favour_vectors_whose_neighbours_are_far() -> None:
    tight = np.array([[1.0, 0.0, 0.0], [0.99, 0.14, 0.0], [0.99, -0.14, 0.0], [0.99, 0.0, 0.14]])
    loose = np.array([[0.0, 1.0, 0.0], [0.0, 0.7, 0.7], [0.0, 0.7, -0.7], [-0.5, 0.86, 0.0]])
    offsets = density_offsets(unit_rows(np.concatenate([tight, loose]).astype(np.float32)))
    assert abs(float(offsets.mean())) < 1e-6  # centred: the bank's typical vector gets 0
    assert offsets[:4].min() > 0 > offsets[4:].max()  # a bonus where neighbours are far
    assert not density_offsets(unit_rows(tight[:3].astype(np.float32))).any()  # too few


def test_cross_fitted_scores_use_only_the_other_folds() -> None:
    x, y = clusters(10, 3)
    folds = fold_of(y, 5, seed=13)
    scores = cross_fitted(x, y, folds, np.ones(3, dtype=bool))
    rest = folds != 2
    alone = familiarity(x[folds == 2], build_bank(x[rest], y[rest], np.ones(3, dtype=bool)))
    assert np.allclose(scores[folds == 2], alone)
    # No row meets itself: a bank holding the row would give about 1 - its offset.
    assert scores.max() < 0.999


def test_cross_fitted_scores_follow_each_rows_answered_intent() -> None:
    x, y = clusters(10, 3)
    folds = fold_of(y, 5, seed=13)
    predicted = (y + 1) % 3  # every answer wrong: far from its answered intent
    near = cross_fitted(x, y, folds, np.ones(3, dtype=bool), y, 2)
    far = cross_fitted(x, y, folds, np.ones(3, dtype=bool), predicted, 2)
    rest = folds != 2
    bank = build_bank(x[rest], y[rest], np.ones(3, dtype=bool))
    alone = familiarity(x[folds == 2], bank, predicted[folds == 2], 2)
    assert np.allclose(far[folds == 2], alone)
    assert near.mean() > far.mean() + 0.3


def test_the_confidence_term_is_a_share_of_the_familiarity_spread() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.99, 0.01], [0.7, 0.3]], dtype=np.float32)
    weight = confidence_weight(scores, probs)
    log_best = np.log(probs.max(axis=1))
    assert weight == round(CONFIDENCE_WEIGHT * float(scores.std() / log_best.std()), 6)
    assert np.allclose(with_confidence(scores, probs, weight), scores + weight * log_best)
    assert np.array_equal(with_confidence(scores, probs, 0.0), scores)
    assert confidence_weight(scores, np.full((4, 2), 0.5, dtype=np.float32)) == 0.0


def test_folds_spread_every_intent() -> None:
    y = np.repeat(np.arange(3), [10, 7, 2])
    folds = fold_of(y, 5, seed=13)
    for intent in range(3):
        counts = np.bincount(folds[y == intent], minlength=5)
        assert counts.max() - counts.min() <= 1
