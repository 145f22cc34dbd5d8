"""A head for tiny data: converged L2-regularised multinomial logistic regression.

At 10 examples per intent the MLP head is below plain logistic regression on the same
features (docs/research/head-recipe.md, 2026-12-02). This fits one linear layer to
convergence (full-batch L-BFGS, written out in tensor ops like `optim.py`: any
`torch.optim` optimizer imports torch._dynamo, 2 s) and chooses the regularisation C on the
bot's own folds. The result is an `MLPHead` without hidden layers: `head.onnx`, the model
card and the server see the same contract as for any head.

Objective (scikit-learn's, divided by C x n): mean (class-weighted) cross-entropy plus
|W|^2 / (2 C n); the bias is not penalised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from intent_server.core.model_card import HeadConfig
from trainer.training.head import MLPHead
from trainer.training.loop import FittedHead, deterministic
from trainer.training.options import TrainOptions
from trainer.training.split import class_weights

# Candidate C, weakest regularisation last (each fit starts from the previous C's weights).
# Measured at 10 shots: C = 1 is 1-1.5 points under C = 10-100 (head-recipe.md).
C_GRID = (3.0, 10.0, 30.0, 100.0)
MAX_ITERATIONS = 300
HISTORY = 10  # L-BFGS memory
GRADIENT_TOLERANCE = 1e-6  # stop when the largest gradient entry is below this

Objective = Callable[[torch.Tensor], tuple[float, torch.Tensor]]


def _objective(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, c: float) -> Objective:
    """Loss and gradient of the flat parameters [W (k x d), b (k)], computed by hand."""
    n, d = x.shape
    k = int(weights.shape[0])
    sample = weights[y] / weights[y].sum()  # per-example weight, summing to 1
    onehot = torch.nn.functional.one_hot(y, k).to(x.dtype)
    penalty = 1.0 / (c * n)

    def value_and_grad(theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        w, b = theta[: k * d].view(k, d), theta[k * d :]
        logits = x @ w.t() + b
        log_p = torch.log_softmax(logits, dim=1)
        loss = -(sample * (log_p * onehot).sum(dim=1)).sum() + 0.5 * penalty * (w * w).sum()
        g_logits = (log_p.exp() - onehot) * sample[:, None]
        grad_w = g_logits.t() @ x + penalty * w
        return float(loss), torch.cat([grad_w.reshape(-1), g_logits.sum(dim=0)])

    return value_and_grad


def _direction(grad: torch.Tensor, steps: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """The L-BFGS two-loop recursion: -H grad from the remembered (s, y) pairs."""
    q = grad.clone()
    alphas = []
    for s, y in reversed(steps):
        alpha = float(s @ q) / float(y @ s)
        alphas.append(alpha)
        q -= alpha * y
    if steps:
        s, y = steps[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y), alpha in zip(steps, reversed(alphas), strict=True):
        q += (alpha - float(y @ q) / float(y @ s)) * s
    return -q


def minimise(f: Objective, theta: torch.Tensor, max_iterations: int = MAX_ITERATIONS) -> int:
    """L-BFGS with a backtracking (Armijo) line search, in place on `theta`; returns the
    iterations run. The objective is strictly convex, so this converges."""
    loss, grad = f(theta)
    steps: list[tuple[torch.Tensor, torch.Tensor]] = []
    for iteration in range(1, max_iterations + 1):
        if float(grad.abs().max()) < GRADIENT_TOLERANCE:
            return iteration - 1
        direction = _direction(grad, steps)
        slope = float(grad @ direction)
        if slope >= 0.0:  # not a descent direction: forget the history
            steps, direction = [], -grad
            slope = float(grad @ direction)
        step = 1.0 if steps else min(1.0, 1.0 / float(grad.abs().sum()))
        while True:
            candidate = theta + step * direction
            new_loss, new_grad = f(candidate)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        if step < 1e-10 or loss - new_loss <= 1e-12 * max(1.0, abs(loss)):
            theta.copy_(candidate)
            return iteration
        s, y = candidate - theta, new_grad - grad
        if float(s @ y) > 1e-10:
            steps = [*steps[-(HISTORY - 1) :], (s, y)]
        theta.copy_(candidate)
        loss, grad = new_loss, new_grad
    return max_iterations


@dataclass(frozen=True)
class LogisticFit:
    """Weights of one fit (for a warm start) and the iterations it took."""

    theta: torch.Tensor
    iterations: int


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    c: float,
    options: TrainOptions,
    start: torch.Tensor | None = None,
) -> LogisticFit:
    # float64: in float32 the loss stops resolving progress before the fit has converged.
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    weights = class_weights(y, num_classes) if options.class_weights else None
    if weights is None:
        weights = (np.bincount(y, minlength=num_classes) > 0).astype(np.float32)
    f = _objective(xt, yt, torch.from_numpy(weights.astype(np.float64)), c)
    size = num_classes * (xt.shape[1] + 1)
    theta = torch.zeros(size, dtype=torch.float64) if start is None else start.clone()
    iterations = minimise(f, theta)
    return LogisticFit(theta, iterations)


def as_head(theta: torch.Tensor, input_dim: int, num_classes: int) -> MLPHead:
    """The fitted weights as a head without hidden layers (eval mode)."""
    config = HeadConfig(input_dim=input_dim, hidden=(), dropout=0.0, num_classes=num_classes)
    head = MLPHead(config)
    layer = head.layers[0]
    assert isinstance(layer, torch.nn.Linear)
    with torch.no_grad():
        weight_count = num_classes * input_dim
        layer.weight.copy_(theta[:weight_count].view(num_classes, input_dim))
        layer.bias.copy_(theta[weight_count:])
    return head.eval()


def _probabilities(theta: torch.Tensor, x: np.ndarray, num_classes: int) -> np.ndarray:
    d = x.shape[1]
    w, b = theta[: num_classes * d].view(num_classes, d), theta[num_classes * d :]
    logits = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)) @ w.t() + b
    return torch.softmax(logits, dim=1).numpy().astype(np.float32)


@dataclass(frozen=True)
class FoldAnswers:
    """Out-of-fold probabilities per candidate C (rows in the order of the examples)."""

    probs: dict[float, np.ndarray]

    def accuracy(self, c: float, y: np.ndarray) -> float:
        return float((self.probs[c].argmax(axis=1) == y).mean())

    def log_loss(self, c: float, y: np.ndarray) -> float:
        picked = self.probs[c][np.arange(len(y)), y]
        return float(-np.log(np.clip(picked, 1e-12, None)).mean())

    def best_c(self, y: np.ndarray) -> float:
        """Highest cross-validated accuracy; ties go to the lower log loss."""
        return min(self.probs, key=lambda c: (-self.accuracy(c, y), self.log_loss(c, y)))


def fold_answers(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    num_classes: int,
    options: TrainOptions,
    grid: tuple[float, ...] = C_GRID,
) -> FoldAnswers:
    """Each example answered by the fits (one per C) that did not see its fold."""
    probs = {c: np.zeros((len(y), num_classes), dtype=np.float32) for c in grid}
    with deterministic(options.seed):
        for k in np.unique(folds):
            held = folds == k
            start = None
            for c in grid:
                fit = _fit(x[~held], y[~held], num_classes, c, options, start)
                probs[c][held] = _probabilities(fit.theta, x[held], num_classes)
                start = fit.theta
    return FoldAnswers(probs)


def train_logistic(
    x: np.ndarray, y: np.ndarray, num_classes: int, c: float, options: TrainOptions
) -> FittedHead:
    """The head fitted on every given example at regularisation `c`; `epochs_run` and
    `best_epoch` record the L-BFGS iterations."""
    started = time.perf_counter()
    with deterministic(options.seed):
        fit = _fit(x, y, num_classes, c, options)
    head = as_head(fit.theta, int(x.shape[1]), num_classes)
    seconds = time.perf_counter() - started
    return FittedHead(head, head.config, fit.iterations, fit.iterations, None, seconds)
