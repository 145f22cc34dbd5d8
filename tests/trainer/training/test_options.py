"""Training options: one declaration gives the checks, the flags and the model card entry."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from intent_server.core.options import Option, add_flags, options_from_args
from trainer.errors import UserError
from trainer.training.options import TrainOptions


@pytest.mark.parametrize(
    "changes",
    [
        {"hidden": (0,)},
        {"hidden": ()},
        {"dropout": 1.0},
        {"lr": 0.0},
        {"epochs": 0},
        {"batch_size": 1},
        {"val_fraction": 0.95},
        {"label_smoothing": -0.1},
    ],
)
def test_bad_options_are_user_errors(changes: dict[str, object]) -> None:
    with pytest.raises(UserError, match="invalid training options"):
        TrainOptions(**changes)  # type: ignore[arg-type]
    (name,) = changes
    option: Option = TrainOptions.__dataclass_fields__[name].metadata["option"]
    assert f"{option.flag(name)} must" in _message(changes)


def _message(changes: dict[str, object]) -> str:
    try:
        TrainOptions(**changes)  # type: ignore[arg-type]
    except UserError as exc:
        return str(exc)
    raise AssertionError("no error")


def test_flags_parse_back_into_the_same_options() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser, TrainOptions)
    assert options_from_args(parser.parse_args([]), TrainOptions) == TrainOptions()
    flags = "--hidden 256,128 --feature-layers 6 --no-class-weights --lr 0.01"
    args = parser.parse_args([*flags.split(), "--encoder", "/models/enc", "--schedule", "constant"])
    assert options_from_args(args, TrainOptions) == TrainOptions(
        hidden=(256, 128),
        feature_layers=(6,),
        class_weights=False,
        lr=0.01,
        encoder=Path("/models/enc"),
        schedule="constant",
    )


def test_every_option_but_internal_ones_has_a_flag_with_help() -> None:
    parser = argparse.ArgumentParser()
    add_flags(parser, TrainOptions)
    flags = {action.dest: action for action in parser._actions if action.dest != "help"}
    assert set(flags) == {item.name for item in fields(TrainOptions)} - {"batch_norm"}
    assert all(action.help for action in flags.values())
    assert flags["class_weights"].option_strings == ["--no-class-weights"]


def test_options_are_recorded_as_json_values() -> None:
    recorded = TrainOptions(encoder=Path("/enc"), feature_layers=(4, 6)).to_json()
    assert recorded["encoder"] == "/enc" and recorded["feature_layers"] == [4, 6]
    assert recorded["hidden"] == [1024] and recorded["seed"] == 13
