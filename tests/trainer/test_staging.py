"""Temp folders beside their destination: private names, and left-overs of killed runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trainer.staging import pid_alive, remove_stale, temp_folder


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
