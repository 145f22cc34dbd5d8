"""The torch-free runtime model: known embedding values, batching, truncation, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from intent_server.core.exports import LoadedExport, load_export
from intent_server.core.intent_model import IntentModel

TEXTS = [
    "hi",
    "set an alarm for 7 am tomorrow",
    "what's the weather going to be like in lisbon this weekend, do i need an umbrella?",
    "transfer 100 dollars to my savings account",
    "¿qué tal? naïve café",
]
# all-MiniLM-L6-v2 "hello world", first dims (sentence-transformers, normalised).
HELLO_WORLD = [-0.0345, 0.0310, 0.0067, 0.0261, -0.0394]


@pytest.fixture(scope="module", params=["fp32", "int8"])
def export(request: pytest.FixtureRequest, exported_example_version: Path) -> LoadedExport:
    return load_export(exported_example_version, request.param)


@pytest.fixture(scope="module")
def model(export: LoadedExport) -> IntentModel:
    return export.open()


def test_hello_world_matches_the_published_values(exported_example_version: Path) -> None:
    fp32 = load_export(exported_example_version, "fp32").open()
    embedding = fp32.sentence_embeddings(["hello world"])
    assert embedding.shape == (1, 384)
    np.testing.assert_allclose(embedding[0, :5], HELLO_WORLD, atol=1e-3)
    assert float(np.linalg.norm(embedding[0])) == pytest.approx(1.0, abs=1e-5)


def test_batched_equals_single(model: IntentModel) -> None:
    batched = model.predict(TEXTS).probabilities
    single = np.concatenate([model.predict([text]).probabilities for text in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    embedded = model.embed(TEXTS)
    one_by_one = np.concatenate([model.embed([text]) for text in TEXTS])
    np.testing.assert_allclose(embedded, one_by_one, atol=1e-5)
    sentence = model.sentence_embeddings(TEXTS)
    sentence_one_by_one = np.concatenate([model.sentence_embeddings([t]) for t in TEXTS])
    np.testing.assert_allclose(sentence, sentence_one_by_one, atol=1e-5)
    np.testing.assert_allclose(model.classify_features(embedded), batched, atol=1e-6)


def test_texts_side_by_side_give_the_single_answers(model: IntentModel) -> None:
    texts = TEXTS * 3  # more texts than threads, of every length, in a mixed order
    single = np.concatenate([model.predict([text]).probabilities for text in texts])
    rows = model.open_parallel_rows(2)
    try:
        model.use_parallel_rows(rows)
        assert model.parallel_rows is rows
        side_by_side = model.predict(texts)
        embedded = model.embed(texts)
    finally:
        model.use_parallel_rows(None)
        rows.close()
    np.testing.assert_allclose(side_by_side.probabilities, single, atol=1e-5)
    one_by_one = np.concatenate([model.embed([text]) for text in texts])
    np.testing.assert_allclose(embedded, one_by_one, atol=1e-5)
    assert side_by_side.truncated == tuple(model.predict([t]).truncated[0] for t in texts)


def test_parallel_rows_need_two_workers(model: IntentModel) -> None:
    with pytest.raises(ValueError, match="at least 2 workers"):
        model.open_parallel_rows(1)


def test_predict_gives_probabilities_in_label_order(
    model: IntentModel, export: LoadedExport
) -> None:
    prediction = model.predict(["please wake me up at 6:30 tomorrow"])
    probs = prediction.probabilities
    assert probs.shape == (1, len(export.labels)) == (1, model.classes)
    assert probs.dtype == np.float32
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    assert export.labels[int(probs.argmax())] == "set_alarm"
    assert prediction.truncated == (False,)


def test_long_text_is_truncated_and_flagged(model: IntentModel, export: LoadedExport) -> None:
    long_text = "book a flight to tokyo " * 100
    prediction = model.predict(["hello", long_text])
    assert prediction.truncated == (False, True)
    assert np.isfinite(prediction.probabilities).all()
    exactly = model.predict([" ".join(["word"] * (export.max_tokens - 2))])
    assert exactly.truncated == (False,)
    assert model.embed(["word"]).shape == (1, 1152)


def test_empty_input_and_warm_up(model: IntentModel) -> None:
    model.warm_up()
    assert model.embed([]).shape == (0, 1152)
    empty = model.predict([])
    assert empty.probabilities.shape == (0, model.classes) and empty.truncated == ()
    blank = model.predict([""]).probabilities
    assert float(blank.sum()) == pytest.approx(1.0, abs=1e-5)


def test_concurrent_callers_get_the_same_results(model: IntentModel) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expected = [model.predict([text]).probabilities for text in TEXTS]
    batches = [TEXTS[i:] + TEXTS[:i] for i in range(len(TEXTS))] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda texts: model.predict(texts).probabilities, batches))
    for texts, probs in zip(batches, results, strict=True):
        for text, row in zip(texts, probs, strict=True):
            np.testing.assert_allclose(row, expected[TEXTS.index(text)][0], atol=1e-5)


def test_runtime_never_imports_torch(exported_example_model: Path) -> None:
    code = f"""
import json, sys
from pathlib import Path
from intent_server.core.exports import load_export, resolve_current
model = load_export(resolve_current(Path({str(exported_example_model)!r}), "default")).open()
model.warm_up()
probs = model.predict(["set an alarm for 7", "hello there"]).probabilities
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in ("torch", "sentence_transformers", "trainer", "transformers"))
print(json.dumps({{"heavy": heavy, "rows": len(probs)}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "rows": 2}
