"""Entity scores count as seqeval does: checked against a reference written here from
seqeval's definition (its IOB2 chunking, exact span and type, micro average), on SNIPS-like
BIO sequences; wrong spans name their kind and the example's file:line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intent_server.core.entities.spans import EntitySpan
from intent_server.core.errors import ArtifactError
from intent_server.core.fields import Fields
from tests.fixtures.seqeval import seqeval_chunks, seqeval_micro
from trainer.entity_metrics import (
    MISSED,
    SPURIOUS,
    WRONG_BOUNDARY,
    WRONG_TYPE,
    EntityScores,
    entity_table_markdown,
    micro_f1,
    score_entities,
    wrong_spans_markdown,
)


@dataclass(frozen=True)
class Sentence:
    text: str
    entities: tuple[EntitySpan, ...]
    source: Path | None = None
    line: int | None = None


def to_spans(tokens: list[str], tags: list[str]) -> tuple[str, tuple[EntitySpan, ...]]:
    """Character spans into the space-joined tokens, one per seqeval chunk."""
    starts, position = [], 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    text = " ".join(tokens)
    spans = tuple(
        EntitySpan(starts[first], starts[last] + len(tokens[last]), type_, "")
        for type_, first, last in seqeval_chunks(tags)
    )
    return text, spans


TYPES = ("artist", "playlist", "timeRange", "party_size_number")
TAG = st.sampled_from(["O", "O", "O", *(f"{p}-{t}" for p in "BI" for t in TYPES)])
WORD = st.sampled_from(["add", "my", "playlist", "café", "🎵", "at", "7pm", "the", "beatles"])


@st.composite
def bio_batch(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    lengths = draw(st.lists(st.integers(1, 9), min_size=1, max_size=8))
    tokens = [draw(st.lists(WORD, min_size=n, max_size=n)) for n in lengths]
    truth = [draw(st.lists(TAG, min_size=n, max_size=n)) for n in lengths]
    predicted = [
        [draw(st.sampled_from([tag, tag, tag, "O", "B-artist", "I-playlist"])) for tag in tags]
        for tags in truth
    ]
    return tokens, truth, predicted


@settings(max_examples=300, deadline=None)
@given(bio_batch())
def test_micro_and_per_type_scores_equal_seqeval(
    batch: tuple[list[list[str]], list[list[str]], list[list[str]]],
) -> None:
    tokens, truth, predicted = batch
    examples, answers = [], []
    for words, true_tags, pred_tags in zip(tokens, truth, predicted, strict=True):
        text, spans = to_spans(words, true_tags)
        examples.append(Sentence(text, spans))
        answers.append(to_spans(words, pred_tags)[1])
    scores = score_entities(examples, answers)
    assert (scores.precision, scores.recall, scores.f1) == pytest.approx(
        seqeval_micro(truth, predicted)
    )
    for row in scores.types:
        reference = seqeval_micro(truth, predicted, only=row.entity)
        assert (row.precision, row.recall, row.f1) == pytest.approx(reference)
    assert micro_f1(answers, [e.entities for e in examples]) == pytest.approx(scores.f1)


def test_a_worked_example_and_the_wrong_spans() -> None:
    # seqeval: true = {(artist, 1, 2), (playlist, 4, 4)}, predicted = {(artist, 1, 1),
    # (playlist, 4, 4)}: precision 1/2, recall 1/2.
    tags = ["O", "B-artist", "I-artist", "O", "B-playlist"]
    guess = ["O", "B-artist", "O", "O", "B-playlist"]
    assert seqeval_micro([tags], [guess]) == (0.5, 0.5, 0.5)
    text = "add the beatles to chill"
    source = Path("snips/valid/seq.in")
    truth = Sentence(
        text, (EntitySpan(4, 15, "artist", "the beatles"), EntitySpan(19, 24, "playlist", "chill")),
        source, 7,
    )  # fmt: skip
    other = Sentence("play jazz now", (EntitySpan(5, 9, "genre", "jazz"),), source, 8)
    predicted = [
        [EntitySpan(4, 7, "artist", "the"), EntitySpan(19, 24, "playlist", "chill")],
        [EntitySpan(5, 9, "artist", "jazz"), EntitySpan(10, 13, "time", "now")],
    ]
    scores = score_entities([truth, other], predicted)
    assert (scores.support, scores.predicted, scores.correct) == (3, 4, 1)
    assert (scores.precision, scores.recall) == (0.25, 1 / 3)
    assert [(w.kind, w.where, str(w.truth), str(w.predicted)) for w in scores.wrong] == [
        (WRONG_BOUNDARY, "snips/valid/seq.in:7", "[the beatles](artist)", "[the](artist)"),
        (WRONG_TYPE, "snips/valid/seq.in:8", "[jazz](genre)", "[jazz](artist)"),
        (SPURIOUS, "snips/valid/seq.in:8", "None", "[now](time)"),
    ]
    missed = score_entities([other], [[]])
    assert [(w.kind, w.line, w.predicted) for w in missed.wrong] == [(MISSED, 8, None)]
    assert (missed.precision, missed.recall, missed.f1) == (0.0, 0.0, 0.0)
    by_type = {row.entity: (row.support, row.predicted, row.correct) for row in scores.types}
    assert by_type == {
        "artist": (1, 2, 0), "genre": (1, 0, 0), "playlist": (1, 1, 1), "time": (0, 1, 0)
    }  # fmt: skip
    fields = Fields(json.loads(json.dumps(scores.to_json())), "r.json", ArtifactError)
    back = EntityScores.from_json(fields)
    assert back == scores


def test_markdown_tables() -> None:
    truth = Sentence("play jazz", (EntitySpan(5, 9, "genre", "jazz"),), Path("a.yml"), 3)
    scores = score_entities([truth, truth], [[EntitySpan(5, 9, "genre", "jazz")], []])
    assert entity_table_markdown(scores) == [
        "| entity | precision | recall | F1 | true spans | predicted spans |",
        "|:---|---:|---:|---:|---:|---:|",
        "| genre | 1.000 | 0.500 | 0.667 | 2 | 1 |",
        "| **micro average** | 1.000 | 0.500 | 0.667 | 2 | 1 |",
    ]
    assert wrong_spans_markdown(scores) == [
        "| where | what | example | truth | predicted |",
        "|---|---|---|---|---|",
        "| a.yml:3 | missed | play jazz | [jazz](genre) |  |",
    ]
    assert wrong_spans_markdown(score_entities([truth] * 3, [[]] * 3), limit=1)[-1] == (
        "... and 2 more in report.json"
    )


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="1 examples but 0 predictions"):
        score_entities([Sentence("x", ())], [])
