"""Load generator, run as its own process: `python -m bench.loadgen --target HOST:PORT ...`.

Client threads call ClassifyIntent back to back with texts from a fixed list for a bounded
time; prints one JSON object (latency percentiles in ms, throughput, error counts). It
imports only the typed client, so it never competes with the server for torch or models.
`run_node_loadgen` drives the Node.js client (`bench/node/loadgen.mjs`) the same way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from bench.result_types import LoadPhase, Percentiles
from intent_server.client import IntentClient, IntentClientError
from intent_server.core.options import Program, option, options_from_args

WARM_UP_CALLS = 10  # per client, before the measured phase
# The Node.js load client, `bench/node/loadgen.mjs`: one @grpc/grpc-js client calling the
# server back to back, as a Node.js bot would, with the packages of examples/node-bot
# (installed by `npm ci` from its lockfile); without node and npm its phases are skipped.
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


def run_loadgen(
    target: str,
    texts_file: Path,
    clients: Sequence[int],
    seconds: float,
    raw: bool = False,
    method: str = "classify",
    models: Sequence[str] = (),
) -> list[LoadPhase]:
    """This module in its own process: the phases' results (one per client count).
    `method="health"`: health checks instead, the server's empty round trip."""
    command = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--target",
        target,
        "--texts",
        str(texts_file),
        "--seconds",
        str(seconds),
        "--clients",
        *[str(c) for c in clients],
        *(["--raw"] if raw else []),
        "--method",
        method,
        *(["--models", *models] if models else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return cast(list[LoadPhase], json.loads(done.stdout)["phases"])


def percentiles_ms(latencies: Sequence[float]) -> Percentiles:
    """p50/p90/p99/mean in milliseconds from latencies in seconds (NaN for none)."""
    if not latencies:
        nan = float("nan")
        return {"p50_ms": nan, "p90_ms": nan, "p99_ms": nan, "mean_ms": nan}
    values = np.asarray(latencies) * 1000.0
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p90_ms": float(np.percentile(values, 90)),
        "p99_ms": float(np.percentile(values, 99)),
        "mean_ms": float(values.mean()),
    }


def _worker(
    target: str,
    texts: Sequence[str],
    offset: int,
    start_at: float,
    stop_at: float,
    latencies: list[float],
    errors: Counter[str],
    method: str,
    models: Sequence[str] = (),
) -> None:
    with IntentClient(target, timeout=10.0) as client:

        def call(text: str, index: int) -> object:
            if method != "classify":
                return client.health()
            return client.classify(text, model=models[index % len(models)] if models else "")

        # Connect and warm up before the clock starts, as the in-process baselines do
        # (bench.speed.time_calls): the first calls after an idle spell find cold caches.
        for warm in range(WARM_UP_CALLS):
            call(texts[(offset + warm) % len(texts)], offset + warm)
        index = offset
        while time.perf_counter() < start_at:
            time.sleep(0.001)
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            try:
                call(texts[index % len(texts)], index)
                latencies.append(time.perf_counter() - began)
            except IntentClientError as exc:
                errors[exc.code.name] += 1
            index += 1


def run_load(
    target: str,
    texts: Sequence[str],
    clients: int,
    seconds: float,
    raw: bool = False,
    method: str = "classify",
    models: Sequence[str] = (),
) -> LoadPhase:
    """`clients` threads for `seconds`; each thread keeps one call in flight. `raw` adds every
    call's latency (`latencies_ms`), so phases run at different times can be pooled.
    `models`: each call goes to the next of these models (none: the default model)."""
    # Room for every client's warm-up calls (about 5 ms each on a loaded 2-CPU server).
    start_at = time.perf_counter() + 0.5 + 0.005 * WARM_UP_CALLS * clients
    stop_at = start_at + seconds
    per_thread: list[list[float]] = [[] for _ in range(clients)]
    errors: Counter[str] = Counter()
    threads = [
        threading.Thread(
            target=_worker,
            args=(target, texts, i * 7, start_at, stop_at, per_thread[i], errors, method, models),
            daemon=True,
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60.0)
    elapsed = max(time.perf_counter(), stop_at) - start_at
    latencies = [value for values in per_thread for value in values]
    times = percentiles_ms(latencies)
    result: LoadPhase = {
        "clients": clients,
        "seconds": elapsed,
        "requests": len(latencies),
        "throughput_rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "errors": dict(errors),
        "p50_ms": times["p50_ms"],
        "p90_ms": times["p90_ms"],
        "p99_ms": times["p99_ms"],
        "mean_ms": times["mean_ms"],
    }
    if raw:
        result["latencies_ms"] = [round(value * 1000.0, 4) for value in latencies]
    return result


@dataclass(frozen=True)
class LoadOptions:
    target: str = field(metadata=option(help="HOST:PORT of the server"))
    texts: Path = field(metadata=option(parse=Path, help="JSON file with a list of texts to send"))
    clients: tuple[int, ...] = field(
        default=(1,),
        metadata=option(parse=int, nargs="+", help="concurrent client counts, one phase each"),
    )
    seconds: float = field(default=5.0, metadata=option(help="duration of each phase"))
    raw: bool = field(
        default=False, metadata=option(help="also print every call's latency (latencies_ms)")
    )
    method: str = field(
        default="classify",
        metadata=option(
            choices=("classify", "health"),
            help="ClassifyIntent, or health Check: the server's empty round trip",
        ),
    )
    models: tuple[str, ...] = field(
        default=(),
        metadata=option(nargs="+", help="spread the calls over these models, each call the next"),
    )


LOAD_GENERATOR = Program(
    "python -m bench.loadgen",
    "Drive an intent server with concurrent ClassifyIntent calls; prints JSON. The benchmark "
    "runs it as its own process.",
    options=(LoadOptions,),
)


def parse_args(argv: Sequence[str] | None = None) -> LoadOptions:
    return options_from_args(LOAD_GENERATOR.parse_args(argv), LoadOptions)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    texts = json.loads(args.texts.read_text(encoding="utf-8"))
    phases = [
        run_load(args.target, texts, clients, args.seconds, args.raw, args.method, args.models)
        for clients in args.clients
    ]
    print(json.dumps({"phases": phases}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
