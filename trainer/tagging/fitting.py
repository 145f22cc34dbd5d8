"""Training the entity head on every example's tokens (those without entities are all `O`:
the head learns what is not an entity too), and measuring it on held-out examples.

Recipe (docs/research/entities.md): the last layer's token states, a 256-wide hidden layer,
cross-entropy over BIO tags of every sub-token, AdamW with a one-cycle schedule, about
2,400 steps (6 epochs of SNIPS; at most 100 epochs of a small bot), batches of 32 texts.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from intent_server.core.entities.decoding import decode_entities
from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.entities.matching import LexiconMatcher
from intent_server.core.entities.tags import TagSet
from trainer.tagging.head import TokenHead
from trainer.tagging.states import TokenizedText

log = logging.getLogger(__name__)

HIDDEN = 256
BATCH = 32
TARGET_STEPS = 2400
MIN_EPOCHS, MAX_EPOCHS = 6, 100
LEARNING_RATE = 3e-3  # one-cycle peak


@dataclass(frozen=True)
class TokenData:
    """Per text: its tokens, their states [T, dim] and their gold tags [T]."""

    tokens: tuple[TokenizedText, ...]
    states: tuple[np.ndarray, ...]
    tags: tuple[np.ndarray, ...]

    def subset(self, rows: Sequence[int]) -> TokenData:
        return TokenData(
            tuple(self.tokens[i] for i in rows),
            tuple(self.states[i] for i in rows),
            tuple(self.tags[i] for i in rows),
        )


def epochs_for(texts: int) -> int:
    steps_per_epoch = max(1, math.ceil(texts / BATCH))
    return min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))


def train_token_head(data: TokenData, tag_count: int, hidden: int, seed: int) -> TokenHead:
    torch.manual_seed(seed)
    head = TokenHead(data.states[0].shape[1], hidden, tag_count)
    epochs = epochs_for(len(data.states))
    steps = epochs * math.ceil(len(data.states) / BATCH)
    optimiser = torch.optim.AdamW(head.parameters(), lr=LEARNING_RATE / 3, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=LEARNING_RATE, total_steps=steps
    )
    order = list(range(len(data.states)))
    shuffle = random.Random(seed)
    head.train()
    for _ in range(epochs):
        shuffle.shuffle(order)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            states = torch.from_numpy(np.concatenate([data.states[i] for i in rows]))
            tags = torch.from_numpy(np.concatenate([data.tags[i] for i in rows]))
            loss = torch.nn.functional.cross_entropy(head(states), tags)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
    return head.eval()


def tag_probabilities(head: TokenHead, states: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return torch.softmax(head(torch.from_numpy(states)), dim=-1).numpy()


def extract(
    head: TokenHead, tag_set: TagSet, data: TokenData, matcher: LexiconMatcher | None = None
) -> list[list[ExtractedEntity]]:
    """What the server answers for each text (the matcher's rule applied when given)."""
    out = []
    for tokens, states in zip(data.tokens, data.states, strict=True):
        probs = tag_probabilities(head, states)
        found = decode_entities(tokens.text, probs, tokens.offsets, tokens.word_ids, tag_set)
        out.append(matcher.finish(tokens.text, found) if matcher is not None else found)
    return out


def timed_fit(data: TokenData, tag_set: TagSet, hidden: int, seed: int) -> tuple[TokenHead, float]:
    started = time.perf_counter()
    head = train_token_head(data, tag_set.size, hidden, seed)
    return head, time.perf_counter() - started
