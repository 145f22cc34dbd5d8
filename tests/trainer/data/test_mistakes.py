"""Every mistake in training data is reported at once, naming the file, line and intent,
with how to fix it; validation never raises."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trainer.data.samples import RASA, native, only_error, write
from trainer.data import (
    load_training_data,
    validate_path,
)
from trainer.data.text import suggest_intent_name
from trainer.errors import UserError


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


def test_rasa_lexicon_items_are_read_and_other_sections_skipped(tmp_path: Path) -> None:
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
    assert skipped == [(path, 22), (tmp_path / "stories.yml", None)]
    assert result.data is not None and result.data.counts() == {"book_flight": 3, "greet": 3}
    lexicon = result.data.lexicon
    assert lexicon.synonyms == {"new york": "nyc"}
    assert [(p.name, p.pattern) for p in lexicon.regexes] == [("zip", "\\d{5}")]
    assert lexicon.lookups == {"city": ("paris",)}


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
    tmp_path: Path, caplog: pytest.LogCaptureFixture
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
    assert "duplicate example 'hi'" in caplog.text  # warnings are logged, not raised


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
