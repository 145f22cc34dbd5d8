"""`intent-train train` on full disks (issue 23): a full `--models-dir` is one line naming
the file system and what to free, exit 1, the previous model intact; a full `--cache-dir`
is one warning, and the training carries on without caching.

Each case runs twice: on a real full file system (a small tmpfs; skipped where this process
may not mount one) and with the full disk's error injected where the files are written."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from tests.fixtures.disks import fill_up, no_space
from tests.fixtures.paths import EXAMPLES
from trainer.cli.train import main
from trainer.data import load_training_data
from trainer.pipeline import TrainOptions, train

FAST = ["--epochs", "12", "--patience", "3"]
CACHE_WARNING = "embedding cache cannot be written"


@pytest.fixture(scope="module")
def small_bot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three intents of the example bot as a YAML file (trains in seconds)."""
    data = load_training_data(EXAMPLES)
    keep = ("set_alarm", "play_music", "check_balance")
    lines = ["version: 1", "intents:"]
    for intent in keep:
        lines += [f"  {intent}:", "    examples:"]
        lines += [f"      - {json.dumps(e.text)}" for e in data.examples if e.intent == intent]
    path = tmp_path_factory.mktemp("small-bot") / "bot.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def train_cli(bot: Path, models: Path, cache: Path) -> int:
    args = ["train", "--data", str(bot), "--models-dir", str(models), "--cache-dir", str(cache)]
    return main([*args, *FAST])


def digest(folder: Path) -> str:
    return hashlib.sha256((folder / "model.json").read_bytes()).hexdigest()


def check_full_models_dir(
    code: int, stderr: str, models: Path, before: str, disk: Path | None = None
) -> None:
    assert code == 1 and "Traceback" not in stderr
    [line] = [line for line in stderr.splitlines() if "error" in line.lower()]
    assert line.startswith("intent-train: error: no space left on the file system at")
    if disk is not None:
        assert f"file system at {disk} (" in line
    assert "free at least" in line and line.endswith("the previous model was left unchanged")
    assert digest(models / "default") == before
    assert sorted(p.name for p in models.iterdir()) == ["default"]  # no temp folder left


def test_a_full_models_dir_is_one_line_and_the_model_stays(
    small_bot: Path,
    embedding_cache_dir: Path,
    small_disk: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    models = small_disk / "models"
    assert train_cli(small_bot, models, embedding_cache_dir) == 0
    before = digest(models / "default")
    fill_up(small_disk)
    capsys.readouterr()
    code = train_cli(small_bot, models, embedding_cache_dir)
    check_full_models_dir(code, capsys.readouterr().err, models, before, small_disk)


def test_a_full_models_dir_injected(
    small_bot: Path,
    embedding_cache_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    models = tmp_path / "models"
    assert train_cli(small_bot, models, embedding_cache_dir) == 0
    before = digest(models / "default")

    def full(head: object, path: Path) -> None:
        raise no_space(path)

    monkeypatch.setattr("trainer.pipeline.save_head", full)
    capsys.readouterr()
    code = train_cli(small_bot, models, embedding_cache_dir)
    check_full_models_dir(code, capsys.readouterr().err, models, before)


def train_with_cache(bot: Path, models: Path, cache: Path) -> Path:
    result = train(
        load_training_data(bot),
        model_name="default",
        models_dir=models,
        options=TrainOptions(epochs=12, patience=3),
        cache_dir=cache,
    )
    return result.model_dir


def test_a_full_cache_dir_is_one_warning_and_training_goes_on(
    small_bot: Path, small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fill_up(small_disk)
    caplog.set_level(logging.WARNING)
    model = train_with_cache(small_bot, tmp_path / "models", small_disk / "cache")
    assert (model / "model.json").is_file()
    warnings = [r.message for r in caplog.records if CACHE_WARNING in r.message]
    assert len(warnings) == 1 and f"file system at {small_disk}" in warnings[0]


def test_a_full_cache_dir_injected(
    small_bot: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def full(path: Path, *args: object) -> None:
        raise no_space(path)

    monkeypatch.setattr("trainer.features.cache.write_cache_file", full)
    monkeypatch.setattr("trainer.features.onnx_features.build_graph", full)
    caplog.set_level(logging.WARNING)
    model = train_with_cache(small_bot, tmp_path / "models", tmp_path / "cache")
    assert (model / "model.json").is_file()
    assert sum(CACHE_WARNING in r.message for r in caplog.records) == 1
