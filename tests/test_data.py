"""Training data loading and validation (trainer.data): formats, line numbers, every mistake."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.data import (
    OUT_OF_SCOPE,
    Problem,
    data_from_pairs,
    find_data_files,
    load_training_data,
    run_validate_command,
    validate_path,
    write_native_yaml,
)
from trainer.data_text import clean_text, duplicate_key, suggest_intent_name
from trainer.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_BOT = ROOT / "examples" / "assistant"
HELDOUT = ROOT / "tests" / "data" / "assistant_heldout.yml"

NATIVE = """\
version: 1
intents:
  greet:
    examples:
      - hello there
      - good morning
      - hi
  book_flight:
    examples:
      - book a flight to Paris
      - I need a plane ticket for friday
      - fly me to New York
"""

RASA = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello there
    - good morning
    - hi
- intent: book_flight
  examples: |
    - book a flight to [Paris](city)
    - I need a plane ticket for [friday]{"entity": "date"}
    - fly me to [New York]{"entity": "city", "value": "nyc"}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def native(intents: str, version: str = "version: 1\n") -> str:
    """A native file whose `intents:` body is `intents` (dedented, then indented by two)."""
    body = textwrap.indent(textwrap.dedent(intents), "  ")
    return f"{version}intents:\n{body}"


def only_error(path: Path, **kwargs: int) -> Problem:
    result = validate_path(path, **kwargs)
    assert result.data is None
    assert len(result.errors) == 1, [p.format() for p in result.problems]
    return result.errors[0]


# --- loading ---------------------------------------------------------------------------------


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


# --- errors ----------------------------------------------------------------------------------


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    problem = only_error(tmp_path / "nope.yml")
    assert problem.source == tmp_path / "nope.yml"
    assert "not found" in problem.message
    (tmp_path / "empty").mkdir()
    write(tmp_path, "empty/readme.md", "no yaml here")
    assert "no *.yml or *.yaml files" in only_error(tmp_path / "empty").message


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yml", "version: 1\nintents:\n  greet:\n    examples: [hi, hello\n")
    problem = only_error(path)
    assert problem.source == path
    assert problem.line is not None and problem.line >= 4
    assert problem.message.startswith("malformed YAML")
    assert problem.format().startswith(f"{path}:{problem.line}: error: malformed YAML")


def test_tab_indentation_is_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, "tabs.yml", "version: 1\nintents:\n\tgreet:\n")
    problem = only_error(path)
    assert problem.line == 3
    assert "malformed YAML" in problem.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("just a sentence\n", "top level must be a mapping"),
        ("version: 1\n", "no 'intents:' (native format) or 'nlu:' (Rasa format)"),
    ],
)
def test_files_without_usable_top_level(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, "bot.yml", text)
    problem = only_error(path)
    assert expected in problem.message
    assert problem.source == path


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("version: 1\nintents:\n  caf\xe9: {}\n".encode("latin-1"))
    assert "not UTF-8" in only_error(path).message


def test_unknown_keys_are_named_with_allowed_keys_and_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        """\
        version: 1
        intens: {}
        intents:
          greet:
            exmaples: [hi]
            examples: [hi, hello, hey]
          bye:
            examples: [bye, ciao, later]
        """,
    )
    result = validate_path(path)
    messages = {(p.line, p.intent): p.message for p in result.errors}
    assert len(result.errors) == 2
    assert "unknown key 'intens'" in messages[(2, None)]
    assert "'version', 'intents'" in messages[(2, None)]
    assert "Did you mean 'intents'?" in messages[(2, None)]
    assert "unknown key 'exmaples'" in messages[(5, "greet")]
    assert "Did you mean 'examples'?" in messages[(5, "greet")]


def test_unknown_key_in_rasa_item_and_example_mapping(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nlu.yml",
        """\
        nlu:
        - intent: greet
          exampels: |
            - hi
          examples: |
            - hi
            - hello
            - hey
        - intent: bye
          examples:
          - text: bye
            metdata: {}
          - bye bye
          - ciao
        """,
    )
    result = validate_path(path)
    found = {(p.line, p.intent): p.message for p in result.errors}
    assert "unknown key 'exampels'" in found[(3, "greet")]
    assert "'intent', 'examples', 'metadata'" in found[(3, "greet")]
    assert "Did you mean 'examples'?" in found[(3, "greet")]
    assert "unknown key 'metdata'" in found[(12, "bye")]
    assert "Did you mean 'metadata'?" in found[(12, "bye")]


def test_rasa_item_without_intent(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu.yml", "nlu:\n- intnet: greet\n  examples: |\n    - hi\n")
    result = validate_path(path)
    messages = [p.format() for p in result.errors]
    assert any("unknown key 'intnet'" in m and "Did you mean 'intent'?" in m for m in messages)
    assert any(f"{path}:2: error: this 'nlu' item has no 'intent:' key" in m for m in messages)


def test_missing_and_unsupported_versions(tmp_path: Path) -> None:
    body = "greet:\n  examples: [hi, hello, hey]\nbye:\n  examples: [bye, ciao, later]\n"
    missing = only_error(write(tmp_path, "a.yml", native(body, version="")))
    assert "missing 'version: 1'" in missing.message
    wrong = only_error(write(tmp_path, "b.yml", native(body, version="version: 2\n")))
    assert wrong.line == 1
    assert wrong.message.startswith("unsupported version '2'")
    assert "version: 1" in wrong.message
    rasa = write(tmp_path, "c.yml", 'version: "9.0"\n' + RASA.split("\n", 1)[1])
    assert "unsupported Rasa version '9.0'" in only_error(rasa).message
    no_version_rasa = write(tmp_path, "d.yml", RASA.split("\n", 1)[1])
    assert validate_path(no_version_rasa).problems == ()


def test_intent_without_examples(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("greet:\n  examples: [hi, hello, hey]\nbye:\n  examples:\nthanks:\n"),
    )
    result = validate_path(path)
    assert [(p.line, p.intent) for p in result.errors] == [(5, "bye"), (7, "thanks")]
    assert all("has no examples; add at least 3" in p.message for p in result.errors)


def test_too_few_examples_says_how_many_and_the_minimum(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("greet:\n  examples: [hi, hello, hey]\nbye:\n  examples: [bye]\n"),
    )
    problem = only_error(path)
    assert (problem.source, problem.line, problem.intent) == (path, 5, "bye")
    assert "has 1 example but at least 3 are needed" in problem.message
    assert validate_path(path, min_examples=1).data is not None
    errors = validate_path(path, min_examples=5).errors
    assert [(p.intent, p.line) for p in errors] == [("greet", 3), ("bye", 5)]
    assert "has 3 examples but at least 5" in errors[0].message


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        ("42", "a number (42)"),
        ("3.5", "a number (3.5)"),
        ("yes", "a boolean (yes)"),
        ("", "empty (null)"),
        ("~", "empty (null)"),
        ("[a, b]", "a list"),
        ("{a: b}", "a mapping"),
        ("2024-01-01", "a date"),
    ],
)
def test_non_string_example_says_its_type(tmp_path: Path, item: str, kind: str) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native(f"greet:\n  examples:\n    - hi\n    - hello\n    - hey\n    - {item}\nbye:\n"
               f"  examples: [bye, ciao, later]\n"),
    )  # fmt: skip
    if kind == "a mapping":
        errors = validate_path(path).errors
        assert [(p.line, p.intent) for p in errors] == [(8, "greet")] * 2
        assert "unknown key 'a'" in errors[0].message and "needs 'text:'" in errors[1].message
        return
    problem = only_error(path)
    assert (problem.line, problem.intent) == (8, "greet")
    assert f"must be text, but it is {kind}" in problem.message


def test_empty_and_whitespace_examples(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native(
            'greet:\n  examples: [hi, hello, hey, "", "   "]\n'
            "bye:\n  examples: [bye, ciao, later]\n"
        ),
    )
    result = validate_path(path)
    assert len(result.errors) == 2
    assert all("empty example" in p.message and p.intent == "greet" for p in result.errors)
    rasa = write(
        tmp_path, "nlu.yml", "nlu:\n- intent: a\n  examples: |\n    - x\n    -\n    - y\n    - z\n"
    )
    problem = next(p for p in validate_path(rasa).errors if "empty example" in p.message)
    assert problem.line == 5


def test_rasa_block_lines_must_start_with_a_dash(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nlu.yml",
        "nlu:\n- intent: a\n  examples: |\n    - one\n    two\n    - three\n    - four\n"
        "- intent: b\n  examples: >\n    - x\n    - y\n",
    )
    messages = {p.line: p.message for p in validate_path(path).errors}
    assert "must start with '- ', got 'two'" in messages[5]
    assert "with '|'" in messages[9]


def test_invalid_intent_names_suggest_a_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("book flight:\n  examples: [a, b, c]\n2fa-reset:\n  examples: [d, e, f]\n"),
    )
    result = validate_path(path)
    messages = {p.intent: p.message for p in result.errors}
    assert "rename it, e.g. to 'book_flight'" in messages["book flight"]
    assert "rename it, e.g. to '_2fa_reset'" in messages["2fa-reset"]
    assert suggest_intent_name("faq/ask name!") == "faq_ask_name"
    rasa = write(tmp_path, "nlu.yml", "nlu:\n- intent: faq/ask\n  examples: |\n    - x\n")
    assert any("'faq_ask'" in p.message for p in validate_path(rasa).errors)


def test_same_example_under_two_intents_names_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yml", native("greet:\n  examples: [hi, Hello  There, hey]\n"))
    second = write(
        tmp_path,
        "b.yml",
        "nlu:\n- intent: bye\n  examples: |\n"
        "    - bye\n    - ciao\n    - hello there\n    - later\n",
    )
    problem = only_error(tmp_path)
    assert (problem.source, problem.line, problem.intent) == (second, 6, "bye")
    assert "'greet'" in problem.message and "'bye'" in problem.message
    assert f"{first}:4" in problem.message and f"{second}:6" in problem.message


def test_duplicate_inside_one_intent_is_a_warning_naming_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("greet:\n  examples:\n    - hi\n    - hello\n    - hey\n    - HI \n"
               "bye:\n  examples: [bye, ciao, later]\n"),
    )  # fmt: skip
    result = validate_path(path)
    assert result.errors == ()
    (warning,) = result.warnings
    assert (warning.line, warning.intent, warning.severity) == (8, "greet", "warning")
    assert f"first at {path}:5" in warning.message
    assert result.data is not None and result.data.counts()["greet"] == 3


def test_intent_names_differing_only_in_case_warn(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", native("greet:\n  examples: [hi, hello, hey]\n"))
    second = write(tmp_path, "b.yml", native("Greet:\n  examples: [yo, hiya, howdy]\n"))
    result = validate_path(tmp_path)
    assert result.errors == ()
    (warning,) = result.warnings
    assert (warning.source, warning.line, warning.intent) == (second, 3, "Greet")
    assert "differs from intent 'greet'" in warning.message and "a.yml:3" in warning.message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("greet:\n  examples: [hi, hello, hey]\ngreet:\n  examples: [yo, hiya, howdy]\n"
               "bye:\n  examples: [bye, ciao, later]\n"),
    )  # fmt: skip
    problem = only_error(path)
    assert problem.line == 5
    assert "written twice (also on line 3)" in problem.message


def test_fewer_than_two_intents(tmp_path: Path) -> None:
    path = write(tmp_path, "bot.yml", native("greet:\n  examples: [hi, hello, hey]\n"))
    problem = only_error(path)
    assert "found 1 intent ('greet'); at least 2 are needed" in problem.message
    empty = write(tmp_path, "empty.yml", "version: 1\nintents: {}\n")
    problem = only_error(empty)
    assert (problem.line, problem.message) == (
        2,
        "'intents' is empty; add at least two intents with examples",
    )


def test_skipped_rasa_items_and_sections_are_warnings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nlu.yml",
        RASA
        + "- synonym: nyc\n  examples: |\n    - new york\n"
        + "- regex: zip\n  examples: |\n    - \\d{5}\n"
        + "- lookup: city\n  examples: |\n    - paris\n"
        + "rules: []\n",
    )
    write(tmp_path, "stories.yml", 'version: "3.1"\nstories: []\n')
    result = validate_path(tmp_path)
    assert result.errors == ()
    skipped = [(p.source, p.line) for p in result.warnings]
    assert skipped == [
        (path, 13),
        (path, 16),
        (path, 19),
        (path, 22),
        (tmp_path / "stories.yml", None),
    ]
    assert result.data is not None and result.data.counts() == {"book_flight": 3, "greet": 3}


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "version: 1\nintents:\n  greet: {examples: [hi, 7]\n")
    write(
        tmp_path, "b.yml", native("bad name:\n  examples: [x]\nok_one:\n  examples: [y, z, null]\n")
    )
    result = validate_path(tmp_path)
    assert result.data is None
    assert len(result.errors) == 5
    assert [p.source.name for p in result.errors if p.source] == ["a.yml"] + ["b.yml"] * 4


def test_load_training_data_raises_one_user_error_listing_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("greet:\n  examples: [hi, hello, hey, hi]\nbye:\n  examples: [bye]\nx y:\n"),
    )
    with pytest.raises(UserError) as caught:
        load_training_data(path)
    message = str(caught.value)
    assert message.startswith(f"3 errors in training data {path}:")
    assert f"{path}:5: error: intent 'bye': has 1 example" in message
    assert "'x y' is not a valid intent name" in message
    assert "has no examples" in message
    assert "duplicate example 'hi'" in capsys.readouterr().err


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["version", "intents", "nlu", "intent", "examples", "text", "a b", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), _DOCUMENTS.map(yaml.safe_dump)))
def test_validation_never_raises_and_errors_mean_no_data(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "any.yml"
        path.write_text(text, encoding="utf-8")
        result = validate_path(path)
        assert (result.data is None) == bool(result.errors)
        assert all(p.format() for p in result.problems)
        if result.data is not None:
            assert len(result.data.labels) >= 2


# --- the example bot -------------------------------------------------------------------------


def test_example_bot_is_valid_and_realistic() -> None:
    result = validate_path(EXAMPLE_BOT)
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
    training = load_training_data(EXAMPLE_BOT)
    heldout = load_training_data(HELDOUT)
    assert heldout.labels == training.labels
    seen = {duplicate_key(text) for text in training.texts()}
    assert [text for text in heldout.texts() if duplicate_key(text) in seen] == []
    counts = heldout.counts()
    assert all(n >= 4 for n in counts.values())
    assert counts[OUT_OF_SCOPE] >= 15


# --- validate command ------------------------------------------------------------------------


def test_run_validate_command_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_validate_command(EXAMPLE_BOT) == 0
    out = capsys.readouterr().out
    assert "OK (0 errors, 0 warnings)" in out
    assert "18 intents, plus out_of_scope, from 6 files" in out
    assert "examples per intent: min " in out and ", max " in out
    assert "  book_flight " in out


def test_run_validate_command_reports_problems_and_returns_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "bot.yml",
        native("greet:\n  examples: [hi, hello, hey, hey]\nbye:\n  examples: [bye]\n"),
    )
    assert run_validate_command(path) == 2
    out = capsys.readouterr().out
    assert f"{path}:5: error: intent 'bye': has 1 example" in out
    assert f"{path}:4: warning: intent 'greet': duplicate example 'hey'" in out
    assert "1 error, 1 warning; fix the errors above" in out


def test_run_validate_command_missing_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_validate_command(tmp_path / "missing") == 2
    assert "missing: error: not found" in capsys.readouterr().out


def test_warnings_only_still_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "bot.yml", native("a:\n  examples: [x, y, z, z]\nb:\n  examples: [u, v, w]\n")
    )
    assert run_validate_command(path) == 0
    assert "OK (0 errors, 1 warning)" in capsys.readouterr().out


@pytest.mark.skipif(
    not (ROOT / "trainer" / "cli.py").exists(), reason="trainer/cli.py not written yet"
)
def test_intent_train_validate_exits_2_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "bot.yml", native("greet:\n  examples: [hi]\n"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "trainer.cli", "validate", str(path)]
    bad = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert bad.returncode == 2, bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    assert "has 1 example but at least 3" in bad.stdout + bad.stderr
    good = subprocess.run(
        [*command[:-1], str(EXAMPLE_BOT)], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=300,
    )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert "OK" in good.stdout
