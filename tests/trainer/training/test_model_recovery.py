"""Publishing `models/MODEL/` survives a crash at any step: the next run or load finds a
complete model (the old one or the new one), and the sweep of a killed run's folders never
deletes the only copy of a model."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.paths import EXAMPLES, ROOT
from tests.trainer.test_staging import dead_pid
from trainer.errors import UserError
from trainer.staging import remove_stale
from trainer.training.model_store import load_trained_model, staged_model_dir

# For STEP = 1, 2, ... a forked child publishes "new" over "old" in ROOT/STEP/m and dies (like
# SIGKILL or a power cut) just before its STEP-th rename, exchange or removal of a folder;
# prints "STEP EXIT_CODE" until a child gets to the end (code 0).
CRASHING_PUBLISH = """
import os, shutil, sys
from pathlib import Path
import trainer.staging as staging
from trainer.training import model_store

root, can_exchange = Path(sys.argv[1]), sys.argv[2] == "yes"
steps, crash_at = 0, 0

def crashing(function):
    def step_or_crash(*args, **kwargs):
        global steps
        steps += 1
        if steps == crash_at:
            os._exit(3)
        return function(*args, **kwargs)
    return step_or_crash

for module in (staging, model_store):
    if hasattr(module, "exchange"):
        real = module.exchange if can_exchange else (lambda a, b: False)
        setattr(module, "exchange", crashing(real))
os.replace, os.rename = crashing(os.replace), crashing(os.rename)
shutil.rmtree = crashing(shutil.rmtree)
for crash_at in range(1, 10):
    models = root / str(crash_at)
    (models / "m").mkdir(parents=True)
    (models / "m" / "model.json").write_text("old")
    child = os.fork()
    if child == 0:
        with model_store.staged_model_dir(models, "m") as tmp:
            (tmp / "model.json").write_text("new")
        os._exit(0)
    code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    print(crash_at, code, flush=True)
    if code != 3:
        break
"""


def preserved_copy(models: Path, card: str) -> Path:
    """The `.old` copy of models/m that a run killed between its two renames leaves."""
    preserved = models / f".m.old-{dead_pid()}-abcd1234"
    preserved.mkdir()
    (preserved / "model.json").write_text(card)
    return preserved


def publish(models: Path, card: str) -> None:
    with staged_model_dir(models, "m") as tmp:
        (tmp / "model.json").write_text(card)


def crash_while_publishing(root: Path, can_exchange: bool) -> list[tuple[int, int]]:
    """(step, exit code) of each publish: 3 crashed, 0 finished."""
    command = [sys.executable, "-c", CRASHING_PUBLISH, str(root), "yes" if can_exchange else "no"]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [(int(step), int(code)) for step, code in map(str.split, result.stdout.splitlines())]


@pytest.mark.parametrize("can_exchange", [True, False], ids=["exchange", "two-renames"])
def test_a_crash_at_any_step_leaves_a_complete_model(
    tmp_path: Path, can_exchange: bool, caplog: pytest.LogCaptureFixture
) -> None:
    runs = crash_while_publishing(tmp_path, can_exchange)
    assert [code for _, code in runs] == [3] * (len(runs) - 1) + [0]
    found = []
    for step, _ in runs:
        models = tmp_path / str(step)
        with caplog.at_level(logging.WARNING, logger="trainer"):
            remove_stale(models)  # what the next training run (or load) does first
        assert [p.name for p in models.iterdir()] == ["m"], f"crash before step {step}"
        found.append((models / "m" / "model.json").read_text())
    # Crashes before: the exchange | the removal of the old one | none.
    # Or: the (refused) exchange | the 1st rename | the 2nd | the removal of the old one | none.
    steps = ["old", "new", "new"] if can_exchange else ["old", "old", "old", "new", "new"]
    assert found == steps
    # Exchanged, models/m is never missing; by two renames it is, until the sweep.
    assert ("restored the previous model" in caplog.text) is not can_exchange


def test_the_sweep_restores_a_lost_model_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    preserved = preserved_copy(tmp_path, "old")
    with caplog.at_level(logging.WARNING, logger="trainer"):
        remove_stale(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert (tmp_path / "m" / "model.json").read_text() == "old"
    message = caplog.text
    assert f"{tmp_path / 'm'} was missing" in message and preserved.name in message
    assert "restored the previous model" in message


def test_the_sweep_keeps_a_live_run_and_drops_a_superseded_copy(tmp_path: Path) -> None:
    live = tmp_path / f".m.old-{os.getpid()}-abcd1234"
    live.mkdir()
    remove_stale(tmp_path)
    assert live.exists() and not (tmp_path / "m").exists()
    superseded = tmp_path / f".n.old-{dead_pid()}-abcd1234"
    superseded.mkdir()
    (tmp_path / "n").mkdir()
    remove_stale(tmp_path)
    assert not superseded.exists() and (tmp_path / "n").exists()


def test_training_after_a_crash_publishes_over_the_restored_model(tmp_path: Path) -> None:
    preserved_copy(tmp_path, "old")
    with pytest.raises(RuntimeError), staged_model_dir(tmp_path, "m"):
        raise RuntimeError("training failed")
    assert (tmp_path / "m" / "model.json").read_text() == "old"
    publish(tmp_path, "new")
    assert (tmp_path / "m" / "model.json").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_loading_restores_a_lost_model(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    preserved_copy(tmp_path, "{not json")
    with caplog.at_level(logging.WARNING, logger="trainer"), pytest.raises(UserError) as error:
        load_trained_model(tmp_path / "m")
    assert "damaged" in str(error.value)  # it found the restored model card
    assert (tmp_path / "m" / "model.json").read_text() == "{not json"
    assert "restored the previous model" in caplog.text


def test_a_model_interrupted_after_publishing_says_it_was_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainer import pipeline
    from trainer.cli import train as cli

    def publish_then_interrupt(*args: object, models_dir: Path, **kwargs: object) -> None:
        publish(models_dir, "new")
        raise KeyboardInterrupt

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    args = ["train", "--data", str(EXAMPLES), "--model", "m", "--models-dir", str(tmp_path)]
    monkeypatch.setattr(pipeline, "train", interrupt)
    assert cli.main([*args, "--quiet"]) == 130
    assert "interrupted; no model was written" in capsys.readouterr().err
    monkeypatch.setattr(pipeline, "train", publish_then_interrupt)
    assert cli.main([*args, "--quiet"]) == 130
    assert f"the new model was already published to {tmp_path / 'm'}" in capsys.readouterr().err
    monkeypatch.setattr(pipeline, "train", interrupt)
    assert cli.main([*args, "--quiet"]) == 130
    assert "interrupted; the previous model was left unchanged" in capsys.readouterr().err


def test_a_real_model_lost_between_the_renames_is_loaded_again(
    tmp_path: Path, trained_example_model: Path
) -> None:
    before = load_trained_model(trained_example_model)
    shutil.copytree(trained_example_model, tmp_path / f".default.old-{dead_pid()}-abcd1234")
    after = load_trained_model(tmp_path / "default")
    assert after.version == before.version and after.path == tmp_path / "default"
    assert [p.name for p in tmp_path.iterdir()] == ["default"]
