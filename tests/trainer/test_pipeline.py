"""Training pipeline with the real encoder: the example bot, determinism, atomic model writes."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import pytest

from intent_server.core.decision import OUT_OF_SCOPE, decide
from tests.fixtures.paths import EXAMPLES, HELDOUT
from trainer.data import TrainingData, data_from_pairs, load_training_data
from trainer.errors import UserError
from trainer.features.cache import EmbeddingCache
from trainer.features.extract import embed_with_stats
from trainer.pipeline import TrainOptions, train
from trainer.training.loop import predict_proba
from trainer.training.model_store import load_trained_model

FAST = TrainOptions(epochs=12, patience=3)


def small_data() -> TrainingData:
    """Three intents of the example bot, enough to train in a second."""
    data = load_training_data(EXAMPLES)
    keep = {"set_alarm", "play_music", "check_balance"}
    return data_from_pairs([(e.text, e.intent) for e in data.examples if e.intent in keep])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_folder_follows_the_contract(trained_example_model: Path) -> None:
    config = json.loads((trained_example_model / "model.json").read_text())
    assert config["format_version"] == 3 and config["name"] == "default"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", config["version"])
    assert config["version"].endswith(sha256(trained_example_model / "head.safetensors")[:8])
    assert config["labels"] == sorted(config["labels"]) and OUT_OF_SCOPE in config["labels"]
    assert config["head"]["num_classes"] == len(config["labels"])
    assert config["head"]["type"] == "mlp"
    # --head auto: the MLP's hidden layers, or none when logistic regression answered more
    # of the bot's cross-validated examples right (the report says which and why).
    report = json.loads((trained_example_model / "report" / "report.json").read_text())
    chosen = report["head"]
    assert chosen["how"] == "cross-validated" and chosen["summary"]
    expected = [] if chosen["kind"] == "logistic" else list(TrainOptions().hidden)
    assert config["head"]["hidden"] == expected
    assert config["encoder"]["weights_sha256"].startswith("53aa5117")
    assert config["encoder"]["dim"] == 384 and config["encoder"]["feature_layers"] == [4, 5, 6]
    assert {"confidence", "margin", "rule", "familiarity"} <= set(config["thresholds"])
    # A bot this small is cross-validated: every example is a calibration text and the
    # familiarity bank holds every in-scope example.
    assert config["metrics"]["val_method"] == "cross-validated"
    examples = config["metrics"]["train_examples"]
    assert config["metrics"]["val_examples"] == examples
    bank = config["familiarity"]
    assert bank["examples"] == bank["source_examples"] < examples and bank["per_intent"] == 0
    from safetensors.numpy import load_file

    vectors = load_file(str(trained_example_model / "familiarity.safetensors"))["bank"]
    assert vectors.shape == (bank["examples"], config["head"]["input_dim"])
    assert config["training"]["seed"] == 13 and config["training"]["epochs_run"] >= 1
    assert 0.0 < config["metrics"]["val_accuracy"] <= 1.0
    validation = json.loads((trained_example_model / "validation.json").read_text())
    assert len(validation["texts"]) == len(validation["labels"]) == examples
    assert set(validation["labels"]) <= set(config["labels"]) and not validation["held_out"]
    # the example bot annotates entities: each text's spans, for the export's INT8 entity gate
    assert len(validation["entities"]) == examples and any(validation["entities"])


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
    assert (report_dir / "familiarity.png").read_bytes().startswith(b"\x89PNG")
    familiarity = report["familiarity"]
    assert familiarity["threshold"] is not None and len(familiarity["tradeoff"]) >= 3
    assert "## Familiarity" in markdown and "--unfamiliar-sigmas" in markdown
    # The example bot has out_of_scope examples: other operating points are listed.
    assert [row["max_inscope_loss"] for row in report["operating_points"]][:2] == [0.0, 0.005]
    assert "--max-inscope-loss" in markdown
    assert f"Head: {report['head']['summary']}." in markdown


def test_example_bot_classifies_heldout_paraphrases(
    trained_example_model: Path, embedding_cache_dir: Path
) -> None:
    model = load_trained_model(trained_example_model)
    heldout = load_training_data(HELDOUT, min_examples=1)
    identity = model.card.encoder
    cache = EmbeddingCache(embedding_cache_dir, identity)
    vectors = embed_with_stats(heldout.texts(), identity, cache).vectors
    probs = predict_proba(model.head, vectors)
    answers = [decide(row, model.labels, model.card.thresholds).label for row in probs]
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
    )
    pairs = [(e.text, e.intent) for e in base.examples]
    pairs.append(("wake me up at a quarter past four on thursday please", "set_alarm"))
    result = train(
        data_from_pairs(pairs),
        model_name="m",
        models_dir=tmp_path,
        options=FAST,
        cache_dir=embedding_cache_dir,
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
    )
    second = train(
        data,
        model_name="m",
        models_dir=tmp_path,
        options=TrainOptions(epochs=12, patience=3, seed=1),
        cache_dir=embedding_cache_dir,
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
    )
    validation = json.loads((result.model_dir / "validation.json").read_text())
    assert sorted(validation["texts"]) == sorted(held.texts()) and validation["held_out"]
    assert result.metrics.train_examples == len(data.examples)
    assert result.metrics.val_method == "held-out"
    unknown = data_from_pairs([("hello there", "greeting")])
    with pytest.raises(UserError, match="greeting"):
        train(
            data,
            model_name="v",
            models_dir=tmp_path,
            options=FAST,
            cache_dir=embedding_cache_dir,
            validation=unknown,
        )


def test_a_bot_without_out_of_scope_examples_is_told_what_the_server_will_do(
    embedding_cache_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trainer")
    result = train(
        small_data(),
        model_name="s",
        models_dir=tmp_path,
        options=FAST,
        cache_dir=embedding_cache_dir,
    )
    th = result.thresholds
    assert (th.confidence, th.margin) == (0.0, 0.0) and th.familiarity is not None
    told = [r.getMessage() for r in caplog.records if "no out_of_scope examples" in r.getMessage()]
    assert told and f"{th.familiarity:.3f}" in told[0]
    assert "intent named out_of_scope" in told[0] and "--unfamiliar-sigmas" in told[0]
    assert result.report.operating_points == ()  # nothing to trade against
