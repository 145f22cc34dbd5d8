"""The Node.js load client (`bench/node/loadgen.mjs`): one @grpc/grpc-js client calling the
server back to back, as a Node.js bot would. It uses the packages of examples/node-bot
(installed with `npm ci` from its lockfile); without node and npm the phase is skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_BOT = ROOT / "examples" / "node-bot"
LOADGEN = ROOT / "bench" / "node" / "loadgen.mjs"


def node_client_ready() -> str:
    """ "" when the Node.js client can run (after `npm ci` if needed), else why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are not on PATH"
    if not (NODE_BOT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=NODE_BOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            return f"npm ci in {NODE_BOT} failed: {done.stderr.strip()[-300:]}"
    return ""


def run_node_loadgen(target: str, texts_file: Path, seconds: float, method: str) -> list[float]:
    """Every call's latency in seconds over `seconds` of back-to-back calls (`method`:
    "classify" or "health"); raises RuntimeError when a call failed or node did."""
    command = ["node", str(LOADGEN), "--target", target, "--texts", str(texts_file)]
    command += ["--seconds", str(seconds), "--method", method]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise RuntimeError(f"the Node.js load client failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout)
    if result["errors"]:
        raise RuntimeError(f"the Node.js load client saw {result['errors']} failed calls")
    return [value / 1000.0 for value in result["latencies_ms"]]
