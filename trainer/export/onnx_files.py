"""Turn the sentence encoder and the trained head into ONNX files (plus INT8 and tokenizer)."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.head import ProbabilityHead

DEFAULT_OPSET = 17
SENTENCE_OUTPUT = "sentence_embedding"
FEATURES_OUTPUT = "features"
# Sample batch for tracing: the second row is padded so the traced graph keeps the mask path.
_SAMPLE_IDS = [[101, 7592, 2088, 2003, 102], [101, 7592, 102, 0, 0]]


def _pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over the sequence, then L2 normalisation."""
    pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, p=2.0, dim=1)


class PooledEncoder(nn.Module):
    """HF transformer + pooling in one graph, two outputs: `sentence_embedding` (last layer,
    mean-pooled + L2-normalised: the standard sentence-transformers embedding) and
    `features` (the pooled, separately normalised `feature_layers`, concatenated: what the
    head reads). Empty `feature_layers`: features = the sentence embedding."""

    def __init__(self, transformer: nn.Module, feature_layers: Sequence[int] = ()) -> None:
        super().__init__()
        self.transformer = transformer
        self.feature_layers = tuple(feature_layers)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.transformer(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
            output_hidden_states=bool(self.feature_layers),
        )
        mask = attention_mask.unsqueeze(-1).to(output.last_hidden_state.dtype)
        sentence = _pool(output.last_hidden_state, mask)
        if not self.feature_layers:
            return sentence, sentence
        blocks = [_pool(output.hidden_states[layer], mask) for layer in self.feature_layers]
        return sentence, torch.cat(blocks, dim=1)


def _export(module: nn.Module, args: tuple[Any, ...], path: Path, **kwargs: Any) -> None:
    with warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and about traced Python
        # conditionals in transformers that do not depend on the sequence length.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, **kwargs)


def export_encoder(
    transformer: nn.Module,
    path: Path,
    opset: int = DEFAULT_OPSET,
    feature_layers: Sequence[int] = (),
) -> None:
    """Write `transformer` (a HF model, eager attention) as ONNX with the outputs
    `sentence_embedding` [B, dim] and `features` [B, feature_dim]."""
    wrapper = PooledEncoder(transformer, feature_layers).eval()
    ids = torch.tensor(_SAMPLE_IDS, dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    with torch.no_grad():
        _export(
            wrapper,
            (ids, mask),
            path,
            input_names=["input_ids", "attention_mask"],
            output_names=[SENTENCE_OUTPUT, FEATURES_OUTPUT],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                SENTENCE_OUTPUT: {0: "batch"},
                FEATURES_OUTPUT: {0: "batch"},
            },
            opset_version=opset,
        )


def export_head(head: nn.Module, input_dim: int, path: Path, opset: int = DEFAULT_OPSET) -> None:
    """Write the trained head (eval mode, softmax in the graph) as `probabilities` ONNX."""
    wrapper = ProbabilityHead(head).eval()
    sample = torch.zeros((2, input_dim), dtype=torch.float32)
    with torch.no_grad():
        _export(
            wrapper,
            (sample,),
            path,
            input_names=["embedding"],
            output_names=["probabilities"],
            dynamic_axes={"embedding": {0: "batch"}, "probabilities": {0: "batch"}},
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
