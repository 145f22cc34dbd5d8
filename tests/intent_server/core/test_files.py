"""Crash-safe writes and streaming hashes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from intent_server.core.files import atomic_write, sha256_file, umask, write_json


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "current"
    atomic_write(target, "v1\n")
    atomic_write(target, b"v2", "\n")
    assert target.read_text() == "v2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["current"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask()  # readable by a server user


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.json"
    write_json(target, {"version": 1})

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_json(target, {"version": 2})
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]


def test_sha256_streams_large_files(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "big.bin").write_bytes(data)
    assert sha256_file(tmp_path / "big.bin") == hashlib.sha256(data).hexdigest()
