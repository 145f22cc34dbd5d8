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
