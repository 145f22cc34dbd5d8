"""The server over many bots, measured as a real process: RSS after loading, start to
SERVING, throughput of clients spread over the bots against all on one bot, and one bot
reloaded under traffic.

`code_root` runs another checkout's server (e.g. the code before a change, unpacked with
`git archive`) against the same bots in the same run, so before and after compare on the
same machine at the same time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.farm.copies import make_bot
from bench.server_process import RunningServer, intent_server
from intent_server.client import IntentClient, IntentClientError
from intent_server.core.exports import resolve_current

TEXTS = (
    "wake me up at 7 tomorrow",
    "what's the weather in paris",
    "send a message to anna",
    "how much money do i have",
    "play some jazz",
    "book a table for two tonight",
    "thanks a lot",
    "translate hello into french",
)
SETTLE_S = 5.0  # after SERVING: the batch-mode timing runs in the background meanwhile


Server = RunningServer


@contextmanager
def server(
    export_dir: Path,
    extra_args: Sequence[str] = (),
    code_root: Path | None = None,
    timeout_s: float = 900.0,
    log_path: Path | None = None,
) -> Iterator[Server]:
    """`python -m intent_server --model all` over `export_dir` (from `code_root` when given)
    on a free port; start to SERVING timed from the process start; SIGTERM on exit."""
    with intent_server(
        export_dir,
        "all",
        extra_args,
        log_path,
        code_root=code_root,
        timeout_s=timeout_s,
        log_level="INFO",
    ) as running:
        yield running


@dataclass(frozen=True)
class Load:
    clients: int
    bots: int
    seconds: float
    requests: int
    errors: dict[str, int]

    @property
    def throughput_rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def _client(
    target: str,
    models: Sequence[str],
    offset: int,
    stop: threading.Event,
    done: list[int],
    errors: Counter[str],
) -> None:
    with IntentClient(target, timeout=30.0) as client:
        index = offset
        while not stop.is_set():
            model = models[index % len(models)]
            try:
                client.classify(TEXTS[index % len(TEXTS)], model=model)
                done[0] += 1
            except IntentClientError as exc:
                errors[exc.code.name] += 1
            index += 1


class Traffic:
    """`clients` threads calling back to back while the `with` block runs, each going round
    `models` (client i starts at bot i, so every bot gets calls); `load` once it ended."""

    def __init__(self, target: str, models: Sequence[str], clients: int) -> None:
        self._models = list(models)
        self._stop = threading.Event()
        self._counts = [[0] for _ in range(clients)]
        self._errors: Counter[str] = Counter()
        self._threads = [
            threading.Thread(
                target=_client,
                args=(target, self._models, i, self._stop, self._counts[i], self._errors),
                daemon=True,
            )
            for i in range(clients)
        ]
        self._began = 0.0
        self.load: Load | None = None

    def __enter__(self) -> Traffic:
        self._began = time.perf_counter()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        elapsed = time.perf_counter() - self._began
        requests = sum(count[0] for count in self._counts)
        clients = len(self._threads)
        self.load = Load(clients, len(self._models), elapsed, requests, dict(self._errors))

    def result(self) -> Load:
        if self.load is None:
            raise RuntimeError("the traffic is still running")
        return self.load


def run_load(target: str, models: Sequence[str], clients: int, seconds: float) -> Load:
    """`clients` clients over `models` for `seconds` (after one warm-up call per bot)."""
    with IntentClient(target, timeout=60.0) as client:
        for model in models:
            client.classify(TEXTS[0], model=model)
    with Traffic(target, models, clients) as running:
        time.sleep(seconds)
    return running.result()


def reload_under_traffic(
    target: str, export_dir: Path, models: Sequence[str], bot: str, clients: int
) -> tuple[Load, float]:
    """A new version of `bot` (another head) published while `clients` call every bot; the
    server (started with `--watch`) swaps it. Returns the traffic's Load and the seconds until
    the new version answered. Traffic runs on past the old version's retirement."""
    source = resolve_current(export_dir, bot)
    with Traffic(target, models, clients) as running:
        time.sleep(2.0)
        version = make_bot(source, export_dir, bot, seed=10_000, suffix="reloaded").name
        began = time.perf_counter()
        with IntentClient(target, timeout=10.0) as client:
            while client.model_info(bot).version != version:
                if time.perf_counter() - began > 120:
                    raise RuntimeError(f"{bot} was not reloaded to {version} within 120 s")
                time.sleep(0.05)
        swapped = time.perf_counter() - began
        time.sleep(8.0)  # past the old version's retirement (--grace-seconds 5)
    return running.result(), swapped


@dataclass(frozen=True)
class StartResult:
    bots: int
    start_to_serving_s: float
    rss_mb: float  # SETTLE_S after SERVING, before any call


def measure_start(
    export_dir: Path, bots: int, code_root: Path | None = None, log_path: Path | None = None
) -> StartResult:
    """Start a server over every bot in `export_dir`: start to SERVING and RSS once settled."""
    with server(export_dir, code_root=code_root, log_path=log_path) as running:
        time.sleep(SETTLE_S)
        return StartResult(bots, running.start_to_serving_s, running.rss_mb())
