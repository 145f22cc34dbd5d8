"""The logistic-regression head: converged, the objective torch's own L-BFGS reaches, C
chosen on the folds, and served through the same head graph as any MLP head."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from intent_server.core.encoder.runtime import make_session
from intent_server.core.layout import FAMILIARITY_OUTPUT, HEAD_INPUT, HEAD_OUTPUT
from trainer.calibration.familiarity import build_bank
from trainer.export.onnx_files import export_head
from trainer.training.fitting import fold_of
from trainer.training.head import MLPHead, ServedHead
from trainer.training.logistic import _objective, fold_answers, minimise, train_logistic
from trainer.training.loop import predict_proba
from trainer.training.model_store import save_head
from trainer.training.options import TrainOptions


def _blobs(n_per: int, classes: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping clusters of unit vectors: separable only with some error."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    y = np.repeat(np.arange(classes), n_per)
    x = centres[y] + 1.2 * rng.normal(size=(len(y), dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), y


def test_minimise_reaches_the_optimum_torch_lbfgs_finds() -> None:
    x, y = _blobs(12, 4, 16, 0)
    xt, yt = torch.from_numpy(x.astype(np.float64)), torch.from_numpy(y)
    weights = torch.ones(4, dtype=torch.float64)
    f = _objective(xt, yt, weights, 10.0)
    theta = torch.zeros(4 * 17, dtype=torch.float64)
    iterations = minimise(f, theta)
    ours, grad = f(theta)
    assert 0 < iterations < 300
    assert float(grad.abs().max()) < 1e-5

    reference = torch.zeros(4 * 17, dtype=torch.float64, requires_grad=True)
    solver = torch.optim.LBFGS(
        [reference], max_iter=2000, tolerance_grad=1e-10, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        solver.zero_grad()
        w, b = reference[: 4 * 16].view(4, 16), reference[4 * 16 :]
        loss = torch.nn.functional.cross_entropy(xt @ w.t() + b, yt)
        loss = loss + 0.5 / (10.0 * len(y)) * (w * w).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    solver.step(closure)  # type: ignore[no-untyped-call]
    assert abs(ours - float(closure().detach())) < 1e-7


def test_the_head_answers_like_its_weights_and_survives_save_and_load(tmp_path: Path) -> None:
    x, y = _blobs(10, 3, 8, 1)
    fit = train_logistic(x, y, 3, 30.0, TrainOptions())
    assert fit.config.hidden == () and fit.config.num_classes == 3
    probs = predict_proba(fit.head, x)
    assert (probs.argmax(axis=1) == y).mean() > 0.8
    save_head(fit.head, tmp_path / "head.safetensors")
    again = MLPHead(fit.config)
    again.load_state_dict(load_file(str(tmp_path / "head.safetensors")))
    assert np.array_equal(predict_proba(again.eval(), x), probs)


def test_the_served_graph_of_a_logistic_head_matches_torch(tmp_path: Path) -> None:
    x, y = _blobs(10, 3, 8, 2)
    fit = train_logistic(x, y, 3, 10.0, TrainOptions())
    bank = build_bank(x, y, np.ones(3, dtype=bool))
    served = ServedHead(
        fit.head, torch.from_numpy(bank.vectors), torch.from_numpy(bank.offsets), 0.05
    ).eval()
    path = tmp_path / "head.onnx"
    export_head(served, path)
    probs, familiarity = make_session(path).run([HEAD_OUTPUT, FAMILIARITY_OUTPUT], {HEAD_INPUT: x})
    with torch.no_grad():
        expected_probs, expected_familiarity = served(torch.from_numpy(x))
    assert np.allclose(probs, expected_probs.numpy(), atol=1e-5)
    assert np.allclose(familiarity, expected_familiarity.numpy(), atol=1e-5)


def test_weaker_regularisation_fits_the_training_examples_closer() -> None:
    x, y = _blobs(10, 3, 8, 3)

    def right(c: float) -> float:
        probs = predict_proba(train_logistic(x, y, 3, c, TrainOptions()).head, x)
        return float(probs[np.arange(len(y)), y].mean())

    assert right(100.0) > right(1.0) > right(0.01)


def test_fold_answers_come_from_fits_without_the_fold() -> None:
    x, y = _blobs(10, 3, 8, 4)
    folds = fold_of(y, 5, 13)
    answers = fold_answers(x, y, folds, 3, TrainOptions(), grid=(1.0, 10.0))
    assert set(answers.probs) == {1.0, 10.0}
    for probs in answers.probs.values():
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    held = folds == 0
    alone = train_logistic(x[~held], y[~held], 3, 1.0, TrainOptions())
    assert np.allclose(answers.probs[1.0][held], predict_proba(alone.head, x[held]), atol=1e-5)
    assert answers.best_c(y) in (1.0, 10.0)
