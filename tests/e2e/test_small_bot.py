"""The usual first bot: 8 intents, 12 examples each, no out_of_scope examples.

Trained, exported and served through the product, it must turn unrelated questions away
(reason UNFAMILIAR) while answering paraphrases of its intents, which the softmax of a
head over 8 intents cannot do alone (it is confident about anything).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from intent_server.client import IntentClient
from intent_server.core.decision import OUT_OF_SCOPE
from intent_server.process import running_server
from tests.fixtures.paths import EXAMPLES, HELDOUT
from tests.fixtures.server import example_server_config

INTENTS = 8
PER_INTENT = 12
UNRELATED = [
    "what is the capital of australia",
    "who wrote pride and prejudice",
    "how far is the moon from the earth",
    "what is the boiling point of mercury in kelvin",
    "who painted the ceiling of the sistine chapel",
    "how many legs does a spider have",
    "explain the theory of general relativity",
    "what is the tallest mountain in africa",
    "when did the roman empire fall",
    "what's the chemical formula of table salt",
]


@pytest.fixture(scope="module")
def small_bot_client(
    tmp_path_factory: pytest.TempPathFactory, embedding_cache_dir: Path
) -> Iterator[tuple[IntentClient, tuple[str, ...]]]:
    from trainer.data import TrainingData, load_training_data, write_native_yaml
    from trainer.export.pipeline import export_model
    from trainer.pipeline import TrainOptions, train

    full = load_training_data(EXAMPLES)
    intents = [name for name in full.labels if name != OUT_OF_SCOPE][:INTENTS]
    pairs = [
        (text, intent)
        for intent in intents
        for text in [e.text for e in full.examples if e.intent == intent][:PER_INTENT]
    ]
    root = tmp_path_factory.mktemp("small-bot")
    write_native_yaml(pairs, root / "bot.yml")
    data: TrainingData = load_training_data(root / "bot.yml")
    train(
        data,
        model_name="default",
        models_dir=root / "models",
        options=TrainOptions(),
        cache_dir=embedding_cache_dir,
    )
    export_model(
        "default", models_dir=root / "models", export_dir=root / "exported", skip_int8=True
    )
    config = example_server_config(root / "exported")
    with running_server(config) as server, IntentClient(server.address, timeout=30) as client:
        yield client, tuple(intents)


def test_unrelated_questions_are_unfamiliar(
    small_bot_client: tuple[IntentClient, tuple[str, ...]],
) -> None:
    client, _ = small_bot_client
    floor = client.model_info().familiarity_threshold
    results = client.classify_batch(UNRELATED)
    caught = [r for r in results if r.out_of_scope]
    assert len(caught) >= 0.8 * len(UNRELATED), [(r.top_intent, r.familiarity) for r in results]
    assert all(r.reason == "unfamiliar" for r in caught)
    assert floor is not None
    assert all(r.familiarity is not None and r.familiarity < floor for r in caught)


def test_paraphrases_of_its_intents_stay_in_scope_and_correct(
    small_bot_client: tuple[IntentClient, tuple[str, ...]],
) -> None:
    from trainer.data import load_training_data

    client, intents = small_bot_client
    heldout = load_training_data(HELDOUT, min_examples=1)
    pairs = [(e.text, e.intent) for e in heldout.examples if e.intent in intents]
    assert len(pairs) >= 20
    results = client.classify_batch([text for text, _ in pairs])
    correct = sum(r.intent == intent for r, (_, intent) in zip(results, pairs, strict=True))
    assert correct >= 0.9 * len(pairs), [
        (text, r.intent, r.familiarity) for r, (text, _) in zip(results, pairs, strict=True)
    ]


def test_model_info_reports_the_familiarity_floor(
    small_bot_client: tuple[IntentClient, tuple[str, ...]],
) -> None:
    client, intents = small_bot_client
    info = client.model_info()
    assert info.familiarity_threshold is not None and 0.2 < info.familiarity_threshold < 0.9
    assert (info.confidence_threshold, info.margin_threshold) == (0.0, 0.0)
    assert "familiarity" in info.threshold_rule and tuple(info.labels) == intents
