"""The fine-tuning parts that need no encoder: batches, the contrastive loss, the budget,
the plan of a run, and the command line's --fine-tune flag."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from trainer.cli.train import build_parser
from trainer.errors import UserError
from trainer.finetune.batches import contrastive_batches, shuffled_batches, steps_per_epoch
from trainer.finetune.budget import Budget
from trainer.finetune.losses import supervised_contrastive
from trainer.finetune.tuning import MAX_AUTO_EPOCHS, TARGET_STEPS, plan_run
from trainer.training.options import TrainOptions


def test_contrastive_batches_give_every_example_a_positive_once_per_epoch() -> None:
    y = np.repeat(np.arange(7), [10, 10, 5, 3, 2, 9, 1])  # intent 6 has a single example
    batches = contrastive_batches(y, 16, np.random.default_rng(0))
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == sorted(np.flatnonzero(y != 6).tolist())
    for rows in batches:
        labels = y[rows]
        assert all((labels == label).sum() >= 2 for label in labels)
    assert len(batches) == steps_per_epoch("contrastive", y, 16)


def test_contrastive_batches_are_seeded() -> None:
    y = np.repeat(np.arange(5), 8)
    first = contrastive_batches(y, 8, np.random.default_rng(3))
    again = contrastive_batches(y, 8, np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_shuffled_batches_never_leave_a_batch_of_one() -> None:
    batches = shuffled_batches(65, 32, np.random.default_rng(0))
    assert [len(rows) for rows in batches] == [32, 33]
    assert sorted(np.concatenate(batches).tolist()) == list(range(65))


def test_the_contrastive_loss_prefers_intents_grouped_together() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    grouped = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    low = supervised_contrastive(grouped, labels, 0.1)
    high = supervised_contrastive(mixed, labels, 0.1)
    assert float(low) < 0.1 < float(high)
    grouped.requires_grad_(True)
    supervised_contrastive(grouped, labels, 0.1).backward()  # type: ignore[no-untyped-call]
    assert grouped.grad is not None and torch.isfinite(grouped.grad).all()


def test_the_budget_gives_each_run_its_share() -> None:
    budget = Budget(seconds=10.0)
    first, second = budget.plan(100), budget.plan(300)
    budget.started -= 3.0  # 3 s spent: over the first run's share (2.5 s), not the second's
    assert budget.over(first) and not budget.over(second)
    assert not Budget.of_minutes(None).over(1)


def test_default_epochs_aim_at_a_fixed_number_of_steps() -> None:
    small = plan_run(TrainOptions(), np.repeat(np.arange(5), 10))  # 50 examples
    assert small.epochs == MAX_AUTO_EPOCHS
    large = plan_run(TrainOptions(), np.repeat(np.arange(100), 100))
    assert large.steps >= TARGET_STEPS > (large.epochs - 1) * large.steps_per_epoch
    fixed = plan_run(TrainOptions(fine_tune_epochs=3), np.repeat(np.arange(5), 10))
    assert fixed.epochs == 3


@pytest.mark.parametrize(
    ("flags", "mode"),
    [([], "off"), (["--fine-tune"], "auto"), (["--fine-tune=force"], "force")],
)
def test_the_fine_tune_flag(flags: list[str], mode: str) -> None:
    args = build_parser().parse_args(["train", *flags])
    assert args.fine_tune == mode


def test_bad_fine_tuning_options_are_clear_errors() -> None:
    with pytest.raises(UserError, match="--max-minutes must be positive"):
        TrainOptions(max_minutes=0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--fine-tune=sometimes"])


@pytest.mark.parametrize(
    ("frozen", "tuned", "mode", "kept"),
    [
        (0.90, 0.92, "auto", "tuned"),
        (0.92, 0.92, "auto", "frozen"),  # a tie keeps the frozen model
        (0.93, 0.92, "force", "tuned"),
    ],
)
def test_the_comparison_keeps_the_better_model_unless_forced(
    monkeypatch: pytest.MonkeyPatch, frozen: float, tuned: float, mode: str, kept: str
) -> None:
    from trainer.features.identity import encoder_identity
    from trainer.finetune import comparison
    from trainer.finetune.tuning import TunedEncoder
    from trainer.training.fitting import Split

    stand_in: Any = object()  # fine_tune only hands the model on
    encoder = TunedEncoder(stand_in, None, epochs=3, steps=30, stopped_early=False, seconds=1.0)
    result = comparison._Tuned(4, encoder, None, 60, frozen, tuned)
    monkeypatch.setattr(comparison, "_cross_validated", lambda *args: result)
    x, y = np.zeros((60, 4), dtype=np.float32), np.repeat(np.arange(3), 20)
    split = Split(x, y, x[:0], y[:0], ["t"] * 60, [])
    outcome = comparison.fine_tune(
        split,
        ("a", "b", "c"),
        TrainOptions(fine_tune=mode),
        encoder_identity(),
        None,  # type: ignore[arg-type]
    )
    assert outcome.record.kept == kept and (outcome.model is not None) == (kept == "tuned")
    assert outcome.record.compared_on == "cross-validated" and outcome.record.runs == 4
    assert f"{100 * (tuned - frozen):+.2f} points" in outcome.record.summary()
