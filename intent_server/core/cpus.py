"""How many CPUs this process may really use, and the ORT thread count that follows from it.

`os.cpu_count()` reports the host; a container is limited by its CPU affinity and by a
cgroup quota (Kubernetes `resources.limits.cpu`). Threads beyond that limit only add
contention, so the server's `--threads auto` is derived from the smaller of the two.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# Past two threads a one-sentence encoder run (about a dozen tokens) gains little and each
# run pays more synchronisation; two was measured faster than one on a 2-CPU machine when
# the workers spin within a run (bench/results/RESULTS.md).
MAX_AUTO_THREADS = 2
_CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1 = (
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
)


def _quota_cpus() -> float | None:
    """CPUs granted by a cgroup CPU quota, or None when unlimited or unknown."""
    try:
        if _CGROUP_V2.exists():
            quota, period = _CGROUP_V2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        quota_file, period_file = _CGROUP_V1
        if quota_file.exists() and period_file.exists():
            quota_us = int(quota_file.read_text())
            return None if quota_us <= 0 else quota_us / int(period_file.read_text())
    except (OSError, ValueError):
        return None
    return None


def usable_cpus() -> int:
    """CPUs this process may run on: affinity, capped by a cgroup quota (rounded up)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        count = os.cpu_count() or 1
    quota = _quota_cpus()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def auto_threads(workers: int = 1, cpus: int | None = None) -> int:
    """ORT intra-op threads per session for `--threads auto`: the usable CPUs shared among
    the worker processes, at most MAX_AUTO_THREADS."""
    available = usable_cpus() if cpus is None else cpus
    return max(1, min(MAX_AUTO_THREADS, available // max(1, workers)))
