"""Temp folders beside their destination: private names, left-overs of killed runs, and the
two ways a finished folder is published (replacing a folder, or taking a new name)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.errors import UserError
from trainer.staging import (
    pid_alive,
    remove_stale,
    rename_new_folder,
    replace_folder,
    staged_folder,
    temp_folder,
)


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
    (tmp_path / "m").mkdir()  # a published model is never touched
    remove_stale(tmp_path)
    assert not stale.exists() and not other.exists() and live.exists()
    assert (tmp_path / "m").exists()


def test_temp_folders_name_their_writer_and_are_readable_by_others(tmp_path: Path) -> None:
    folder = temp_folder(tmp_path, "v1")
    assert folder.name.startswith(f".v1.tmp-{os.getpid()}-")
    assert folder.stat().st_mode & 0o055 == 0o055 & ~_umask()
    assert pid_alive(os.getpid()) and not pid_alive(dead_pid())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_staged_folder_replaces_the_old_one_or_is_removed_on_failure(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "card").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(tmp_path, "m", "models folder") as tmp:
        (tmp / "card").write_text("half")
        raise RuntimeError("interrupted")
    assert (tmp_path / "m" / "card").read_text() == "old"
    with staged_folder(tmp_path, "m", "models folder") as tmp:
        (tmp / "card").write_text("new")
        replace_folder(tmp, tmp_path / "m")
    assert (tmp_path / "m" / "card").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_new_folder_never_replaces_one_that_appeared_meanwhile(tmp_path: Path) -> None:
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "manifest").write_text("the other run's")
    with staged_folder(tmp_path, "v1", "export folder") as tmp:
        (tmp / "manifest").write_text("ours")
        with pytest.raises(UserError, match="another export ran at the same time"):
            rename_new_folder(tmp, tmp_path / "v1", "export")
    assert (tmp_path / "v1" / "manifest").read_text() == "the other run's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1"]
