"""Bots made from one export differ in their heads only, the INT8 head moved like the fp32 one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from intent_server.core.exports import load_export, resolve_current


def _bias(head: Path, name: str) -> np.ndarray:
    tensor = next(t for t in onnx.load(str(head)).graph.initializer if t.name == name)
    return numpy_helper.to_array(tensor)


def test_each_bot_has_its_own_heads_with_the_same_noise(
    two_bots: Path, exported_example_version: Path
) -> None:
    alpha, beta = (resolve_current(two_bots, name) for name in ("alpha", "beta"))
    output = [t.name for t in onnx.load(str(alpha / "head.onnx")).graph.initializer][-1]
    assert output.endswith(".bias")
    source = _bias(exported_example_version / "head.onnx", output)
    for version in (alpha, beta):
        moved = _bias(version / "head.onnx", output) - source
        assert np.abs(moved).max() > 0
        int8_moved = _bias(version / "head.int8.onnx", output) - source
        assert np.array_equal(moved, int8_moved)  # the same bot in either variant
        for variant in ("fp32", "int8"):
            load_export(version, variant, verify_all=True)  # every sha256 as recorded
    assert not np.array_equal(_bias(alpha / "head.onnx", output), _bias(beta / "head.onnx", output))
