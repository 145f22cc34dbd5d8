"""The familiarity bank: which examples it keeps and the scores calibration reads."""

from __future__ import annotations

import numpy as np

from trainer.calibration.familiarity import best_cosine, build_bank, leave_one_out, unit_rows
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


def test_leave_one_out_equals_the_best_cosine_to_the_others() -> None:
    x, _ = clusters(10, 3)
    bank = unit_rows(x)
    scores = leave_one_out(bank)
    for i in (0, 7, 29):
        others = np.delete(bank, i, axis=0)
        assert abs(scores[i] - best_cosine(x[i : i + 1], others)[0]) < 1e-5
    # A member compared with the whole bank meets itself: cosine 1.
    assert np.allclose(best_cosine(x, bank), 1.0, atol=1e-5)


def test_folds_spread_every_intent() -> None:
    y = np.repeat(np.arange(3), [10, 7, 2])
    folds = fold_of(y, 5, seed=13)
    for intent in range(3):
        counts = np.bincount(folds[y == intent], minlength=5)
        assert counts.max() - counts.min() <= 1
