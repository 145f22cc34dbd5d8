"""Model folder housekeeping and the report plot, without training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer.errors import UserError
from trainer.model_store import (
    check_model_name,
    load_trained_model,
    remove_stale_temp_dirs,
    staged_model_dir,
)
from trainer.report import plot_confusion


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_folders_of_dead_runs_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / f".m.tmp-{dead_pid()}-abc"
    live = tmp_path / f".m.tmp-{os.getpid()}-abc"
    other = tmp_path / f".other.tmp-{dead_pid()}-abc"
    for folder in (stale, live, other):
        folder.mkdir()
    remove_stale_temp_dirs(tmp_path, "m")
    assert not stale.exists() and live.exists() and other.exists()


def test_staged_folder_replaces_the_old_one_only_on_success(tmp_path: Path) -> None:
    with staged_model_dir(tmp_path, "m") as tmp:
        (tmp / "model.json").write_text("1")
    assert (tmp_path / "m" / "model.json").read_text() == "1"
    with pytest.raises(RuntimeError), staged_model_dir(tmp_path, "m") as tmp:
        (tmp / "model.json").write_text("2")
        raise RuntimeError("disk full")
    assert (tmp_path / "m" / "model.json").read_text() == "1"
    with staged_model_dir(tmp_path, "m") as tmp:
        (tmp / "model.json").write_text("3")
    assert (tmp_path / "m" / "model.json").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "x" * 65, "white space"])
def test_bad_model_names(name: str) -> None:
    with pytest.raises(UserError, match="invalid model name"):
        check_model_name(name)


def test_loading_a_missing_or_damaged_model_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="make train"):
        load_trained_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(UserError, match="damaged"):
        load_trained_model(tmp_path)


def test_confusion_plot_with_many_intents_shows_only_those_with_errors(tmp_path: Path) -> None:
    labels = [f"intent_{i:03d}" for i in range(90)]
    y_true = np.repeat(np.arange(90), 3)
    y_pred = y_true.copy()
    y_pred[[0, 10, 20]] = [5, 6, 7]
    plot_confusion(tmp_path / "c.png", y_true, y_pred, labels)
    from PIL import Image

    with Image.open(tmp_path / "c.png") as image:
        image.verify()
        assert image.size[0] >= 400
