"""Constrained Viterbi and the way back to the characters of the original text, with the
real tokenizer of all-MiniLM-L6-v2 (lowercasing, accent-stripping WordPiece)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from intent_server.core.entities.decoding import decode_entities, tag_runs
from intent_server.core.entities.spans import EntitySpan
from intent_server.core.entities.tags import EntityKey, TagSet
from intent_server.core.entities.viterbi import argmax_tags, constrained_viterbi, is_valid_path
from trainer.features.identity import default_encoder_path

CITY = TagSet((EntityKey("city"), EntityKey("date")))


def one_hot(tags: list[int], size: int, sure: float = 0.9) -> np.ndarray:
    probs = np.full((len(tags), size), (1 - sure) / (size - 1), dtype=np.float32)
    probs[np.arange(len(tags)), tags] = sure
    return probs


def test_viterbi_never_starts_a_span_with_inside() -> None:
    # token 0 prefers I-city (not allowed first), token 1 I-city: B-city I-city wins
    probs = np.array([[0.2, 0.3, 0.5, 0, 0], [0.1, 0.1, 0.8, 0, 0]], dtype=np.float32)
    assert argmax_tags(probs).tolist() == [2, 2]
    assert constrained_viterbi(probs).tolist() == [1, 2]


def test_viterbi_never_moves_into_another_keys_inside() -> None:
    probs = one_hot([1, 4], CITY.size)  # B-city then I-date: invalid
    path = constrained_viterbi(probs).tolist()
    assert path[0] == 1 and path[1] != 4
    assert constrained_viterbi(np.zeros((0, 5), dtype=np.float32)).shape == (0,)


def test_runs_read_like_seqeval() -> None:
    assert tag_runs([0, 1, 2, 2, 0, 3, 1, 1], CITY) == [(1, 3, 0), (5, 5, 1), (6, 6, 0), (7, 7, 0)]
    assert tag_runs([2, 2, 0], CITY) == [(0, 1, 0)]  # argmax's I- opening a span


def tokenizer() -> Tokenizer:
    return Tokenizer.from_file(str(Path(default_encoder_path()) / "tokenizer.json"))


def test_offsets_keep_the_original_text_accents_emoji_and_spaces() -> None:
    text = "  Weather in   MÁLAGA 🌞 for TOMORROW  please"
    encoding = tokenizer().encode(text)
    gold = [
        EntitySpan(text.index("MÁLAGA"), text.index("MÁLAGA") + 6, "city", "MÁLAGA"),
        EntitySpan(text.index("TOMORROW"), text.index("TOMORROW") + 8, "date", "TOMORROW"),
    ]
    tags = CITY.encode(encoding.offsets, gold).tolist()
    found = decode_entities(
        text, one_hot(tags, CITY.size), encoding.offsets, encoding.word_ids, CITY
    )
    assert [(e.entity, e.value, e.start, e.end) for e in found] == [
        ("city", "MÁLAGA", gold[0].start, gold[0].end),
        ("date", "TOMORROW", gold[1].start, gold[1].end),
    ]
    assert all(text[e.start : e.end] == e.value for e in found)
    assert all(abs(e.confidence - 0.9) < 1e-6 and e.extractor == "EntityHead" for e in found)


def test_a_span_tagged_on_part_of_a_word_is_widened_to_the_word() -> None:
    text = "fly to Zürichberg"
    encoding = tokenizer().encode(text)
    assert len([w for w in encoding.word_ids if w == 2]) > 1  # the word is several sub-tokens
    tags = [0] * len(encoding.ids)
    tags[encoding.word_ids.index(2)] = 1  # only its first sub-token: B-city
    found = decode_entities(
        text, one_hot(tags, CITY.size), encoding.offsets, encoding.word_ids, CITY
    )
    assert [(e.value, e.start, e.end) for e in found] == [("Zürichberg", 7, 17)]


def test_viterbi_finds_the_best_valid_path_of_all() -> None:
    import itertools

    three = TagSet((EntityKey("city"), EntityKey("date"), EntityKey("time")))
    rng = np.random.default_rng(0)
    for tag_set, length in ((CITY, 4), (CITY, 5), (three, 4)):
        start, moves = tag_set.allowed()
        valid = [
            path
            for path in itertools.product(range(tag_set.size), repeat=length)
            if start[path[0]] and all(moves[a, b] for a, b in itertools.pairwise(path))
        ]
        assert all(is_valid_path(np.array(path)) for path in valid)
        for _ in range(20):
            concentration = np.ones(tag_set.size) * 0.5
            probs = rng.dirichlet(concentration, size=length).astype(np.float32)
            rows = np.arange(length)
            best = max(valid, key=lambda path: float(np.sum(np.log(probs[rows, path]))))
            assert constrained_viterbi(probs).tolist() == list(best)


def test_valid_paths_follow_bio() -> None:
    assert is_valid_path(np.array([1, 2, 2, 0, 3, 4]))
    assert not is_valid_path(np.array([2, 2]))  # I- first
    assert not is_valid_path(np.array([1, 4]))  # B-city then I-date
    assert not is_valid_path(np.array([0, 2]))  # O then I-
