"""Usable CPUs from affinity and cgroup quotas, and the server's `--threads auto`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from intent_server.core import cpus


def test_auto_threads_divides_cpus_among_workers_and_caps() -> None:
    assert cpus.auto_threads(1, cpus=1) == 1
    assert cpus.auto_threads(1, cpus=2) == 2
    assert cpus.auto_threads(1, cpus=64) == cpus.MAX_AUTO_THREADS
    assert cpus.auto_threads(2, cpus=2) == 1
    assert cpus.auto_threads(8, cpus=2) == 1


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 1.5), ("50000 100000\n", 0.5), ("junk", None)],
)
def test_cgroup_v2_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str, expected: float | None
) -> None:
    limit = tmp_path / "cpu.max"
    limit.write_text(cpu_max)
    monkeypatch.setattr(cpus, "_CGROUP_V2", limit)
    assert cpus._quota_cpus() == expected


def test_quota_caps_usable_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = tmp_path / "cpu.max"
    limit.write_text("50000 100000\n")  # half a CPU still gets one thread
    monkeypatch.setattr(cpus, "_CGROUP_V2", limit)
    assert cpus.usable_cpus() == 1


def test_without_quota_affinity_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpus, "_CGROUP_V2", tmp_path / "absent")
    monkeypatch.setattr(cpus, "_CGROUP_V1", (tmp_path / "q", tmp_path / "p"))
    assert cpus.usable_cpus() == len(os.sched_getaffinity(0))
