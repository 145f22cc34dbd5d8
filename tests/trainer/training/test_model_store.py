"""The model folder is swapped in whole or not at all; bad names and damaged folders are
user errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from intent_server.core.entities.spans import EntitySpan
from tests.fixtures.contracts import sample_card
from trainer.errors import UserError
from trainer.training.model_store import (
    ValidationSplit,
    _load_bank,
    check_model_name,
    load_trained_model,
    save_bank,
    staged_model_dir,
)


def test_staged_folder_replaces_the_old_one_only_on_success(tmp_path: Path) -> None:
    with staged_model_dir(tmp_path, "m") as tmp:
        (tmp / "model.json").write_text("1")
    assert (tmp_path / "m" / "model.json").read_text() == "1"
    with pytest.raises(RuntimeError), staged_model_dir(tmp_path, "m") as tmp:
        (tmp / "model.json").write_text("2")
        raise RuntimeError("disk full")
    assert (tmp_path / "m" / "model.json").read_text() == "1"
    with staged_model_dir(tmp_path, "m") as tmp:
        (tmp / "model.json").write_text("3")
    assert (tmp_path / "m" / "model.json").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "x" * 65, "white space"])
def test_bad_model_names(name: str) -> None:
    with pytest.raises(UserError, match="invalid model name"):
        check_model_name(name)


def test_loading_a_missing_or_damaged_model_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="make train"):
        load_trained_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(UserError, match="damaged"):
        load_trained_model(tmp_path)


def test_the_bank_keeps_each_vectors_intent_and_older_banks_read_zeros(tmp_path: Path) -> None:
    from safetensors.numpy import save

    card = sample_card()
    shape = (card.familiarity.examples, card.head.input_dim)
    vectors = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    offsets = np.zeros(shape[0], dtype=np.float32)
    intents = np.arange(shape[0], dtype=np.int64) % len(card.labels)
    save_bank(vectors, offsets, intents, tmp_path / "bank.safetensors")
    _, _, read = _load_bank(tmp_path / "bank.safetensors", card)
    assert np.array_equal(read, intents)
    (tmp_path / "old.safetensors").write_bytes(save({"bank": vectors, "offsets": offsets}))
    assert not _load_bank(tmp_path / "old.safetensors", card)[2].any()
    (tmp_path / "bad.safetensors").write_bytes(
        save({"bank": vectors, "offsets": offsets, "intents": intents[:3]})
    )
    with pytest.raises(ValueError, match="intents are int64 \\(3,\\), not one per vector"):
        _load_bank(tmp_path / "bad.safetensors", card)


def test_validation_split_keeps_each_texts_spans_and_reads_older_files(tmp_path: Path) -> None:
    texts = ("fly to Paris", "hello")
    spans = ((EntitySpan(7, 12, "city", "Paris"),), ())
    path = tmp_path / "validation.json"
    ValidationSplit(texts, ("fly", "greet"), True, spans).write(path)
    assert ValidationSplit.read(path).entities == spans
    ValidationSplit(texts, ("fly", "greet")).write(path)
    assert "entities" not in json.loads(path.read_text())
    assert ValidationSplit.read(path).entities is None
    path.write_text(json.dumps({"texts": list(texts), "labels": ["a", "b"], "entities": [[]]}))
    with pytest.raises(ValueError, match=r"for each text, a list of \[start, end, entity\]"):
        ValidationSplit.read(path)
