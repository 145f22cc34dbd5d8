"""A Prediction cuts into its callers' rows whatever fields it has."""

from __future__ import annotations

import numpy as np
import pytest

from intent_server.core.prediction import Prediction


def test_slice_keeps_every_field_aligned() -> None:
    prediction = Prediction(np.eye(4, dtype=np.float32), (False, True, False, True))
    part = prediction.slice(1, 3)
    assert len(part) == 2 and part.truncated == (True, False)
    np.testing.assert_array_equal(part.probabilities, np.eye(4, dtype=np.float32)[1:3])
    assert len(prediction.slice(4, 4)) == 0


def test_rows_must_agree() -> None:
    with pytest.raises(ValueError, match="one row per text"):
        Prediction(np.zeros((2, 3), dtype=np.float32), (False,))


def test_concat_joins_rows_in_order() -> None:
    a = Prediction(np.eye(3, dtype=np.float32)[:2], (False, True), np.array([0.1, 0.2]))
    b = Prediction(np.eye(3, dtype=np.float32)[2:], (False,), np.array([0.3]))
    joined = Prediction.concat([a, b])
    np.testing.assert_array_equal(joined.probabilities, np.eye(3, dtype=np.float32))
    assert joined.truncated == (False, True, False)
    np.testing.assert_allclose(joined.familiarity, [0.1, 0.2, 0.3])
    no_familiarity = Prediction(np.eye(3, dtype=np.float32)[2:], (False,))
    assert Prediction.concat([a, no_familiarity]).familiarity is None
    assert Prediction.concat([a]) is a
