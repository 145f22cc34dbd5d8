"""One fine-tuning run: the encoder (word embeddings frozen) trained on a bot's examples by
one of two recipes, on the GPU when torch sees one.

- contrastive: the supervised contrastive loss over the head's features (each intent's
  examples pulled together, other intents' pushed apart), as SetFit and CPFT tune before
  fitting a classifier;
- end-to-end (the default): the article's second approach, encoder and an MLP head trained
  together on the cross-entropy loss, a small rate for the encoder and a normal one for the
  head. The head is kept: on CLINC150 10-shot a head retrained on the tuned features scored
  0.8 points lower (docs/research/fine-tuning.md, "Fine-tuning the encoder on a CPU").

After the contrastive recipe the caller trains the usual head on the tuned features.
With entity annotations either recipe adds the token-tag loss of a head trained along
(`joint.py`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from intent_server.core.model_card import EncoderIdentity, HeadConfig
from trainer.features.torch_features import load_sentence_transformer, torch_features
from trainer.finetune.batches import contrastive_batches, shuffled_batches, steps_per_epoch
from trainer.finetune.budget import Budget
from trainer.finetune.joint import TOKEN_HEAD_LR, EntityTargets, JointTagging
from trainer.finetune.losses import supervised_contrastive
from trainer.tagging.head import TokenHead
from trainer.training.head import MLPHead
from trainer.training.loop import FittedHead, deterministic
from trainer.training.options import TrainOptions

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tqdm import tqdm

CONTRASTIVE = "contrastive"
END_TO_END = "end-to-end"
BATCH_SIZE = {CONTRASTIVE: 64, END_TO_END: 32}
TARGET_STEPS = 480  # the default epochs aim at about this many steps
MAX_AUTO_EPOCHS = 20
TEMPERATURE = 0.1
HEAD_LR = 1e-3
WARMUP = 0.1
WEIGHT_DECAY = 0.01


@dataclass(frozen=True)
class RunPlan:
    epochs: int
    steps_per_epoch: int

    @property
    def steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclass(frozen=True)
class TunedEncoder:
    """A tuned sentence-transformers model in memory (eval mode, on the CPU)."""

    model: SentenceTransformer
    head: FittedHead | None  # end-to-end: the head trained with it (eval mode, on the CPU)
    epochs: int  # started, the last one possibly cut short by --max-minutes
    steps: int
    stopped_early: bool
    seconds: float
    token_head: TokenHead | None = None  # with entity targets: trained jointly (eval, CPU)


def plan_run(options: TrainOptions, y: np.ndarray, epochs: int | None = None) -> RunPlan:
    """Epochs (`epochs`, else `--fine-tune-epochs`, else about TARGET_STEPS steps) and steps
    per epoch."""
    per_epoch = max(1, steps_per_epoch(options.fine_tune_recipe, y, _batch(options)))
    epochs = (
        epochs
        or options.fine_tune_epochs
        or min(MAX_AUTO_EPOCHS, max(1, math.ceil(TARGET_STEPS / per_epoch)))
    )
    return RunPlan(epochs, per_epoch)


def _batch(options: TrainOptions) -> int:
    return BATCH_SIZE[options.fine_tune_recipe]


def training_device() -> torch.device:
    """The GPU when torch sees one (deterministic cuBLAS needs a fixed workspace)."""
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return torch.device("cuda")
    return torch.device("cpu")


def _warmup_then_decay(total: int) -> Callable[[int], float]:
    warm = max(1, round(WARMUP * total))
    return lambda step: min((step + 1) / warm, max(0.0, (total - step) / max(1, total - warm)))


def _trainable(model: SentenceTransformer) -> list[nn.Parameter]:
    transformer = getattr(model[0], "auto_model")  # noqa: B009 - untyped ST attribute
    for parameter in transformer.embeddings.parameters():
        parameter.requires_grad_(False)  # half the weights, little gain, twice the time
    return [p for p in transformer.parameters() if p.requires_grad]


def _objective(
    options: TrainOptions, identity: EncoderIdentity, num_classes: int, device: torch.device
) -> tuple[Callable[[Any, torch.Tensor], torch.Tensor], MLPHead | None]:
    """The recipe's loss of (features, labels) and the head it trains along (if any)."""
    if options.fine_tune_recipe == CONTRASTIVE:
        return (lambda x, y: supervised_contrastive(x, y, TEMPERATURE)), None
    config = HeadConfig(
        input_dim=identity.feature_dim,
        hidden=options.hidden,
        dropout=options.dropout,
        batch_norm=options.batch_norm,
        num_classes=num_classes,
    )
    head = MLPHead(config).to(device)
    head.train()
    cross_entropy = nn.CrossEntropyLoss(label_smoothing=options.label_smoothing)
    return (lambda x, y: cross_entropy(head(x), y)), head


def _epoch_batches(
    options: TrainOptions, y: np.ndarray, rng: np.random.Generator
) -> list[np.ndarray]:
    if options.fine_tune_recipe == CONTRASTIVE:
        return contrastive_batches(y, _batch(options), rng)
    return shuffled_batches(len(y), _batch(options), rng)


def tune_encoder(
    texts: list[str],
    y: np.ndarray,
    num_classes: int,
    identity: EncoderIdentity,
    options: TrainOptions,
    budget: Budget,
    share_ends_at: int,
    bar: tqdm[Any],
    seed: int,
    epochs: int | None = None,
    targets: EntityTargets | None = None,
) -> TunedEncoder:
    """Tune a fresh copy of the identity's encoder on (texts, y) for `epochs` (None: the
    plan's); `bar` advances a step at a time; stops early when `budget` says this run's
    share is spent. With entity `targets`, a token head is trained along (`joint`)."""
    started = time.perf_counter()
    plan = plan_run(options, y, epochs)
    device = training_device()
    with deterministic(seed):
        model = load_sentence_transformer(identity.path, identity.num_layers).to(device)
        model.train()
        loss_of, head = _objective(options, identity, num_classes, device)
        groups = [{"params": _trainable(model), "lr": options.encoder_lr}]
        if head is not None:
            groups.append({"params": list(head.parameters()), "lr": HEAD_LR})
        joint = None if targets is None else JointTagging(targets, texts, identity, device)
        if joint is not None:
            groups.append({"params": list(joint.head.parameters()), "lr": TOKEN_HEAD_LR})
        optimizer = torch.optim.AdamW(groups, weight_decay=WEIGHT_DECAY)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_then_decay(plan.steps))
        rng, labels = np.random.default_rng(seed), torch.from_numpy(y).to(device)
        steps, epoch, stopped = 0, 0, False
        while epoch < plan.epochs and not stopped:
            epoch += 1
            for rows in _epoch_batches(options, y, rng):
                if joint is None:
                    features = torch_features(model, [texts[i] for i in rows], identity)
                    loss = loss_of(features, labels[torch.from_numpy(rows).to(device)])
                else:
                    features, tag_loss = joint.forward(model, rows)
                    loss = loss_of(features, labels[torch.from_numpy(rows).to(device)]) + tag_loss
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                schedule.step()
                steps += 1
                bar.update(1)
                if budget.over(share_ends_at):
                    stopped = True
                    break
        model.to("cpu").eval()
    seconds = time.perf_counter() - started
    fitted = None
    if head is not None:
        head.to("cpu").eval()
        fitted = FittedHead(head, head.config, epoch, epoch, None, seconds)
    token_head = None if joint is None else joint.finished()
    return TunedEncoder(model, fitted, epoch, steps, stopped, seconds, token_head)
