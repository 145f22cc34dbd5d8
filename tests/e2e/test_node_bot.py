"""The Node.js example bot (examples/node-bot/): its own `node --test` suite, run against the
session's in-process server with the bundled example bot. Needs `node` (>= 18) and `npm` on
PATH, and the npm registry (or npm's cache) for `npm ci`; skipped otherwise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from intent_server.process import IntentServer
from tests.fixtures.paths import ROOT

NODE_BOT = ROOT / "examples" / "node-bot"
NO_NODE = "node/npm not on PATH: install Node.js ≥18 to run the Node.js example's tests"


def node_major_version(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    match = re.match(r"v(\d+)\.", version.stdout.strip())
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="session")
def npm() -> str:
    """The npm executable, after `npm ci` installed the example's locked dependencies."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(NO_NODE)
    if (major := node_major_version(node)) < 18:
        pytest.skip(
            f"node is version {major}: install Node.js ≥18 to run the Node.js example's tests"
        )
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
        cwd=NODE_BOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return npm


def test_node_bot_tests_pass_against_the_server(npm: str, intent_server: IntentServer) -> None:
    # Without the caller's INTENT_* settings, which could point the bot elsewhere.
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTENT_")}
    env["INTENT_SERVER"] = intent_server.address
    done = subprocess.run(
        [npm, "test"], cwd=NODE_BOT, env=env, capture_output=True, text=True, timeout=300
    )
    output = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, f"node --test failed:\n{output}"
    # The suites that need the server ran: none was skipped for want of INTENT_SERVER.
    assert "INTENT_SERVER is not set" not in output, output
    assert re.search(r"^# pass [1-9]", output, re.MULTILINE), output
