"""Regex and lookup entities as Rasa's RegexEntityExtractor finds them, synonyms as its
EntitySynonymMapper maps them, and the rule that joins them with the head's spans."""

from __future__ import annotations

from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.entities.matching import LexiconMatcher, combine, lookup_pattern
from intent_server.core.entities.spans import EntityLexicon, NamedPattern

LEXICON = EntityLexicon(
    synonyms={"nyc": "New York", "big apple": "New York"},
    regexes=(NamedPattern("zip", r"\d{5}"), NamedPattern("greet", r"hello")),
    lookups={"cuisine": ("dim sum", "sushi", "dim")},
)


def learned(start: int, end: int, text: str, entity: str = "city") -> ExtractedEntity:
    return ExtractedEntity(start, end, entity, text[start:end], 0.8, "EntityHead")


def test_lookup_is_case_insensitive_within_word_boundaries_longest_first() -> None:
    matcher = LexiconMatcher(LEXICON, {"cuisine", "zip"})
    text = "DIM SUM or Sushi, not sushirolls, zip 12345"
    found = [(e.entity, e.value, e.start, e.end) for e in matcher.match(text)]
    assert found == [
        ("zip", "12345", 38, 43),
        ("cuisine", "DIM SUM", 0, 7),
        ("cuisine", "Sushi", 11, 16),
    ]
    assert lookup_pattern(["a.", "abc"]) == r"(\babc\b|\ba\.\b)"


def test_only_patterns_named_after_annotated_entities_are_used() -> None:
    matcher = LexiconMatcher(LEXICON, {"city"})
    assert matcher.match("hello 12345 sushi") == []


def test_matches_win_over_overlapping_learned_spans_and_synonyms_apply_to_all() -> None:
    matcher = LexiconMatcher(LEXICON, {"city", "cuisine"})
    text = "sushi in NYC or the big apple"
    head = [learned(0, 8, text), learned(9, 12, text), learned(20, 29, text)]
    found = matcher.finish(text, head)
    assert [(e.entity, e.value, e.extractor, e.processors) for e in found] == [
        ("cuisine", "sushi", "RegexEntityExtractor", ()),
        ("city", "New York", "EntityHead", ("EntitySynonymMapper",)),
        ("city", "New York", "EntityHead", ("EntitySynonymMapper",)),
    ]
    assert [text[e.start : e.end] for e in found] == ["sushi", "NYC", "big apple"]
    assert combine([], []) == []


def test_rasa_entity_dict() -> None:
    entity = ExtractedEntity(3, 6, "city", "New York", 0.5, "EntityHead", role="to")
    mapped = entity.with_value("NY", "EntitySynonymMapper")
    assert entity.to_rasa() == {
        "entity": "city",
        "start": 3,
        "end": 6,
        "confidence_entity": 0.5,
        "value": "New York",
        "extractor": "EntityHead",
        "role": "to",
    }
    assert mapped.to_rasa()["processors"] == ["EntitySynonymMapper"]
