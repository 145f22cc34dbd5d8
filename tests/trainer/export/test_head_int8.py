"""The INT8 head: large matrices as 8-bit MatMulNBits, small ones fp32; answers close to the
fp32 head's, independent of the batch; its gate passes close heads and refuses others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from intent_server.core.encoder.runtime import make_session
from intent_server.core.model_card import HeadConfig
from trainer.export import gates
from trainer.export.head_int8 import CONTRIB_DOMAIN, quantize_head
from trainer.export.onnx_files import export_head
from trainer.training.head import MLPHead, ServedHead

WIDTH = 256


def _head(tmp_path: Path, hidden: tuple[int, ...], bank_size: int) -> tuple[Path, np.ndarray]:
    """A seeded random fp32 head over `WIDTH`-d features and real-looking inputs for it; its
    familiarity is the mean of the best two cosines of the answered intent (a bot without
    out_of_scope examples)."""
    torch.manual_seed(0)
    head = MLPHead(HeadConfig(input_dim=WIDTH, hidden=hidden, num_classes=7))
    bank = torch.nn.functional.normalize(torch.randn(bank_size, WIDTH), dim=1)
    path = tmp_path / "head.onnx"
    intents = torch.arange(bank_size) % 7
    export_head(ServedHead(head.eval(), bank, None, 0.0, intents, 2), path)
    features = np.random.default_rng(1).normal(size=(64, WIDTH)).astype(np.float32)
    return path, features


def _run(session: ort.InferenceSession, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs, familiarity = session.run(None, {"embedding": features})
    return np.asarray(probs), np.asarray(familiarity)


def test_large_matrices_become_int8_and_answers_stay_close(tmp_path: Path) -> None:
    fp32, features = _head(tmp_path, hidden=(WIDTH,), bank_size=300)
    int8 = tmp_path / "head.int8.onnx"
    assert quantize_head(fp32, int8) == 2  # the hidden layer and the familiarity bank
    graph = onnx.load(str(int8)).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("MatMulNBits") == 2
    assert ops.count("Gemm") == 1  # the 7-label output layer stays fp32
    assert all(
        node.domain == CONTRIB_DOMAIN for node in graph.node if node.op_type == "MatMulNBits"
    )
    assert int8.stat().st_size < fp32.stat().st_size / 2.5
    quantized = _run(make_session(int8, arena=False), features)
    reference = _run(make_session(fp32, arena=False), features)
    result = gates.head_int8_parity(quantized, reference)
    assert result.passed, result.detail
    assert float(np.max(np.abs(quantized[0] - reference[0]))) > 0  # it is really quantized


def test_a_text_gets_the_same_answer_alone_and_in_a_batch(tmp_path: Path) -> None:
    fp32, features = _head(tmp_path, hidden=(WIDTH,), bank_size=300)
    int8 = tmp_path / "head.int8.onnx"
    quantize_head(fp32, int8)
    session = make_session(int8, arena=False)
    together = _run(session, features)
    for row in range(0, len(features), 9):
        alone = _run(session, features[row : row + 1])
        assert np.allclose(alone[0], together[0][row : row + 1], atol=1e-6)
        assert np.allclose(alone[1], together[1][row : row + 1], atol=1e-6)


def test_a_head_without_large_matrices_is_left_as_it_is(tmp_path: Path) -> None:
    fp32, features = _head(tmp_path, hidden=(), bank_size=16)  # linear, a small bank
    int8 = tmp_path / "head.int8.onnx"
    assert quantize_head(fp32, int8) == 0
    assert [n.op_type for n in onnx.load(str(int8)).graph.node] == [
        n.op_type for n in onnx.load(str(fp32)).graph.node
    ]
    same = _run(make_session(int8), features)
    assert np.array_equal(same[0], _run(make_session(fp32), features)[0])


@pytest.mark.parametrize(
    ("probs_shift", "familiarity_shift", "flips", "passes"),
    [
        (0.0, 0.0, 0, True),
        (0.004, 0.004, 2, True),
        (gates.HEAD_INT8_MAX_ABS_DIFF * 2, 0.0, 0, False),
        (0.0, gates.HEAD_INT8_FAMILIARITY_MAX_DIFF * 2, 0, False),
        (0.0, 0.0, 3, False),
    ],
)
def test_the_int8_head_gate(
    probs_shift: float, familiarity_shift: float, flips: int, passes: bool
) -> None:
    probs = np.tile(np.array([[0.7, 0.2, 0.1]], dtype=np.float32), (80, 1))
    probs[:3] = [0.445, 0.44, 0.115]  # near ties: a small error may flip them
    familiarity = np.full(80, 0.5, dtype=np.float32)
    other = probs.copy()
    other[:, 0] -= probs_shift
    other[:flips] = [0.44, 0.445, 0.115]
    result = gates.head_int8_parity((other, familiarity + familiarity_shift), (probs, familiarity))
    assert result.passed is passes, result.detail
    assert result.name == "head_int8_vs_fp32"


def test_the_int8_head_gate_refuses_a_head_that_lost_its_familiarity() -> None:
    probs = np.full((4, 2), 0.5, dtype=np.float32)
    result = gates.head_int8_parity((probs, None), (probs, np.zeros(4, dtype=np.float32)))
    assert not result.passed


def test_the_int8_head_gate_compares_familiarity_where_the_intent_is_the_same() -> None:
    probs = np.tile(np.array([[0.7, 0.2, 0.1]], dtype=np.float32), (80, 1))
    probs[0] = [0.445, 0.44, 0.115]
    other = probs.copy()
    other[0] = [0.44, 0.445, 0.115]  # one text flips: scored against the other intent
    familiarity = np.full(80, 0.5, dtype=np.float32)
    moved = familiarity.copy()
    moved[0] = 0.4
    assert gates.head_int8_parity((other, moved), (probs, familiarity)).passed
    moved[1] = 0.4  # the same intent, a different score: refused
    assert not gates.head_int8_parity((other, moved), (probs, familiarity)).passed


def test_the_fp32_graph_scores_familiarity_by_answered_intent_as_torch_does(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    head = MLPHead(HeadConfig(input_dim=WIDTH, hidden=(32,), num_classes=7)).eval()
    bank = torch.nn.functional.normalize(torch.randn(40, WIDTH), dim=1)
    intents = torch.arange(40) % 6  # intent 6 has no vector: the best of the whole bank
    served = ServedHead(head, bank, torch.randn(40) * 0.01, 0.05, intents, 2).eval()
    export_head(served, tmp_path / "head.onnx")
    features = np.random.default_rng(2).normal(size=(64, WIDTH)).astype(np.float32)
    probs, familiarity = _run(make_session(tmp_path / "head.onnx", arena=False), features)
    with torch.no_grad():
        ref_probs, ref_familiarity = served(torch.from_numpy(features))
    assert np.array_equal(probs.argmax(axis=1), ref_probs.numpy().argmax(axis=1))
    assert float(np.max(np.abs(familiarity - ref_familiarity.numpy()))) <= 1e-5
