"""The encoder traced to ONNX: the trainer's pooling over the transformer, one graph with the
outputs `sentence_embedding`, `features` and `token_states`. Training embeds with this graph
(`onnx_features`) and the exporter ships it, so both run the same computation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from intent_server.core.layout import (
    DEFAULT_OPSET,
    ENCODER_INPUTS,
    FEATURES_OUTPUT,
    SENTENCE_OUTPUT,
    TOKEN_STATES_OUTPUT,
)
from intent_server.core.model_card import EncoderIdentity
from trainer.features.pooling import PooledEncoder

# What the traced graph computes and outputs. Part of the encoder identity the export's shared
# store is keyed by: change it whenever the graph changes (an output added, the pooling
# changed), so no exporter reuses a stored encoder traced by the older code.
GRAPH_FORMAT = "sentence_embedding+features+token_states/2"

# Sample batch for tracing: the second row is padded so the traced graph keeps the mask path.
_SAMPLE_IDS = [[101, 7592, 2088, 2003, 102], [101, 7592, 102, 0, 0]]


def torch_to_onnx(module: nn.Module, args: tuple[Any, ...], path: Path, **kwargs: Any) -> None:
    with warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and about traced Python
        # conditionals in transformers that do not depend on the sequence length.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, **kwargs)


def export_encoder(
    transformer: nn.Module, identity: EncoderIdentity, path: Path, opset: int = DEFAULT_OPSET
) -> None:
    """Write `transformer` (a HF model, eager attention) + the trainer's pooling as ONNX with
    the outputs `sentence_embedding` [B, dim], `features` [B, feature_dim] and
    `token_states` [B, T, dim]."""
    wrapper = PooledEncoder(transformer, identity.feature_layers, identity.token_type_ids).eval()
    ids = torch.tensor(_SAMPLE_IDS, dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    with torch.no_grad():
        torch_to_onnx(
            wrapper,
            (ids, mask),
            path,
            input_names=list(ENCODER_INPUTS),
            output_names=[SENTENCE_OUTPUT, FEATURES_OUTPUT, TOKEN_STATES_OUTPUT],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                SENTENCE_OUTPUT: {0: "batch"},
                FEATURES_OUTPUT: {0: "batch"},
                TOKEN_STATES_OUTPUT: {0: "batch", 1: "sequence"},
            },
            opset_version=opset,
        )
