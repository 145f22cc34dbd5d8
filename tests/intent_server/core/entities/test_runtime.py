"""The served entity head through `IntentModel`: one encoder pass, batches answer as single
texts do (fp32, INT8 one by one and side by side), and a bot without entities never fetches
token states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intent_server.core.entities.tags import TagSet
from intent_server.core.exports import load_export, resolve_current
from intent_server.core.intent_model import IntentModel
from intent_server.core.layout import ENTITY_HEAD_ONNX, FEATURES_OUTPUT, TOKEN_STATES_OUTPUT

TEXTS = [
    "book a table for 4 at 8 pm",
    "  fly from Rome   to Dublin 😀",
    "what's the weather in Tokyo tomorrow",
    "hello",
]


class RecordingSession:
    """An ORT session that records the outputs each run asks for."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.asked: list[list[str]] = []

    def run(self, outputs: list[str], feeds: dict[str, Any]) -> Any:
        self.asked.append(list(outputs))
        return self.session.run(outputs, feeds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def rows(model: IntentModel, texts: list[str]) -> list[list[tuple[Any, ...]]]:
    entities = model.predict(texts).entities
    assert entities is not None
    return [[(e.start, e.end, e.entity, e.role, e.value) for e in row] for row in entities]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_batches_answer_as_single_texts(exported_entity_model: Path, variant: str) -> None:
    model = load_export(resolve_current(exported_entity_model, "slots"), variant).open()
    assert model.has_entities
    single = [rows(model, [text])[0] for text in TEXTS]
    assert rows(model, TEXTS) == single
    assert single[-1] == []
    if variant == "int8":
        parallel = model.open_parallel_rows(2)
        model.use_parallel_rows(parallel)
        assert rows(model, TEXTS) == single
        parallel.close()


def test_one_encoder_run_per_batch_fetches_both_outputs(exported_entity_model: Path) -> None:
    model = load_export(resolve_current(exported_entity_model, "slots"), "fp32").open()
    recorder = RecordingSession(model.encoder._session)
    model.encoder._session = recorder  # type: ignore[assignment]
    model.predict(TEXTS)
    assert recorder.asked == [[FEATURES_OUTPUT, TOKEN_STATES_OUTPUT]]


def test_a_bot_without_entities_never_fetches_token_states(exported_entity_model: Path) -> None:
    version = resolve_current(exported_entity_model, "plain")
    loaded = load_export(version)
    assert loaded.manifest.entities is None and not (version / ENTITY_HEAD_ONNX).exists()
    model = loaded.open()
    recorder = RecordingSession(model.encoder._session)
    model.encoder._session = recorder  # type: ignore[assignment]
    prediction = model.predict(TEXTS)
    assert prediction.entities is None and not model.has_entities
    # one run per text when the default encoder is INT8: every one asks for features only
    assert recorder.asked and all(asked == [FEATURES_OUTPUT] for asked in recorder.asked)


def reference_viterbi(probs: np.ndarray, tag_set: TagSet) -> list[int]:
    """Textbook Viterbi over every move `TagSet.allowed` permits (O(tags^2) a step)."""
    start, moves = tag_set.allowed()
    scores = np.log(np.maximum(probs.astype(np.float64), 1e-12))
    penalty = np.where(moves, 0.0, -np.inf)
    best = np.where(start, scores[0], -np.inf)
    back = []
    for row in scores[1:]:
        total = best[:, None] + penalty
        back.append(total.argmax(axis=0))
        best = total.max(axis=0) + row
    path = [int(best.argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return path[::-1]


def test_the_valid_argmax_shortcut_is_the_full_viterbi_on_real_head_outputs(
    exported_entity_model: Path,
) -> None:
    from intent_server.core.encoder.runtime import pad_states
    from intent_server.core.entities.viterbi import (
        argmax_tags,
        constrained_viterbi,
        full_viterbi,
        is_valid_path,
    )

    model = load_export(resolve_current(exported_entity_model, "slots"), "int8").open()
    assert model.entities is not None
    texts = [*TEXTS, "table for two at noon in Paris", "weather in NYC", "fly to Zürich from Rome"]
    probs = model.entities.probabilities(pad_states(model.token_states(texts)))
    shortcuts = 0
    for row, encoding in enumerate(model.tokenize(texts)):
        real = [t for t, (start, end) in enumerate(encoding.offsets) if end > start]
        sub = probs[row, real]
        expected = reference_viterbi(sub, model.entities.tag_set)
        assert full_viterbi(sub).tolist() == expected
        assert constrained_viterbi(sub).tolist() == expected
        shortcuts += is_valid_path(argmax_tags(sub))
        # the head's own tokens with one token's scores moved to another: the argmax path
        # breaks BIO, so the dynamic program runs and must still agree
        for t in range(1, len(sub)):
            moved = sub.copy()
            moved[t] = np.roll(sub[t], 1)
            assert constrained_viterbi(moved).tolist() == reference_viterbi(
                moved, model.entities.tag_set
            )
    assert shortcuts > 0
