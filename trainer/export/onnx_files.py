"""The trained head as ONNX, the INT8 encoder and the tokenizer of an export (the encoder's
fp32 graph is traced by `trainer.features.onnx_graph`, which training embeds with too)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from intent_server.core.layout import DEFAULT_OPSET, FAMILIARITY_OUTPUT, HEAD_INPUT, HEAD_OUTPUT
from trainer.features.onnx_graph import torch_to_onnx
from trainer.training.head import ServedHead


def export_head(served: ServedHead, path: Path, opset: int = DEFAULT_OPSET) -> None:
    """Write the trained head with its familiarity parts (`ServedHead`, eval mode, softmax in
    the graph) as one ONNX graph with outputs `probabilities` and `familiarity`."""
    wrapper = served.eval()
    sample = torch.ones((2, served.bank_t.shape[0]), dtype=torch.float32)
    with torch.no_grad():
        torch_to_onnx(
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
