"""Synonyms, regexes and lookup tables (Rasa items, the native sections, lookup files) become
the data's `EntityLexicon`; their mistakes are reported with file, line and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from intent_server.core.entities.spans import NamedPattern
from tests.trainer.data.samples import NATIVE, RASA, only_error, write
from trainer.data import load_training_data, validate_path
from trainer.data.lexicon import pattern_problem
from trainer.data.summary import summary


def test_rasa_items_and_a_lookup_file(tmp_path: Path) -> None:
    write(tmp_path, "lookups/cities.txt", "Paris\n\n  Rome  \nparis\n")
    write(
        tmp_path,
        "nlu.yml",
        RASA
        + "- synonym: New York\n  examples: |\n    - NYC\n    - the big apple\n"
        + "- regex: zipcode\n  examples: |\n    - \\b\\d{5}\\b\n"
        + "- lookup: city\n  examples: lookups/cities.txt\n"
        + "- lookup: city\n  examples: |\n    - Oslo\n",
    )
    lexicon = load_training_data(tmp_path).lexicon
    assert lexicon.synonyms == {"nyc": "New York", "the big apple": "New York", "new york": "nyc"}
    assert lexicon.regexes == (NamedPattern("zipcode", r"\b\d{5}\b"),)
    assert lexicon.lookups == {"city": ("Paris", "Rome", "Oslo")}  # case-insensitively once


def test_native_sections(tmp_path: Path) -> None:
    write(tmp_path, "countries.txt", "France\nItaly\n")
    write(
        tmp_path,
        "bot.yml",
        NATIVE
        + "synonyms:\n  New York: [NYC, big apple]\n  Paris: paname\n"
        + "regexes:\n  zipcode: ['\\b\\d{5}\\b']\n"
        + "lookups:\n  city: [Paris, Rome]\n  country: countries.txt\n",
    )
    lexicon = load_training_data(tmp_path).lexicon
    assert lexicon.synonyms == {"nyc": "New York", "big apple": "New York", "paname": "Paris"}
    assert lexicon.regexes == (NamedPattern("zipcode", r"\b\d{5}\b"),)
    assert lexicon.lookups == {"city": ("Paris", "Rome"), "country": ("France", "Italy")}


def test_a_file_of_lexicon_sections_only_beside_the_intents(tmp_path: Path) -> None:
    write(tmp_path, "bot.yml", NATIVE)
    write(tmp_path, "lexicon.yml", "version: 1\nlookups:\n  city: [Paris]\n")
    result = validate_path(tmp_path)
    assert result.problems == ()
    assert result.data is not None and result.data.lexicon.lookups == {"city": ("Paris",)}


@pytest.mark.parametrize(
    ("item", "line", "message"),
    [
        (
            "- regex: zipcode\n  examples: |\n    - \\d{5\n    - [0-9\n",
            16,
            "'regex: zipcode': regex '[0-9' does not compile: unterminated character set at "
            "position 0; fix the pattern",
        ),
        (
            "- regex: zipcode\n  examples: |\n    - \\d*\n",
            15,
            "'regex: zipcode': regex '\\d*' can match an empty string, which is no entity; make "
            "it match at least one character (e.g. '+' instead of '*')",
        ),
        (
            "- lookup: city\n  examples: cities.txt\n",
            14,
            "lookup file 'cities.txt' of 'lookup: city' not found (looked for {folder}/"
            "cities.txt); paths are relative to this file's folder; or list the values "
            "('- value' lines)",
        ),
        (
            "- lookup: home city\n  examples: |\n    - Paris\n",
            13,
            "'home city' is not a valid entity name (letters, digits and '_', not starting with "
            "a digit); rename it, e.g. to 'home_city'",
        ),
        (
            "- synonym: 7\n  examples: |\n    - seven\n",
            13,
            "the name of a synonym must be text, but it is a number (7); quote it",
        ),
        (
            "- regex: zipcode\n  examples: [x]\n",
            14,
            "'examples' of 'regex: zipcode' must be a '|' block of '- ' lines, but it is a list",
        ),
    ],
)
def test_rasa_lexicon_mistakes(tmp_path: Path, item: str, line: int, message: str) -> None:
    path = write(tmp_path, "nlu.yml", RASA + item)
    problem = only_error(path)
    assert (problem.source, problem.line, problem.intent) == (path, line, None)
    assert problem.message == message.format(folder=tmp_path)


@pytest.mark.parametrize(
    ("section", "line", "message"),
    [
        (
            "regexes:\n  zip: ['(\\d']\n",
            14,
            "'regex: zip': regex '(\\d' does not compile: missing ), unterminated subpattern at "
            "position 0; fix the pattern",
        ),
        (
            "regexes:\n  zip: ['\\d?']\n",
            14,
            "'regex: zip': regex '\\d?' can match an empty string, which is no entity; make it "
            "match at least one character (e.g. '+' instead of '*')",
        ),
        (
            "lookups:\n  city: data/cities.txt\n",
            14,
            "lookup file 'data/cities.txt' of 'lookup: city' not found (looked for {folder}/"
            "data/cities.txt); paths are relative to this file's folder; or list the values "
            "('- value' lines)",
        ),
        (
            "lookups:\n  2city: [Paris]\n",
            14,
            "'2city' is not a valid entity name (letters, digits and '_', not starting with a "
            "digit); rename it, e.g. to '_2city'",
        ),
        (
            "lookups:\n  city: [Paris, 7]\n",
            14,
            "each item of 'lookups: city' must be text, but it is a number (7); put it in "
            'quotes ("...")',
        ),
        (
            "synonyms: [NYC]\n",
            13,
            "'synonyms' must map a canonical value to a list, but it is a list",
        ),
    ],
)
def test_native_lexicon_mistakes(tmp_path: Path, section: str, line: int, message: str) -> None:
    path = write(tmp_path, "bot.yml", NATIVE + section)
    problem = only_error(path)
    assert (problem.source, problem.line) == (path, line)
    assert problem.message == message.format(folder=tmp_path)


def test_an_unreadable_lookup_file_and_an_empty_one(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    write(tmp_path, "empty.txt", "\n \n")
    path = write(tmp_path, "bot.yml", NATIVE + "lookups:\n  a: latin1.txt\n  b: empty.txt\n")
    result = validate_path(path)
    assert [(p.line, p.message) for p in result.errors] == [
        (14, f"cannot read lookup file {tmp_path}/latin1.txt of 'lookup: a': invalid "
             "continuation byte"),
    ]  # fmt: skip
    assert [(p.line, p.message) for p in result.warnings] == [
        (15, f"lookup file {tmp_path}/empty.txt of 'lookup: b' is empty; skipped"),
    ]


def test_a_variant_of_two_canonical_values_is_a_warning_and_the_first_wins(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "nlu.yml",
        RASA + "- synonym: New York\n  examples: |\n    - NYC\n"
        "- synonym: Nice City\n  examples: |\n    - nyc\n",
    )
    result = validate_path(path)
    assert [(p.line, p.message) for p in result.problems] == [
        (
            18,
            f"'nyc' is a synonym of 'New York' ({path}:15) and here of 'Nice City'; the first "
            "is kept: delete one",
        )
    ]
    assert result.data is not None and result.data.lexicon.synonyms["nyc"] == "New York"


def test_an_item_without_examples_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "nlu.yml", RASA + "- lookup: city\n")
    result = validate_path(path)
    assert [(p.severity, p.line, p.message) for p in result.problems] == [
        ("warning", 13, "'lookup: city' has no examples; skipped (add '- ' lines)")
    ]


@pytest.mark.parametrize(
    ("pattern", "fine"),
    [
        (r"\d{5}", True),
        (r"[A-Z]{2}\d+", True),
        (r"\d*", False),
        (r"(a|)", False),
        (r"\b", False),
        (r"(?=a)", False),
        (r"a(", False),
    ],
)
def test_pattern_problem(pattern: str, fine: bool) -> None:
    assert (pattern_problem(pattern) is None) == fine


def test_the_summary_counts_entities_and_the_lexicon(tmp_path: Path) -> None:
    write(
        tmp_path,
        "nlu.yml",
        RASA + "- regex: zipcode\n  examples: |\n    - \\d{5}\n"
        "- lookup: city\n  examples: |\n    - Rome\n    - Oslo\n",
    )
    lines = summary(load_training_data(tmp_path))
    assert lines[-4:] == [
        "entities: 3 spans of 2 types in 3 examples",
        "  city  2",
        "  date  1",
        "lexicon: 1 synonym, 1 regex, 1 lookup table (2 values)",
    ]
    assert not any(line.startswith("entities") for line in summary(load_training_data(
        write(tmp_path, "plain/bot.yml", NATIVE))))  # fmt: skip
