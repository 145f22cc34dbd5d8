"""Speed: the server under load from another process, against in-process baselines.

Baselines, measured in the same run on the same texts:
1. the article's path: `SentenceTransformer.encode([text])` + the torch MLP, one text at a time,
   the served export in-process, and the server's empty round trip (health Check), in rounds
   alternating with the server's 1-client phase from a Python and a Node.js client
   (`paired_single_client`);
2. the exported encoder + head in a tight in-process loop (batch 1 and batch 32), with the
   server's default thread count;
3. the server with micro-batching off (`--no-batching`);
4. the server with the HTTP/JSON listener on (`--http-port`): its gRPC numbers against the
   default server's, and an HTTP client's 1-client latency.

Every server here runs with `--cache-size 0`: the bars are measured on the model's path (the
texts cycle, and a cache would answer repeats); `bench.repeated` measures the cache apart.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.loadgen import node_client_ready, percentiles_ms, run_loadgen, run_node_loadgen
from bench.repeated import run_repeated
from bench.result_types import (
    ClientRun,
    HttpRun,
    OnnxBaseline,
    Paired,
    PairedRun,
    ServerRun,
    SpeedResults,
    SpeedTexts,
)
from bench.server_process import free_port, intent_server
from intent_server.core.cpus import auto_threads
from intent_server.core.exports import load_export, resolve_current
from intent_server.core.intent_model import IntentModel
from intent_server.serving.row_mode import PARALLEL, SEQUENTIAL

CONCURRENCY = (8, 32, 64)
NO_CACHE = ("--cache-size", "0")
BATCH = 32
PAIRED_ROUNDS = 5


@dataclass(frozen=True)
class SpeedSettings:
    latency_seconds: float = 10.0  # the 1-client phase
    load_seconds: float = 6.0  # each concurrent phase
    baseline_texts: int = 300  # texts timed one by one in-process
    batch_rounds: int = 20  # batches of 32 timed in-process


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def text_mix(texts: Sequence[str], count: int = 200) -> list[str]:
    """A fixed mix of real utterances spread over the length range (short to long)."""
    ordered = sorted(set(texts), key=lambda t: (len(t), t))
    picks = np.linspace(0, len(ordered) - 1, num=min(count, len(ordered))).round().astype(int)
    mixed = [ordered[i] for i in picks]
    rng = np.random.default_rng(0)
    return [mixed[i] for i in rng.permutation(len(mixed))]


def time_calls(call: Callable[[str], object], texts: Sequence[str], count: int) -> list[float]:
    """Seconds per call over `count` texts, after a warm-up on the first ten."""
    for text in texts[:10]:
        call(text)
    latencies = []
    for i in range(count):
        began = time.perf_counter()
        call(texts[i % len(texts)])
        latencies.append(time.perf_counter() - began)
    return latencies


def load_article_path(models_dir: Path, model: str) -> Callable[[str], object]:
    """The article's in-process path: SentenceTransformer.encode([text]) + torch MLP (with
    multi-layer features: the same transformer pass, pooled per layer)."""
    import torch

    from trainer.features.torch_features import load_sentence_transformer, torch_features
    from trainer.training.model_store import load_trained_model

    trained = load_trained_model(models_dir / model)
    identity = trained.card.encoder
    st = load_sentence_transformer(identity.path, identity.num_layers)

    def classify(text: str) -> object:
        with torch.inference_mode():
            embedding = torch_features(st, [text], identity)
            return torch.softmax(trained.head(embedding), dim=-1).argmax().item()

    return classify


@dataclass(frozen=True)
class InProcessPaths:
    """What the server's 1-client phase is paired with: one text in, its answer out."""

    article: Callable[[str], object]  # SentenceTransformer.encode + the torch MLP
    model: Callable[[str], object]  # the served export, in-process, the server's threads


# One measurement repeated in every round: (round index, seconds) -> latencies in seconds.
PhaseRun = Callable[[int, float], list[float]]


def _in_process(call: Callable[[str], object], texts: Sequence[str], count: int) -> PhaseRun:
    def run(round_index: int, _seconds: float) -> list[float]:
        start = round_index * count % len(texts)
        return time_calls(call, [*texts[start:], *texts[:start]], count)

    return run


def _python_client(target: str, texts_file: Path, method: str) -> PhaseRun:
    def run(_round_index: int, seconds: float) -> list[float]:
        phase = run_loadgen(target, texts_file, [1], seconds, raw=True, method=method)[0]
        if sum(phase["errors"].values()):
            raise RuntimeError(f"the 1-client {method} phase saw errors: {phase['errors']}")
        return [value / 1000.0 for value in phase["latencies_ms"]]

    return run


def _node_client(target: str, texts_file: Path, method: str) -> PhaseRun:
    return lambda _round, seconds: run_node_loadgen(target, texts_file, seconds, method)


