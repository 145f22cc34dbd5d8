"""The entity head's own training and decoding, on the real tokenizer's tokens with token
states made so that each token's gold tag is learnable: the head learns the tags, spans come
back in characters of the original text (accents and emoji kept), the held-out data's rows
stay aligned, and a bot's annotations add their synonyms to its lexicon."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intent_server.core.entities.spans import EntityLexicon, EntitySpan
from intent_server.core.entities.tags import TagSet
from trainer.data.model import Example, TrainingData
from trainer.features.identity import encoder_identity
from trainer.tagging.fitting import (
    MAX_EPOCHS,
    MIN_EPOCHS,
    TokenData,
    epochs_for,
    extract,
    train_token_head,
)
from trainer.tagging.states import padded_ids, tokenize, tokenizer_of
from trainer.tagging.training import bot_lexicon
from trainer.training.options import TrainOptions

DIM = 16
TEXTS_AND_SPANS = [
    ("fly to Málaga tomorrow", [(7, 13, "city"), (14, 22, "date")]),
    ("weather in Zürich 🌧 today", [(11, 17, "city"), (20, 25, "date")]),
    ("book a table", []),
    ("trains from New York please", [(12, 20, "city")]),
]


def _spans(rows: list[tuple[int, int, str]], text: str) -> tuple[EntitySpan, ...]:
    return tuple(EntitySpan(s, e, name, text[s:e]) for s, e, name in rows)


@pytest.fixture(scope="module")
def learnable() -> tuple[TokenData, TagSet, list[tuple[EntitySpan, ...]]]:
    options = TrainOptions()
    identity = encoder_identity(options.encoder, options.feature_layers, options.encoder_layers)
    texts = [text for text, _ in TEXTS_AND_SPANS]
    gold = [_spans(rows, text) for text, rows in TEXTS_AND_SPANS]
    tag_set = TagSet.of_spans([span for spans in gold for span in spans])
    tokens = tokenize(tokenizer_of(identity), texts)
    tags = [tag_set.encode(tok.offsets, spans) for tok, spans in zip(tokens, gold, strict=True)]
    rng = np.random.default_rng(0)
    # A token's state: its gold tag one-hot, scaled, plus noise: separable, not trivially.
    states = [
        (np.eye(DIM)[t] * 4 + rng.normal(0, 0.3, (len(t), DIM))).astype(np.float32) for t in tags
    ]
    return TokenData(tuple(tokens), tuple(states), tuple(tags)), tag_set, gold


def test_the_head_learns_the_tags_and_spans_come_back_in_characters(
    learnable: tuple[TokenData, TagSet, list[tuple[EntitySpan, ...]]],
) -> None:
    data, tag_set, gold = learnable
    head = train_token_head(data, tag_set.size, hidden=32, seed=0)
    found = extract(head, tag_set, data)
    assert [[(e.start, e.end, e.entity, e.value) for e in row] for row in found] == [
        [(s.start, s.end, s.entity, s.value) for s in row] for row in gold
    ]
    assert all(0.0 < e.confidence <= 1.0 for row in found for e in row)


def test_a_subset_keeps_tokens_states_and_tags_of_the_same_texts(
    learnable: tuple[TokenData, TagSet, list[tuple[EntitySpan, ...]]],
) -> None:
    data, _, _ = learnable
    part = data.subset([3, 1])
    assert [tok.text for tok in part.tokens] == [data.tokens[3].text, data.tokens[1].text]
    assert part.states[0] is data.states[3] and part.tags[1] is data.tags[1]


def test_padded_ids_pad_with_zero_and_mask_only_real_tokens(
    learnable: tuple[TokenData, TagSet, list[tuple[EntitySpan, ...]]],
) -> None:
    data, _, _ = learnable
    ids, mask = padded_ids(data.tokens)
    longest = max(len(tok.ids) for tok in data.tokens)
    assert ids.shape == mask.shape == (len(data.tokens), longest)
    for row, tok in enumerate(data.tokens):
        assert ids[row, : len(tok.ids)].tolist() == list(tok.ids)
        assert mask[row].tolist() == [1] * len(tok.ids) + [0] * (longest - len(tok.ids))
        assert not ids[row, len(tok.ids) :].any()


def test_small_data_gets_more_epochs_within_bounds() -> None:
    assert epochs_for(10) == MAX_EPOCHS
    assert epochs_for(1_000_000) == MIN_EPOCHS
    assert MIN_EPOCHS <= epochs_for(3000) <= MAX_EPOCHS
    assert epochs_for(3000) >= epochs_for(6000)


def test_annotated_values_become_synonyms_without_overriding_declared_ones() -> None:
    text, source = "weather in NYC and in the big apple", Path("nlu.yml")
    examples = (
        Example(text, "weather", source, 1, (EntitySpan(11, 14, "city", "New York"),)),
        Example(text, "weather", source, 2, (EntitySpan(22, 35, "city", "New York City"),)),
        Example("weather in Paris", "weather", source, 3, (EntitySpan(11, 16, "city", "Paris"),)),
    )
    declared = EntityLexicon(synonyms={"the big apple": "Big Apple"})
    lexicon = bot_lexicon(TrainingData(examples, (source,), declared))
    assert lexicon.synonyms == {"the big apple": "Big Apple", "nyc": "New York"}
