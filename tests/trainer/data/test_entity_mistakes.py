"""Every entity mistake is reported with its file, line and a fix, nothing is loaded while an
error remains, and an annotation left out in another example of an intent is a warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.data.samples import native, only_error, write
from trainer.data import validate_path

GOOD = "    - hello there\n    - good morning\n    - hi\n"


def rasa_with(example: str) -> str:
    """A Rasa file whose `book` intent has `example` on line 13 (`[Paris](city)` on 12)."""
    return (
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n' + GOOD
        + "- intent: book\n  examples: |\n    - book it\n    - book now\n    - book [Paris](city)\n"
        + f"    - {example}\n"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (
            "fly to [Paris(city) today",
            "unbalanced brackets: '[' in '[Paris(city) today' is never closed with ']'; write "
            "entities as [text](entity), or delete the '['",
        ),
        (
            "fly to Paris](city)",
            "unbalanced brackets: ']' in 'fly to Paris]' closes no '['; write entities as "
            "[text](entity), or delete the ']'",
        ),
        (
            "fly to [Paris](city today",
            "unbalanced brackets: '(' in '[Paris](city today' is never closed with ')'; write "
            "[text](entity) or [text](entity:value)",
        ),
        (
            'fly to [Paris]{"entity": "city" today',
            "unbalanced brackets: '{' in '[Paris]{\"entity\": \"city\" today' is never closed "
            'with \'}\'; write [text]{"entity": "name"}',
        ),
        (
            "fly to [[Paris](city)](x)",
            "unbalanced brackets: '[' in '[[Paris]' opens again before it is closed; entities "
            "cannot be nested: annotate one span as [text](entity)",
        ),
        (
            "fly to [Paris]{'entity': 'city'}",
            "bad JSON in '[Paris]{'entity': 'city'}': Expecting property name enclosed in "
            "double quotes (character 2 of the {...}); write it as "
            '[text]{"entity": "name", "value": "..."} with double quotes',
        ),
        (
            'fly to [Paris]{"value": "paris"}',
            'no "entity" in \'[Paris]{"value": "paris"}\'; every {...} needs one: '
            '[text]{"entity": "name", ...}',
        ),
        (
            'fly to [Paris]{"entity": "city", "rol": "to"}',
            'unknown key "rol" in \'[Paris]{"entity": "city", "rol": "to"}\'; allowed: '
            '"entity", "value", "role", "group"',
        ),
        (
            'fly to [Paris]{"entity": "city", "value": 7}',
            '"value" in \'[Paris]{"entity": "city", "value": 7}\' must be a non-empty string in '
            "double quotes",
        ),
        (
            "fly to [Paris](home city)",
            "'home city' in '[Paris](home city)' is not a valid entity name (letters, digits and "
            "'_', not starting with a digit); rename it, e.g. to 'home_city'",
        ),
        (
            'fly to [Paris]{"entity": "2city"}',
            "'2city' in '[Paris]{\"entity\": \"2city\"}' is not a valid entity name (letters, "
            "digits and '_', not starting with a digit); rename it, e.g. to '_2city'",
        ),
        ("fly to [Paris]()", "no entity name in '[Paris]()'; write [text](entity)"),
        (
            "fly to [Paris](city:)",
            "empty value after ':' in '[Paris](city:)'; write [text](city:value), or [text](city)",
        ),
        (
            "fly to [ ](city)",
            "empty entity text in '[ ](city)'; put the words the entity covers between the "
            "brackets: [Paris](city)",
        ),
    ],
)
def test_markup_mistakes_name_file_line_and_fix(tmp_path: Path, example: str, message: str) -> None:
    path = write(tmp_path, "nlu.yml", rasa_with(example))
    problem = only_error(path)
    assert (problem.source, problem.line, problem.intent) == (path, 13, "book")
    assert problem.message == message
    assert problem.format() == f"{path}:13: error: intent 'book': {message}"


def test_native_markup_mistake_in_a_text_mapping(tmp_path: Path) -> None:
    body = "a:\n  examples: [x one, x two, x three]\nb:\n  examples: [y one, y two, y three]\n"
    path = write(
        tmp_path,
        "bot.yml",
        native(
            body + "c:\n  examples:\n    - z one\n    - z two\n" + '    - text: "to [Rome]{bad}"\n'
        ),
    )
    problem = only_error(path, min_examples=2)
    assert (problem.line, problem.intent) == (11, "c")
    assert problem.message.startswith("bad JSON in '[Rome]{bad}': Expecting property name")


def test_an_annotation_missing_in_another_example_is_a_warning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "nlu.yml",
        rasa_with("i want to go to [paris](city) in [May](month)")
        + "    - may i fly to Paris\n    - book for 8 at [8](time)\n"
        + "    - stay [in](spatial) town\n    - check in now\n",
    )
    result = validate_path(path)
    assert result.errors == ()
    assert [(p.line, p.intent, p.message) for p in result.warnings] == [
        (
            14,
            "book",
            "'may' is plain text here but entity 'month' in another example of this intent "
            f"({path}:13); annotate it here too ([may](month)) or, if it is not that entity "
            "there, remove the annotation",
        ),
        (
            14,
            "book",
            "'Paris' is plain text here but entity 'city' in another example of this intent "
            f"({path}:12); annotate it here too ([Paris](city)) or, if it is not that entity "
            "there, remove the annotation",
        ),
    ]  # never numbers ("for 8" beside "[8](time)"), nor words plain more often than not ("in")
    assert result.data is not None  # warnings do not stop training


def test_other_intents_are_not_compared(tmp_path: Path) -> None:
    text = rasa_with("book it today") + "- intent: trivia\n  examples: |\n    - paris facts\n"
    text += "    - rome facts\n    - oslo facts\n"
    result = validate_path(write(tmp_path, "nlu.yml", text))
    assert result.problems == ()
