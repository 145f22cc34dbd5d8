"""Entity markup is kept: spans index the cleaned text (whitespace collapsed, accents, emoji
and case kept), values, roles and groups as Rasa 3 reads them, in both file formats."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intent_server.core.entities.spans import EntitySpan
from tests.trainer.data.samples import RASA, native, write
from trainer.data import load_training_data, write_native_yaml
from trainer.data.markup import markup_text, parse_markup

LEXICON = (
    "- synonym: New York\n  examples: |\n    - NYC\n"
    "- regex: zipcode\n  examples: |\n    - \\d{5}\n"
    "- lookup: city\n  examples: |\n    - Rome\n"
)


def spans(raw: str) -> list[tuple[str, str, str, str | None, str | None]]:
    """(covered text, entity, value, role, group) of each span, read back through offsets."""
    markup = parse_markup(raw)
    assert markup.problems == ()
    return [
        (markup.text[e.start : e.end], e.entity, e.value, e.role, e.group) for e in markup.entities
    ]


@pytest.mark.parametrize(
    ("raw", "text", "expected"),
    [
        ("fly to [Paris](city) now", "fly to Paris now", [("Paris", "city", "Paris", None, None)]),
        ("fly to [NYC](city:New York)", "fly to NYC", [("NYC", "city", "New York", None, None)]),
        (
            '[LA]{"entity": "city", "role": "to", "value": "Los Angeles", "group": "1"} x',
            "LA x",
            [("LA", "city", "Los Angeles", "to", "1")],
        ),
        (
            '[New York][{"entity": "city"}, {"entity": "state", "role": "home"}] please',
            "New York please",
            [
                ("New York", "city", "New York", None, None),
                ("New York", "state", "New York", "home", None),
            ],
        ),
        # Whitespace collapsed around and inside the entity; the span trimmed to its words.
        (
            "  book   a table at [ Chez   Marie ](restaurant)\tfor [8](time)  ",
            "book a table at Chez Marie for 8",
            [
                ("Chez Marie", "restaurant", "Chez Marie", None, None),
                ("8", "time", "8", None, None),
            ],
        ),
        # Accents (composed and decomposed), emoji and case are kept; offsets count characters.
        (
            "🎉🎉 vol pour [São Paulo](city) et [Zürich](city) 👍 [ÉTÉ](season)",
            "🎉🎉 vol pour São Paulo et Zürich 👍 ÉTÉ",
            [
                ("São Paulo", "city", "São Paulo", None, None),
                ("Zürich", "city", "Zürich", None, None),
                ("ÉTÉ", "season", "ÉTÉ", None, None),
            ],
        ),
        ("a [bracket] that is not markup", "a [bracket] that is not markup", []),
        ("[x] then [y](e)", "[x] then y", [("y", "e", "y", None, None)]),
    ],
)
def test_markup_becomes_spans_into_the_cleaned_text(
    raw: str, text: str, expected: list[tuple[str, str, str, str | None, str | None]]
) -> None:
    assert parse_markup(raw).text == text
    assert spans(raw) == expected


def test_a_value_that_differs_from_the_text_is_a_synonym() -> None:
    assert parse_markup("to [NYC](city:New York) on [monday](date)").synonyms == (
        ("NYC", "New York"),
    )


_WORD = st.text(st.sampled_from("abcéü🎉 \t"), min_size=1, max_size=6).filter(str.strip)


@given(
    st.lists(st.tuples(_WORD, st.booleans()), min_size=1, max_size=6), st.text(" \t\n", max_size=3)
)
def test_offsets_point_at_the_annotated_words(parts: list[tuple[str, bool]], gap: str) -> None:
    raw = gap.join(
        f" [{word}](e{i}) " if marked else f" {word} " for i, (word, marked) in enumerate(parts)
    )
    markup = parse_markup(raw)
    assert markup.problems == ()
    marked = [" ".join(word.split()) for word, is_marked in parts if is_marked]
    assert [markup.text[e.start : e.end] for e in markup.entities] == marked
    assert all(e.value == markup.text[e.start : e.end] for e in markup.entities)


def test_native_and_rasa_files_keep_entities_with_their_lines(tmp_path: Path) -> None:
    data = load_training_data(write(tmp_path, "nlu.yml", RASA))
    found = {e.text: e.entities for e in data.examples if e.entities}
    assert found == {
        "book a flight to Paris": (EntitySpan(17, 22, "city", "Paris"),),
        "I need a plane ticket for friday": (EntitySpan(26, 32, "date", "friday"),),
        "fly me to New York": (EntitySpan(10, 18, "city", "nyc"),),
    }
    assert data.lexicon.synonyms == {"new york": "nyc"}
    path = write(
        tmp_path,
        "bot.yml",
        native("""\
        a:
          examples:
            - text: go to [Rome](city)
            - "[Ann]{\\"entity\\": \\"name\\", \\"role\\": \\"from\\"} says hi"
            - plain one
        b:
          examples: [x one, x two, x three]
        """),
    )
    examples = load_training_data(path).examples
    assert [(e.line, e.entities) for e in examples[:2]] == [
        (5, (EntitySpan(6, 10, "city", "Rome"),)),
        (6, (EntitySpan(0, 3, "name", "Ann", role="from"),)),
    ]


def test_written_markup_reads_back_the_same_spans() -> None:
    text = "fly from NYC to São Paulo on friday (the 13th)"
    entities = (
        EntitySpan(9, 12, "city", "New York", role="from"),
        EntitySpan(16, 25, "city", "São Paulo"),
        EntitySpan(16, 25, "country_city", "SP"),
        EntitySpan(29, 35, "date", "Friday"),
    )
    written = markup_text(text, entities)
    assert written == (
        'fly from [NYC]{"entity": "city", "value": "New York", "role": "from"} to '
        '[São Paulo][{"entity": "city"}, {"entity": "country_city", "value": "SP"}] on '
        "[friday](date:Friday) (the 13th)"
    )
    back = parse_markup(written)
    assert (back.text, set(back.entities)) == (text, set(entities))
    with pytest.raises(ValueError, match="overlap"):
        markup_text(text, (EntitySpan(9, 12, "a", "NYC"), EntitySpan(10, 14, "b", "YC t")))
    with pytest.raises(ValueError, match="cannot be written"):
        markup_text("a [b](c)", (EntitySpan(0, 1, "x", "a"),))  # the text itself looks marked


def test_the_native_writer_round_trips_entities_and_lexicon(tmp_path: Path) -> None:
    data = load_training_data(write(tmp_path, "in/nlu.yml", RASA + LEXICON))
    out = tmp_path / "out" / "bot.yml"
    write_native_yaml(data, out)
    back = load_training_data(out)
    assert [(e.text, e.intent, e.entities) for e in back.examples] == [
        (e.text, e.intent, e.entities) for e in data.examples
    ]
    assert back.lexicon == data.lexicon and not back.lexicon.empty
