"""The head's INT8 copy (`head.int8.onnx`), served with the INT8 encoder.

A server with many bots holds one head per bot, and a head's weights are almost all it
costs: the default head's 1,152 x 1,024 hidden layer (4.7 MB in fp32) and its familiarity
bank (up to 1,024 unit vectors of 1,152 values, 2 MB for the example bot's 446). Their
large matrices become onnxruntime's `MatMulNBits` (com.microsoft): 8-bit weights in blocks
of `BLOCK` values along the input, one fp32 scale per block, symmetric. Measured on the
example bot (one-thread sessions): 6.7 -> 2.5 MB of RSS per head, one text's head run
0.12 -> 0.08 ms.

`accuracy_level` 4 (int8 compute) quantizes the activations too, but block by block within
each row: a text's answer never depends on the other texts of its batch (unlike the
per-tensor scale of dynamic quantization, which is why the INT8 encoder runs text by text).
Level 1 (fp32 compute) was 20-30x slower for 8 bits. Small matrices (the output layer:
1,024 x labels) stay fp32: they cost little and carry the logits. The error against the fp32
head is checked by the export's `head_int8_vs_fp32` gate on real texts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import NodeProto, TensorProto, helper, numpy_helper

BITS = 8
BLOCK = 32
ACCURACY_LEVEL = 4  # int8 compute, activations quantized per row and block
MIN_WEIGHTS = 65_536  # smaller matrices stay fp32 (the output layer)
CONTRIB_DOMAIN = "com.microsoft"


def _packed(weight_kn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`weight_kn` [K, N] as MatMulNBits' blocks [N, K/BLOCK, BLOCK] uint8 (zero point 128,
    symmetric) and their scales [N * K/BLOCK] float32."""
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        DefaultWeightOnlyQuantizer,
    )

    config = DefaultWeightOnlyQuantConfig(block_size=BLOCK, is_symmetric=True, bits=BITS)
    # The C++ packer reads its input as row-major: a transposed view must be copied first.
    weight = np.ascontiguousarray(weight_kn, dtype=np.float32)
    packed, scales, _ = DefaultWeightOnlyQuantizer(config).qbits_block_quant(weight)
    return packed, scales.reshape(-1).astype(np.float32)


def _attribute(node: NodeProto, name: str, default: float) -> float:
    for attribute in node.attribute:
        if attribute.name == name:
            return float(helper.get_attribute_value(attribute))
    return default


def _weight_kn(node: NodeProto, initializers: dict[str, TensorProto]) -> np.ndarray | None:
    """The constant 2-D weight [K, N] a MatMul or plain Gemm multiplies by, or None."""
    if node.op_type not in ("MatMul", "Gemm") or node.input[1] not in initializers:
        return None
    weight = numpy_helper.to_array(initializers[node.input[1]])
    if weight.ndim != 2 or weight.dtype != np.float32 or weight.size < MIN_WEIGHTS:
        return None
    if node.op_type == "MatMul":
        return weight
    plain = _attribute(node, "alpha", 1.0) == 1.0 and _attribute(node, "beta", 1.0) == 1.0
    if not plain or _attribute(node, "transA", 0) != 0:
        return None
    return weight.T if _attribute(node, "transB", 0) else weight


def _replace(
    node: NodeProto, weight_kn: np.ndarray, index: int
) -> tuple[list[NodeProto], list[TensorProto]]:
    """MatMulNBits for `node` (plus an Add for a Gemm's bias) and its new initializers."""
    k, n = weight_kn.shape
    packed, scales = _packed(weight_kn)
    name = f"{node.input[1]}_int8_{index}"
    tensors = [numpy_helper.from_array(packed, name), numpy_helper.from_array(scales, name + "_s")]
    has_bias = node.op_type == "Gemm" and len(node.input) > 2 and bool(node.input[2])
    product = node.output[0] + "_int8" if has_bias else node.output[0]
    nodes = [
        helper.make_node(
            "MatMulNBits",
            [node.input[0], name, name + "_s"],
            [product],
            name=f"{node.name or node.op_type}_int8_{index}",
            domain=CONTRIB_DOMAIN,
            K=k,
            N=n,
            bits=BITS,
            block_size=BLOCK,
            accuracy_level=ACCURACY_LEVEL,
        )
    ]
    if has_bias:
        nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]]))
    return nodes, tensors


def quantize_head(fp32_path: Path, int8_path: Path) -> int:
    """Write `int8_path`: `fp32_path`'s head with its large constant matrices in INT8.
    Returns how many matrices were quantized (0: the copy equals the fp32 head)."""
    model = onnx.load(str(fp32_path))
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    nodes: list[NodeProto] = []
    replaced: set[str] = set()
    for node in graph.node:
        weight = _weight_kn(node, initializers)
        if weight is None:
            nodes.append(node)
            continue
        new_nodes, tensors = _replace(node, weight, len(replaced))
        nodes.extend(new_nodes)
        graph.initializer.extend(tensors)
        replaced.add(node.input[1])
    used = {name for node in nodes for name in node.input}
    kept = [t for t in graph.initializer if t.name not in replaced or t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(nodes)
    if replaced and not any(entry.domain == CONTRIB_DOMAIN for entry in model.opset_import):
        model.opset_import.append(helper.make_opsetid(CONTRIB_DOMAIN, 1))
    onnx.save(model, str(int8_path))
    return len(replaced)
