"""The real SNIPS splits: examples with spans, written as our YAML and read back by the real
parser with the same spans, and the fixed draw of K per intent the bench trains on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.datasets import datasets_dir
from bench.snips import SPLITS, draw_per_intent, load_snips, write_snips_yaml
from bench.snips.dataset import parse_subsets, subset_data
from tests.fixtures.seqeval import seqeval_chunks
from trainer.data import Example, load_training_data, validate_path
from trainer.data.text import duplicate_key

SNIPS = datasets_dir() / "snips"


@pytest.fixture(autouse=True)
def _needs_snips() -> None:
    if not (SNIPS / "valid" / "seq.in").is_file():
        pytest.skip(f"SNIPS not found under {SNIPS}")


def test_the_valid_split_as_examples_with_spans() -> None:
    data = load_snips("valid")
    assert len(data.examples) == 700 and len(data.labels) == 7
    first = data.examples[0]
    assert (first.source, first.line) == (SNIPS / "valid" / "seq.in", 1)
    assert first.text == "i d like to have this track onto my classical relaxations playlist"
    assert [(s.value, s.entity) for s in first.entities] == [
        ("track", "music_item"), ("my", "playlist_owner"), ("classical relaxations", "playlist")
    ]  # fmt: skip
    tags = (SNIPS / "valid" / "seq.out").read_text(encoding="utf-8").splitlines()
    for example, line in zip(data.examples, tags, strict=True):
        tokens = example.text.split(" ")
        chunks = seqeval_chunks(line.split())
        starts = [sum(len(t) + 1 for t in tokens[:i]) for i in range(len(tokens))]
        expected = [(k, starts[a], starts[b] + len(tokens[b])) for k, a, b in chunks]
        assert [(s.entity, s.start, s.end) for s in example.entities] == expected


def test_written_yaml_reads_back_the_same_spans(tmp_path: Path) -> None:
    data = load_snips("valid")
    path = write_snips_yaml(data, tmp_path / "snips-valid.yml")
    assert "[classical relaxations](playlist)" in path.read_text(encoding="utf-8")
    result = validate_path(path)
    assert result.errors == ()
    loaded = result.data
    assert loaded is not None
    first_copies: dict[str, Example] = {}
    for example in data.examples:
        first_copies.setdefault(duplicate_key(example.text), example)
    assert len(loaded.examples) == len(first_copies) == 695  # 5 sentences repeat in valid
    expected = {(e.text, e.intent): e.entities for e in first_copies.values()}
    assert {(e.text, e.intent): e.entities for e in loaded.examples} == expected


def test_a_fixed_draw_per_intent(tmp_path: Path) -> None:
    train = load_snips("train")
    draw = draw_per_intent(train, 70)
    assert draw.counts() == dict.fromkeys(train.labels, 70)
    assert draw == draw_per_intent(train, 70)  # the same seed, the same examples
    assert draw != draw_per_intent(train, 70, seed=1)
    assert len({duplicate_key(e.text) for e in draw.examples}) == 490
    lines = [e.line for e in draw.examples]
    assert lines == sorted(lines)
    small = draw_per_intent(train, 10)
    assert len(small.examples) == 70
    loaded = load_training_data(write_snips_yaml(small, tmp_path / "k10.yml"))
    assert {e.text: e.entities for e in loaded.examples} == {
        e.text: e.entities for e in small.examples
    }
    with pytest.raises(ValueError, match="at least 1"):
        draw_per_intent(train, 0)


def test_unknown_split() -> None:
    assert SPLITS == ("train", "valid", "test")
    with pytest.raises(ValueError, match="unknown SNIPS split 'dev'"):
        load_snips("dev")


def test_subsets_are_full_or_counts_per_intent() -> None:
    assert parse_subsets("full, 70,10") == ("full", "70", "10")
    for bad in ("", "70,70", "0", "seventy", "full,-3"):
        with pytest.raises(ValueError):
            parse_subsets(bad)
    train = load_snips("valid")
    assert subset_data(train, "full") is train
    drawn = subset_data(train, "3")
    assert drawn.counts() == {intent: 3 for intent in train.labels}
    assert drawn == draw_per_intent(train, 3)
