"""The hand-written Adam + one-cycle schedule matches torch's own classes step for step."""

from __future__ import annotations

import sys
from itertools import pairwise

import pytest
import torch
from torch import nn

from trainer.training.optim import Adam, OneCycle


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_matches_torch_adam_with_one_cycle(weight_decay: float, fused: bool) -> None:
    ours, theirs = _model(0), _model(0)
    total = 23
    schedule = OneCycle(max_lr=3e-3, total_steps=total)
    adam = Adam(ours.parameters(), weight_decay=weight_decay, fused=fused)
    assert adam.fused == fused
    reference = torch.optim.Adam(theirs.parameters(), lr=3e-3, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=3e-3, total_steps=total)
    data = torch.randn(total, 5, 6, generator=torch.Generator().manual_seed(1))
    target = torch.randint(0, 3, (total, 5), generator=torch.Generator().manual_seed(2))
    for step in range(total):
        lr, beta1 = schedule.at(step)
        group = reference.param_groups[0]
        assert lr == pytest.approx(group["lr"], rel=1e-9)
        assert beta1 == pytest.approx(group["betas"][0], rel=1e-9)
        for model, optimiser in ((ours, adam), (theirs, reference)):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(data[step]), target[step]).backward()
        adam.step(lr, beta1)
        reference.step()
        scheduler.step()
    for mine, torch_param in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.allclose(mine, torch_param, atol=1e-6)


def test_schedule_warms_up_then_anneals() -> None:
    schedule = OneCycle(max_lr=1e-2, total_steps=100)
    rates = [schedule.at(step)[0] for step in range(100)]
    peak = rates.index(max(rates))
    assert 25 <= peak <= 30
    assert rates[0] == pytest.approx(1e-2 / 25)
    assert rates[-1] < rates[0] / 1000
    assert all(a <= b for a, b in pairwise(rates[: peak + 1]))
    assert all(a >= b for a, b in pairwise(rates[peak:]))


def test_one_step_schedule_is_defined() -> None:
    assert OneCycle(max_lr=1e-3, total_steps=1).at(0)[0] > 0


def test_does_not_import_torch_dynamo() -> None:
    # The point of the module: torch.optim's first call imports torch._dynamo (~2 s).
    import subprocess

    code = (
        "import sys, torch; from trainer.training.optim import Adam; "
        "p = torch.nn.Parameter(torch.ones(2)); a = Adam([p]); p.sum().backward(); "
        "a.step(1e-3); print(a.fused and 'torch._dynamo' not in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_small_data_gets_enough_one_cycle_steps() -> None:
    from trainer.training.loop import MIN_ONE_CYCLE_STEPS, one_cycle_epochs

    assert one_cycle_epochs(8, 118) == 8  # CLINC150: 944 steps
    assert one_cycle_epochs(8, 16) * 16 >= MIN_ONE_CYCLE_STEPS
    assert one_cycle_epochs(8, 16) == 16
    assert one_cycle_epochs(40, 16) == 40
