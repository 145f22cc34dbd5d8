"""The open-file limit raised at start, and the HTTP connection cap kept below it."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from intent_server.open_files import MOST_AUTO_CONNECTIONS, connection_cap


@pytest.mark.parametrize(
    ("open_files", "cap"),
    [(1024, 768), (4096, 3072), (256, 128), (65536, MOST_AUTO_CONNECTIONS), (20, 10)],
)
def test_auto_leaves_a_quarter_for_the_servers_own_files(open_files: int, cap: int) -> None:
    assert connection_cap(0, open_files) == cap


def test_a_configured_cap_is_kept_below_the_limit(caplog: pytest.LogCaptureFixture) -> None:
    assert connection_cap(500, 1024) == 500
    assert connection_cap(5000, 1024) == 768
    assert "--http-max-connections 5000 is more than the open-file limit (1024)" in caplog.text


def test_the_soft_limit_is_raised_to_the_hard_one() -> None:
    """In a child whose soft limit is below its hard one (this process keeps its own)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 512:
        pytest.skip(f"hard open-file limit {hard} leaves nothing to raise")
    code = (
        "import resource; from intent_server.open_files import raise_open_file_limit; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit("
        "resource.RLIMIT_NOFILE)[1])); print(raise_open_file_limit(), "
        "resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    raised, now = map(int, done.stdout.split())
    assert raised == now > 256
