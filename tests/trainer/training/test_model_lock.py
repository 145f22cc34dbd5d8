"""One training run of a model at a time (issue 23): a second `intent-train train` of the
same model is refused at its start, naming the run that holds it; other models, and the
same model once the first run ended (even killed), train as before."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fixtures.paths import ROOT
from trainer.errors import UserError
from trainer.training.model_store import model_lock

HOLD = """
import sys, time
from pathlib import Path
from trainer.training.model_store import model_lock
with model_lock(Path(sys.argv[1]), sys.argv[2]):
    print("locked", flush=True)
    time.sleep(600)
"""


@contextmanager
def held_by_another_process(models: Path, name: str) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(models), name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_a_second_run_of_the_same_model_is_refused(tmp_path: Path) -> None:
    with held_by_another_process(tmp_path, "m") as holder:
        with pytest.raises(UserError) as refused, model_lock(tmp_path, "m"):
            pass
        message = str(refused.value)
        assert f"model 'm' in {tmp_path} is being trained by another run" in message
        assert f"pid {holder.pid}, started" in message and "--model" in message
        with model_lock(tmp_path, "other"):  # another model trains side by side
            pass


def test_the_lock_goes_with_its_run_even_a_killed_one(tmp_path: Path) -> None:
    with held_by_another_process(tmp_path, "m") as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with model_lock(tmp_path, "m"):
        assert (tmp_path / ".m.lock").exists()
    assert not (tmp_path / ".m.lock").exists()  # a run that ends leaves nothing behind


def test_intent_train_refuses_the_second_run_before_any_work(tmp_path: Path) -> None:
    data = tmp_path / "bot.yml"
    data.write_text(
        "version: 1\nintents:\n"
        + "".join(
            f"  {intent}:\n    examples:\n"
            + "".join(f"      - {intent} example {i}\n" for i in range(4))
            for intent in ("greet", "bye")
        )
    )
    models = tmp_path / "models"
    command = [sys.executable, "-m", "trainer.cli", "train", "--data", str(data)]
    with held_by_another_process(models, "default"):
        done = subprocess.run(
            [*command, "--models-dir", str(models)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert "is being trained by another run" in done.stderr and "Traceback" not in done.stderr
    assert "written to" not in done.stdout
