"""Every token's state from the encoder, with the tokenizer's offsets and word ids.

The texts are tokenized by the encoder folder's `tokenizer.json` (the file the export ships,
truncated at the same `max_seq_length`), so the offsets the trainer learns tags on are the
server's. The states are the `PooledEncoder`'s third output: what `encoder.onnx`'s
`token_states` computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from intent_server.core.model_card import EncoderIdentity
from trainer.features.pooling import PooledEncoder

BATCH = 32


@dataclass(frozen=True)
class TokenizedText:
    text: str
    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]  # characters of `text`; (0, 0) for special tokens
    word_ids: tuple[int | None, ...]


def tokenizer_of(identity: EncoderIdentity) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(Path(identity.path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=identity.max_seq_length)
    return tokenizer


def tokenize(tokenizer: Tokenizer, texts: Sequence[str]) -> list[TokenizedText]:
    return [
        TokenizedText(text, tuple(enc.ids), tuple(enc.offsets), tuple(enc.word_ids))
        for text, enc in zip(texts, tokenizer.encode_batch(list(texts)), strict=True)
    ]


def padded_ids(tokens: Sequence[TokenizedText]) -> tuple[torch.Tensor, torch.Tensor]:
    """The texts' token ids padded with 0 to the longest, and the attention mask, [B, T]."""
    longest = max(len(tok.ids) for tok in tokens)
    ids = torch.zeros((len(tokens), longest), dtype=torch.int64)
    mask = torch.zeros((len(tokens), longest), dtype=torch.int64)
    for row, tok in enumerate(tokens):
        ids[row, : len(tok.ids)] = torch.tensor(tok.ids)
        mask[row, : len(tok.ids)] = 1
    return ids, mask


def token_states(
    model: Any, identity: EncoderIdentity, tokens: Sequence[TokenizedText]
) -> list[np.ndarray]:
    """[T_i, dim] float32 per text: the last layer's state of each of its tokens (`model`:
    the sentence-transformers model of `identity`, frozen or tuned)."""
    transformer = getattr(model[0], "auto_model")  # noqa: B009 - untyped ST attribute
    device = next(transformer.parameters()).device
    pooled = PooledEncoder(transformer, identity.feature_layers, identity.token_type_ids).eval()
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i].ids))
    out: list[np.ndarray] = [np.zeros((0, identity.dim), dtype=np.float32)] * len(tokens)
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            ids, mask = padded_ids([tokens[i] for i in rows])
            states = pooled(ids.to(device), mask.to(device))[2].float().cpu().numpy()
            for r, i in enumerate(rows):
                out[i] = states[r, : len(tokens[i].ids)].copy()
    return out