def paired_single_client(
    target: str,
    texts_file: Path,
    baselines: InProcessPaths,
    texts: Sequence[str],
    settings: SpeedSettings,
) -> Paired:
    """The server's 1-client latency against its baselines, measured in alternating rounds.

    A shared VM drifts by 30 % over minutes; measuring every side of a ratio back to back in
    PAIRED_ROUNDS rounds puts the same machine state under each. Per round: the article
    path, the exported model in-process (the server's variant and threads), the server's
    1-client ClassifyIntent and health Check (the empty round trip) from the Python client,
    and the same two from a Node.js client when node and npm are present. The server is
    idle while the in-process paths run (its ORT threads stop spinning after each call).
    Returns each phase's percentiles by name (client phases with their throughput too)."""
    import torch

    per_round = max(1, settings.baseline_texts // PAIRED_ROUNDS)
    seconds = settings.latency_seconds / PAIRED_ROUNDS
    phases = {
        "article_inprocess": _in_process(baselines.article, texts, per_round),
        "model_inprocess": _in_process(baselines.model, texts, per_round),
        "python_client": _python_client(target, texts_file, "classify"),
        "python_round_trip": _python_client(target, texts_file, "health"),
    }
    skipped = node_client_ready()
    if not skipped:
        phases["node_client"] = _node_client(target, texts_file, "classify")
        phases["node_round_trip"] = _node_client(target, texts_file, "health")
    latencies: dict[str, list[float]] = {name: [] for name in phases}
    for round_index in range(PAIRED_ROUNDS):
        for name, run in phases.items():
            latencies[name] += run(round_index, seconds)
    runs = {name: _paired_run(values) for name, values in latencies.items()}
    runs["article_inprocess"]["torch_threads"] = torch.get_num_threads()
    paired: Paired = {
        "article_inprocess": runs["article_inprocess"],
        "model_inprocess": runs["model_inprocess"],
        "python_client": runs["python_client"],
        "python_round_trip": runs["python_round_trip"],
    }
    if skipped:
        paired["node_client_skipped"] = skipped
    else:
        paired["node_client"] = runs["node_client"]
        paired["node_round_trip"] = runs["node_round_trip"]
    return paired


def _paired_run(values: list[float]) -> PairedRun:
    times = percentiles_ms(values)
    return {
        "clients": 1,
        "rounds": PAIRED_ROUNDS,
        "p50_ms": times["p50_ms"],
        "p90_ms": times["p90_ms"],
        "p99_ms": times["p99_ms"],
        "mean_ms": times["mean_ms"],
        "requests": len(values),
        "throughput_rps": len(values) / sum(values) if values else 0.0,
    }


def side_by_side(model: IntentModel) -> bool:
    """Run an INT8 model's batches with their texts side by side, as the server does on 2+
    CPUs (`serving.row_mode`); False when there is nothing to switch (fp32, one thread)."""
    if not model.row_wise or model.threads < 2:
        return False
    model.use_parallel_rows(model.open_parallel_rows(model.threads))
    return True


def _batched_rate(model: IntentModel, batches: Sequence[list[str]], rounds: int) -> float:
    model.predict(batches[0])
    began = time.perf_counter()
    for i in range(rounds):
        model.predict(batches[i % len(batches)])
    return rounds * BATCH / (time.perf_counter() - began)


def onnx_baseline(
    version_dir: Path, variant: str, texts: Sequence[str], settings: SpeedSettings
) -> OnnxBaseline:
    """The exported encoder + head in a tight loop, batch 1 and batch 32, with the thread
    count the server uses by default (`--threads auto`). INT8 batches are timed both ways
    the server may run them (texts one after another, or side by side on one-thread
    sessions); "batch32" is the faster, the best the server could do."""
    threads = auto_threads()
    model = load_export(version_dir, variant).open(threads)
    model.warm_up()
    single = time_calls(lambda t: model.predict([t]), texts, settings.baseline_texts)
    batches = [list(texts[i : i + BATCH]) for i in range(0, len(texts) - BATCH + 1, BATCH)]
    modes = {SEQUENTIAL: _batched_rate(model, batches, settings.batch_rounds)}
    if side_by_side(model):
        modes[PARALLEL] = _batched_rate(model, batches, settings.batch_rounds)
    best = max(modes, key=modes.__getitem__)
    return {
        "variant": variant,
        "threads": threads,
        "batch1": {**percentiles_ms(single), "throughput_tps": len(single) / sum(single)},
        "batch32": {"throughput_tps": modes[best], "row_mode": best},
        "batch32_modes": modes,
    }


def http_single_client(port: int, texts: Sequence[str], seconds: float) -> HttpRun:
    """One HTTP client, one keep-alive connection, `POST /v1/classify` back to back."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    bodies = [json.dumps({"text": text}).encode("utf-8") for text in texts]

    def call(body: bytes) -> int:
        connection.request("POST", "/v1/classify", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return int(response.status)

    for body in bodies[:10]:
        call(body)
    latencies: list[float] = []
    errors = 0
    ends = time.perf_counter() + seconds
    while time.perf_counter() < ends:
        began = time.perf_counter()
        errors += call(bodies[len(latencies) % len(bodies)]) != 200
        latencies.append(time.perf_counter() - began)
    connection.close()
    return {"clients": 1, "requests": len(latencies), "errors": errors, **percentiles_ms(latencies)}


def server_run(
    export_dir: Path,
    model: str,
    texts_file: Path,
    settings: SpeedSettings,
    extra_args: Sequence[str],
    log_path: Path,
    baselines: InProcessPaths | None = None,
    texts: Sequence[str] = (),
    http_port: int = 0,
) -> tuple[ServerRun, Paired | None]:
    """One server process: start-up time, 1-client latency, concurrent phases, RSS. With
    `baselines`, the 1-client phase alternates with them (`paired_single_client`, over
    `texts`, those in `texts_file`) and every paired phase is returned too. With
    `http_port` (the server's `--http-port`), an HTTP client's 1-client phase over `texts`
    follows, under "http_single_client"."""
    with intent_server(export_dir, model, [*NO_CACHE, *extra_args], log_path) as server:
        rss_idle = server.rss_mb()
        label = " ".join(extra_args) or "(default)"
        _say(f"server {label}: SERVING after {server.start_to_serving_s:.2f} s; 1 client")
        paired: Paired | None = None
        single: ClientRun
        if baselines is None:
            single = run_loadgen(server.target, texts_file, [1], settings.latency_seconds)[0]
        else:
            _say(f"  alternating with the in-process paths in {PAIRED_ROUNDS} rounds")
            paired = paired_single_client(server.target, texts_file, baselines, texts, settings)
            single = paired["python_client"]
        _say(f"  concurrent clients {list(CONCURRENCY)}, {settings.load_seconds:.0f} s each")
        phases = run_loadgen(server.target, texts_file, CONCURRENCY, settings.load_seconds)
        http = None
        if http_port:
            _say("  HTTP/JSON: 1 client")
            http = http_single_client(http_port, texts, settings.latency_seconds)
        run: ServerRun = {
            "args": list(extra_args),
            "start_to_serving_s": server.start_to_serving_s,
            "rss_mb_idle": rss_idle,
            "rss_mb_after_load": server.rss_mb(),
            "single_client": single,
            "concurrent": {str(p["clients"]): p for p in phases},
        }
        if http is not None:
            run["http_single_client"] = http
        return run, paired


def _texts_summary(texts: Sequence[str]) -> SpeedTexts:
    lengths = [len(t.split()) for t in texts]
    return {
        "count": len(texts),
        "words_min": min(lengths),
        "words_median": float(np.median(lengths)),
        "words_max": max(lengths),
    }


def run_speed(
    export_dir: Path,
    models_dir: Path,
    model: str,
    texts: Sequence[str],
    work: Path,
    settings: SpeedSettings,
) -> SpeedResults:
    mix = text_mix(texts)
    texts_file = work / "speed_texts.json"
    texts_file.write_text(json.dumps(mix), encoding="utf-8")
    version_dir = resolve_current(export_dir, model)
    served = str(load_export(version_dir).encoder_variant)
    onnx: dict[str, OnnxBaseline] = {}
    for variant in ("int8", "fp32"):
        _say(f"speed baseline 2: in-process ONNX ({variant})")
        onnx[variant] = onnx_baseline(version_dir, variant, mix, settings)
    _say("speed baseline 1: article path (SentenceTransformer.encode + torch MLP), paired")
    inprocess = load_export(version_dir, served).open(auto_threads())
    inprocess.warm_up()
    baselines = InProcessPaths(
        load_article_path(models_dir, model), lambda text: inprocess.predict([text])
    )
    server, paired = server_run(
        export_dir, model, texts_file, settings, [], work / "server.log", baselines, mix
    )
    if paired is None:  # pragma: no cover - server_run pairs whenever baselines are given
        raise RuntimeError("the default server's 1-client phase was not paired")
    no_batching, _ = server_run(
        export_dir, model, texts_file, settings, ["--no-batching"], work / "server-nb.log"
    )
    port = free_port()
    with_http, _ = server_run(
        export_dir,
        model,
        texts_file,
        settings,
        ["--http-port", str(port)],
        work / "server-http.log",
        texts=mix,
        http_port=port,
    )
    _say("repeated messages: Zipf traffic, answer cache on and off")
    repeated = run_repeated(
        export_dir, model, texts, work, (settings.latency_seconds, settings.load_seconds)
    )
    return {
        "model": model,
        "served_variant": served,
        "texts": _texts_summary(mix),
        "onnx_inprocess": onnx,
        "server": server,
        "paired": paired,
        "article_inprocess": paired["article_inprocess"],
        "server_no_batching": no_batching,
        "server_with_http": with_http,
        "repeated": repeated,
    }
