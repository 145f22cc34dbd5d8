"""`train_entities`: the entity head of a bot whose examples annotate entities (None for a
bot without annotations: no head, no file, nothing to pay at serving time)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from typing import Any

from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.entities.matching import LexiconMatcher
from intent_server.core.entities.spans import EntityLexicon, EntitySpan
from intent_server.core.entities.tags import TagSet
from intent_server.core.model_card import EncoderIdentity
from trainer.data.model import Example, TrainingData
from trainer.entity_metrics import EntityScores, score_entities
from trainer.tagging.fitting import HIDDEN, TokenData, extract, timed_fit
from trainer.tagging.head import TokenHead
from trainer.tagging.states import token_states, tokenize, tokenizer_of

log = logging.getLogger(__name__)

VALIDATE_FROM = 20  # annotated examples needed to hold a fifth out and measure the head
HELD_OUT_SHARE = 0.2


@dataclass(frozen=True)
class EntityTraining:
    head: TokenHead
    info: EntityHeadInfo
    seconds: float
    annotated: int = 0  # examples with at least one entity
    held_out: EntityScores | None = None  # None: fewer than VALIDATE_FROM annotated examples
    held_examples: int = 0  # the annotated examples `held_out` scored


def bot_lexicon(data: TrainingData) -> EntityLexicon:
    """The data's lexicon plus the synonyms its annotations declare (`[NYC](city:New York)`)."""
    synonyms = dict(data.lexicon.synonyms)
    for example in data.examples:
        for span in example.entities:
            text = example.text[span.start : span.end]
            if span.value != text:
                synonyms.setdefault(text.casefold(), span.value)
    return replace(data.lexicon, synonyms=synonyms)


def _token_data(
    examples: list[Example], tag_set: TagSet, model: Any, identity: EncoderIdentity
) -> TokenData:
    tokens = tokenize(tokenizer_of(identity), [example.text for example in examples])
    states = token_states(model, identity, tokens)
    tags = [
        tag_set.encode(tok.offsets, example.entities)
        for tok, example in zip(tokens, examples, strict=True)
    ]
    return TokenData(tuple(tokens), tuple(states), tuple(tags))


def train_entities(
    data: TrainingData, model: Any, identity: EncoderIdentity, seed: int
) -> EntityTraining | None:
    """Train on every example (its annotations, or none); with enough annotated examples,
    first measure a head trained without a held-out fifth of them on that fifth."""
    spans = [span for example in data.examples for span in example.entities]
    if not spans:
        return None
    tag_set = TagSet.of_spans(spans)
    examples = sorted(data.examples, key=lambda e: (e.intent, e.text))
    tokens = _token_data(examples, tag_set, model, identity)
    lexicon = bot_lexicon(data)
    matcher = LexiconMatcher(lexicon, {key.entity for key in tag_set.keys})
    annotated = [i for i, example in enumerate(examples) if example.entities]
    val_f1, val_spans, val_examples, held_out = None, 0, 0, None
    if len(annotated) >= VALIDATE_FROM:
        held = set(random.Random(seed).sample(annotated, round(len(annotated) * HELD_OUT_SHARE)))
        kept = [i for i in range(len(examples)) if i not in held]
        head, _ = timed_fit(tokens.subset(kept), tag_set, HIDDEN, seed)
        rows = sorted(held)
        found = extract(head, tag_set, tokens.subset(rows), matcher)
        spans_found = [[EntitySpan(e.start, e.end, e.entity, e.value) for e in f] for f in found]
        held_out = score_entities([examples[i] for i in rows], spans_found)
        val_f1, val_spans, val_examples = held_out.f1, held_out.support, len(rows)
        log.info("entities: held-out F1 %.3f on %d spans", val_f1, val_spans)
    head, seconds = timed_fit(tokens, tag_set, HIDDEN, seed)
    info = EntityHeadInfo(
        keys=tag_set.keys,
        token_dim=identity.dim,
        hidden=HIDDEN,
        lexicon=lexicon,
        val_f1=val_f1,
        val_spans=val_spans,
    )
    log.info(
        "entities: %d tags over %d annotated spans, head trained in %.1f s",
        tag_set.size,
        len(spans),
        seconds,
    )
    return EntityTraining(head, info, seconds, len(annotated), held_out, val_examples)


def joint_entities(
    data: TrainingData,
    head: TokenHead,
    identity: EncoderIdentity,
    val_f1: float | None,
    val_spans: int,
) -> EntityTraining:
    """The entity head trained together with the kept tuned encoder (`--fine-tune`), with
    the slot F1 the fine-tuning comparison measured on examples it did not train on."""
    spans = [span for example in data.examples for span in example.entities]
    tag_set = TagSet.of_spans(spans)
    info = EntityHeadInfo(
        keys=tag_set.keys,
        token_dim=identity.dim,
        hidden=HIDDEN,
        lexicon=bot_lexicon(data),
        val_f1=val_f1,
        val_spans=val_spans if val_f1 is not None else 0,
    )
    log.info("entities: %d tags, head trained with the encoder", tag_set.size)
    annotated = sum(1 for example in data.examples if example.entities)
    return EntityTraining(head, info, 0.0, annotated)
