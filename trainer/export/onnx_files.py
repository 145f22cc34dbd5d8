"""Turn the sentence encoder and the trained head into ONNX files (plus INT8 and tokenizer)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from intent_server.core.layout import (
    ENCODER_INPUTS,
    FAMILIARITY_OUTPUT,
    FEATURES_OUTPUT,
    HEAD_INPUT,
    HEAD_OUTPUT,
    SENTENCE_OUTPUT,
)
from intent_server.core.model_card import EncoderIdentity
from trainer.features.pooling import PooledEncoder
from trainer.training.head import ServedHead

DEFAULT_OPSET = 17
# Sample batch for tracing: the second row is padded so the traced graph keeps the mask path.
_SAMPLE_IDS = [[101, 7592, 2088, 2003, 102], [101, 7592, 102, 0, 0]]


def _export(module: nn.Module, args: tuple[Any, ...], path: Path, **kwargs: Any) -> None:
    with warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and about traced Python
        # conditionals in transformers that do not depend on the sequence length.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, **kwargs)


def export_encoder(
    transformer: nn.Module, identity: EncoderIdentity, path: Path, opset: int = DEFAULT_OPSET
) -> None:
    """Write `transformer` (a HF model, eager attention) + the trainer's pooling as ONNX with
    the outputs `sentence_embedding` [B, dim] and `features` [B, feature_dim]."""
    wrapper = PooledEncoder(transformer, identity.feature_layers, identity.token_type_ids).eval()
    ids = torch.tensor(_SAMPLE_IDS, dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    with torch.no_grad():
        _export(
            wrapper,
            (ids, mask),
            path,
            input_names=list(ENCODER_INPUTS),
            output_names=[SENTENCE_OUTPUT, FEATURES_OUTPUT],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                SENTENCE_OUTPUT: {0: "batch"},
                FEATURES_OUTPUT: {0: "batch"},
            },
            opset_version=opset,
        )


def export_head(head: nn.Module, bank: np.ndarray, path: Path, opset: int = DEFAULT_OPSET) -> None:
    """Write the trained head (eval mode, softmax in the graph) and its familiarity bank as
    one ONNX graph with outputs `probabilities` and `familiarity`."""
    wrapper = ServedHead(head, torch.from_numpy(np.ascontiguousarray(bank))).eval()
    sample = torch.ones((2, bank.shape[1]), dtype=torch.float32)
    with torch.no_grad():
        _export(
            wrapper,
            (sample,),
            path,
            input_names=[HEAD_INPUT],
            output_names=[HEAD_OUTPUT, FAMILIARITY_OUTPUT],
            dynamic_axes={
                HEAD_INPUT: {0: "batch"},
                HEAD_OUTPUT: {0: "batch"},
                FAMILIARITY_OUTPUT: {0: "batch"},
            },
            opset_version=opset,
        )


def quantize_encoder(fp32_path: Path, int8_path: Path) -> None:
    """Dynamic INT8 with per-channel weights (per-tensor loses too much: cosine ~0.97)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # quant_pre_process writes scratch files into the working directory; keep them in a
    # private folder next to the output so nothing leaks outside the export's temp dir.
    with tempfile.TemporaryDirectory(dir=int8_path.parent, prefix=".quant-") as scratch:
        prepared = Path(scratch) / "encoder.pre.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(
            str(prepared), str(int8_path), per_channel=True, weight_type=QuantType.QInt8
        )


def write_tokenizer(encoder_dir: Path, max_tokens: int, path: Path) -> None:
    """Copy the encoder's tokenizer with padding off and truncation at `max_tokens`."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.save(str(path))
