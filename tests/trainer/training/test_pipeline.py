"""Training pipeline with the real encoder: the example bot, determinism, atomic model writes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from intent_server.decision import OUT_OF_SCOPE, decide
from trainer.data import TrainingData, data_from_pairs, load_training_data
from trainer.embeddings import embed_texts
from trainer.errors import UserError
from trainer.model_store import load_trained_model
from trainer.pipeline import TrainOptions, train
from trainer.training import class_weights, predict_proba, stratified_split

HELDOUT = Path(__file__).parent / "data" / "assistant_heldout.yml"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "assistant"
FAST = TrainOptions(epochs=12, patience=3)

pytestmark = pytest.mark.slow


def small_data() -> TrainingData:
    """Three intents of the example bot, enough to train in a second."""
    data = load_training_data(EXAMPLES)
    keep = {"set_alarm", "play_music", "check_balance"}
    return data_from_pairs([(e.text, e.intent) for e in data.examples if e.intent in keep])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_folder_follows_the_contract(trained_example_model: Path) -> None:
    config = json.loads((trained_example_model / "model.json").read_text())
    assert config["format_version"] == 1 and config["name"] == "default"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", config["version"])
    assert config["version"].endswith(sha256(trained_example_model / "head.safetensors")[:8])
    assert config["labels"] == sorted(config["labels"]) and OUT_OF_SCOPE in config["labels"]
    assert config["head"]["num_classes"] == len(config["labels"])
    assert config["head"]["type"] == "mlp"
    assert config["head"]["hidden"] == list(TrainOptions().hidden)
    assert config["encoder"]["weights_sha256"].startswith("53aa5117")
    assert config["encoder"]["dim"] == 384 and config["encoder"]["normalize"] is True
    assert {"confidence", "margin", "rule"} <= set(config["thresholds"])
    assert config["training"]["seed"] == 13 and config["training"]["epochs_run"] >= 1
    assert 0.0 < config["metrics"]["val_accuracy"] <= 1.0
    validation = json.loads((trained_example_model / "validation.json").read_text())
    assert len(validation["texts"]) == len(validation["labels"]) > 0
    assert set(validation["labels"]) <= set(config["labels"])


def test_report_files(trained_example_model: Path) -> None:
    report_dir = trained_example_model / "report"
    png = (report_dir / "confusion.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    from PIL import Image

    with Image.open(report_dir / "confusion.png") as image:
        assert image.size[0] >= 400 and image.size[1] >= 400
    report = json.loads((report_dir / "report.json").read_text())
    labels = json.loads((trained_example_model / "model.json").read_text())["labels"]
    assert [row["intent"] for row in report["intents"]] == labels
    assert {"precision", "recall", "f1", "support"} <= set(report["intents"][0])
    assert report["thresholds"]["rule"] and "correct_inscope_rejected" in report["thresholds"]
    for pair in report["confusions"]:
        assert pair["true"] != pair["predicted"] and pair["example"]
    markdown = (report_dir / "report.md").read_text()
    assert "Out-of-scope thresholds" in markdown and "confusion.png" in markdown


def test_example_bot_classifies_heldout_paraphrases(
    trained_example_model: Path, embedding_cache_dir: Path
) -> None:
    model = load_trained_model(trained_example_model)
    heldout = load_training_data(HELDOUT, min_examples=1)
    vectors = embed_texts(heldout.texts(), model.encoder_path, embedding_cache_dir)
    probs = predict_proba(model.head, vectors)
    answers = [decide(row, model.labels, model.thresholds).label for row in probs]
    in_scope = [
        (a, t) for a, t in zip(answers, heldout.intents(), strict=True) if t != OUT_OF_SCOPE
    ]
    accuracy = sum(a == t for a, t in in_scope) / len(in_scope)
    assert len(in_scope) >= 50
    assert accuracy >= 0.85, f"held-out in-scope accuracy {accuracy:.1%}"


def test_second_run_takes_every_embedding_from_the_cache(
    trained_example_model: Path, embedding_cache_dir: Path, tmp_path: Path
) -> None:
    data = load_training_data(EXAMPLES)
    result = train(
        data,
        model_name="again",
        models_dir=tmp_path,
        options=FAST,
        cache_dir=embedding_cache_dir,
        quiet=True,
    )
    assert result.embedded_count == 0
    assert result.cached_count == len(data.examples)


def test_editing_one_intent_embeds_only_the_new_example(
    embedding_cache_dir: Path, tmp_path: Path
) -> None:
    base = small_data()
    train(
        base,
        model_name="m",
        models_dir=tmp_path,
        options=FAST,
        cache_dir=embedding_cache_dir,
        quiet=True,
    )
    pairs = [(e.text, e.intent) for e in base.examples]
    pairs.append(("wake me up at a quarter past four on thursday please", "set_alarm"))
    result = train(
        data_from_pairs(pairs),
        model_name="m",
        models_dir=tmp_path,
        options=FAST,
        cache_dir=embedding_cache_dir,
        quiet=True,
    )
    assert (result.embedded_count, result.cached_count) == (1, len(pairs) - 1)


def test_same_seed_gives_identical_weights_and_another_seed_does_not(
    embedding_cache_dir: Path, tmp_path: Path
) -> None:
    data = small_data()
    digests = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        options = TrainOptions(epochs=12, patience=3, seed=seed)
        result = train(
            data,
            model_name=name,
            models_dir=tmp_path,
            options=options,
            cache_dir=embedding_cache_dir,
            quiet=True,
        )
        digests.append(sha256(result.model_dir / "head.safetensors"))
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_failed_run_leaves_previous_model_and_no_temp_folder(
    embedding_cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = small_data()
    first = train(
        data,
        model_name="keep",
        models_dir=tmp_path,
        options=FAST,
        cache_dir=embedding_cache_dir,
        quiet=True,
    )
    before = {p.name: p.read_bytes() for p in first.model_dir.iterdir() if p.is_file()}

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # as if Ctrl-C arrived while the model folder was written

    monkeypatch.setattr("trainer.pipeline.write_report", broken)
    with pytest.raises(KeyboardInterrupt):
        train(
            data,
            model_name="keep",
            models_dir=tmp_path,
            options=TrainOptions(epochs=12, patience=3, seed=99),
            cache_dir=embedding_cache_dir,
            quiet=True,
        )
    after = {p.name: p.read_bytes() for p in first.model_dir.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]
    load_trained_model(first.model_dir)


def test_retraining_replaces_the_model(embedding_cache_dir: Path, tmp_path: Path) -> None:
    data = small_data()
    first = train(
        data,
        model_name="m",
        models_dir=tmp_path,
        options=FAST,
        cache_dir=embedding_cache_dir,
        quiet=True,
    )
    second = train(
        data,
        model_name="m",
        models_dir=tmp_path,
        options=TrainOptions(epochs=12, patience=3, seed=1),
        cache_dir=embedding_cache_dir,
        quiet=True,
    )
    assert second.model_dir == first.model_dir
    assert load_trained_model(second.model_dir).version == second.version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_explicit_validation_split(embedding_cache_dir: Path, tmp_path: Path) -> None:
    data = small_data()
    held = data_from_pairs(
        [("please wake me at seven", "set_alarm"), ("how much money do i have", "check_balance")]
    )
    result = train(
        data,
        model_name="v",
        models_dir=tmp_path,
        options=FAST,
        cache_dir=embedding_cache_dir,
        validation=held,
        quiet=True,
    )
    validation = json.loads((result.model_dir / "validation.json").read_text())
    assert sorted(validation["texts"]) == sorted(held.texts())
    assert result.metrics["train_examples"] == len(data.examples)
    unknown = data_from_pairs([("hello there", "greeting")])
    with pytest.raises(UserError, match="greeting"):
        train(
            data,
            model_name="v",
            models_dir=tmp_path,
            options=FAST,
            cache_dir=embedding_cache_dir,
            validation=unknown,
            quiet=True,
        )


def test_stratified_split_keeps_one_training_example_per_intent() -> None:
    y = np.array([0] * 20 + [1] * 3 + [2] * 1 + [3] * 2)
    train_idx, val_idx = stratified_split(y, 0.5, seed=1)
    assert set(np.concatenate([train_idx, val_idx]).tolist()) == set(range(len(y)))
    assert not set(train_idx.tolist()) & set(val_idx.tolist())
    assert set(y[train_idx].tolist()) == {0, 1, 2, 3}
    assert (y[val_idx] == 0).sum() == 10
    again = stratified_split(y, 0.5, seed=1)
    assert np.array_equal(again[0], train_idx) and np.array_equal(again[1], val_idx)


def test_class_weights_favour_rare_intents_and_average_one() -> None:
    y = np.array([0] * 30 + [1] * 10)
    weights = class_weights(y, 2)
    assert weights[1] == pytest.approx(3 * weights[0])
    assert float(weights[y].mean()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"hidden": (0,)},
        {"hidden": ()},
        {"dropout": 1.0},
        {"lr": 0.0},
        {"epochs": 0},
        {"batch_size": 1},
        {"val_fraction": 0.95},
        {"label_smoothing": -0.1},
    ],
)
def test_bad_options_are_user_errors(changes: dict[str, object]) -> None:
    with pytest.raises(UserError, match="invalid training options"):
        TrainOptions(**changes)  # type: ignore[arg-type]
