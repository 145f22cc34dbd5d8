"""Loading training data: native and Rasa formats, folders, entity markup, line numbers,
and the bundled example bot."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intent_server.core.decision import OUT_OF_SCOPE
from tests.fixtures.paths import EXAMPLES, HELDOUT
from tests.trainer.data.samples import NATIVE, RASA, native, write
from trainer.data import (
    data_from_pairs,
    find_data_files,
    load_training_data,
    validate_path,
    write_native_yaml,
)
from trainer.data.markup import clean_text
from trainer.data.text import duplicate_key


def test_native_file_loads_texts_intents_and_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "bot.yml", NATIVE)
    data = load_training_data(path)
    assert data.labels == ("book_flight", "greet")
    assert data.counts() == {"book_flight": 3, "greet": 3}
    assert data.sources == (path,)
    first = data.examples[0]
    assert (first.text, first.intent, first.source, first.line) == ("hello there", "greet", path, 5)
    by_text = {example.text: example.line for example in data.examples}
    assert by_text["fly me to New York"] == 12


def test_rasa_format_equals_native_format(tmp_path: Path) -> None:
    from_native = load_training_data(write(tmp_path, "native.yml", NATIVE))
    from_rasa = load_training_data(write(tmp_path, "nlu.yml", RASA))
    assert sorted(zip(from_rasa.texts(), from_rasa.intents(), strict=True)) == sorted(
        zip(from_native.texts(), from_native.intents(), strict=True)
    )
    assert from_rasa.labels == from_native.labels


def test_rasa_block_lines_point_at_each_example(tmp_path: Path) -> None:
    data = load_training_data(write(tmp_path, "nlu.yml", RASA))
    lines = {example.text: example.line for example in data.examples}
    assert lines == {
        "hello there": 5,
        "good morning": 6,
        "hi": 7,
        "book a flight to Paris": 10,
        "I need a plane ticket for friday": 11,
        "fly me to New York": 12,
    }


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("fly to [Paris](city) now", "fly to Paris now"),
        ("fly to [Paris](city:paris)", "fly to Paris"),
        ('fly to [Paris]{"entity": "city"}', "fly to Paris"),
        (
            'fly to [Paris]{"entity":"city","value":"paris"} on [monday](date)',
            "fly to Paris on monday",
        ),
        ('[New York][{"entity": "city"}, {"entity": "state"}] please', "New York please"),
        ("  lots   of\tspace  ", "lots of space"),
        ("Keep The Case", "Keep The Case"),
        ("a [bracket] that is not markup", "a [bracket] that is not markup"),
    ],
)
def test_clean_text_reduces_entity_markup_and_whitespace(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@given(st.text())
def test_clean_text_is_idempotent_and_single_spaced(text: str) -> None:
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert "  " not in cleaned
    assert cleaned == cleaned.strip()


def test_native_entity_markup_and_text_mappings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("""\
        a:
          examples:
            - text: go to [Rome](city)
            - "plain one"
            - text: |
                multi
                line
        b:
          examples: [x one, x two, x three]
        """),
    )
    data = load_training_data(path)
    assert data.texts()[:3] == ["go to Rome", "plain one", "multi line"]
    assert data.examples[0].line == 5


def test_folder_loads_every_yaml_file_recursively_sorted_and_merges_intents(
    tmp_path: Path,
) -> None:
    write(tmp_path, "b.yml", native("greet:\n  examples: [hi, hello, hey]\n"))
    write(tmp_path, "a/more.yaml", native("greet:\n  examples: [good day]\n"))
    write(
        tmp_path,
        "a/nlu.yml",
        "nlu:\n- intent: bye\n  examples: |\n    - bye\n    - ciao\n    - see [you](who)\n",
    )
    write(tmp_path, "notes.txt", "not data")
    write(tmp_path, ".hidden/x.yml", "this: [is, ignored")
    files = find_data_files(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "a/more.yaml",
        "a/nlu.yml",
        "b.yml",
    ]
    data = load_training_data(tmp_path)
    assert data.sources == tuple(files)
    assert data.counts() == {"bye": 3, "greet": 4}
    assert "see you" in data.texts()


def test_out_of_scope_is_an_ordinary_label(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native(f"greet:\n  examples: [hi, hello, hey]\n{OUT_OF_SCOPE}:\n  examples: [a, b, c]\n"),
    )
    assert load_training_data(path).labels == ("greet", "out_of_scope")


def test_data_from_pairs_and_write_native_yaml_round_trip(tmp_path: Path) -> None:
    pairs = [("book a  flight", "book_flight"), ("hi", "greet"), ("yes", "greet")]
    pairs += [("no", "greet"), ("[x](y) 12", "book_flight"), ("fly: now", "book_flight")]
    data = data_from_pairs(pairs)
    assert data.texts()[0] == "book a flight"
    assert [e.line for e in data.examples] == [1, 2, 3, 4, 5, 6]
    out = tmp_path / "sub" / "converted.yml"
    write_native_yaml(data, out)
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    loaded = load_training_data(out)
    # Entity-looking markup is reduced on reading; everything else survives quoting.
    expected = [(clean_text(t), i) for t, i in zip(data.texts(), data.intents(), strict=True)]
    assert sorted(zip(loaded.texts(), loaded.intents(), strict=True)) == sorted(expected)
    write_native_yaml(pairs, out)  # pairs work too, and replace the old file
    assert load_training_data(out).counts() == {"book_flight": 3, "greet": 3}


def test_data_from_pairs_rejects_empty_text() -> None:
    with pytest.raises(ValueError, match="pair 2"):
        data_from_pairs([("ok", "a"), ("   ", "b")])


def test_example_bot_is_valid_and_realistic() -> None:
    result = validate_path(EXAMPLES)
    assert [p.format() for p in result.problems] == []
    data = result.data
    assert data is not None
    counts = data.counts()
    in_scope = {label: n for label, n in counts.items() if label != OUT_OF_SCOPE}
    assert len(in_scope) >= 16
    assert all(22 <= n <= 30 for n in in_scope.values()), in_scope
    assert counts[OUT_OF_SCOPE] >= 30
    assert len(data.sources) >= 4
    rasa_files = [s for s in data.sources if "nlu:" in s.read_text(encoding="utf-8")]
    assert rasa_files and "](" in rasa_files[0].read_text(encoding="utf-8")


def test_heldout_set_is_new_wording_for_every_intent() -> None:
    training = load_training_data(EXAMPLES)
    heldout = load_training_data(HELDOUT)
    assert heldout.labels == training.labels
    seen = {duplicate_key(text) for text in training.texts()}
    assert [text for text in heldout.texts() if duplicate_key(text) in seen] == []
    counts = heldout.counts()
    assert all(n >= 4 for n in counts.values())
    assert counts[OUT_OF_SCOPE] >= 15
