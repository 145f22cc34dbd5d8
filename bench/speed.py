"""Speed: the server under load from another process, against in-process baselines.

Baselines, measured in the same run on the same texts:
1. the article's path: `SentenceTransformer.encode([text])` + the torch MLP, one text at a time,
   in rounds alternating with the server's 1-client phase (`paired_single_client`);
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
from typing import Any

import numpy as np

from bench.loadgen import percentiles_ms, run_loadgen
from bench.repeated import run_repeated
from bench.server_process import free_port, intent_server
from intent_server.core.cpus import auto_threads
from intent_server.core.exports import load_export, resolve_current

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

    from trainer.features.encoding import load_sentence_transformer, torch_features
    from trainer.training.model_store import load_trained_model

    trained = load_trained_model(models_dir / model)
    identity = trained.card.encoder
    st = load_sentence_transformer(identity.path, identity.num_layers)

    def classify(text: str) -> object:
        with torch.inference_mode():
            embedding = torch_features(st, [text], identity)
            return torch.softmax(trained.head(embedding), dim=-1).argmax().item()

    return classify


def paired_single_client(
    target: str,
    texts_file: Path,
    article: Callable[[str], object],
    texts: Sequence[str],
    settings: SpeedSettings,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The server's 1-client latency and the article path, measured in alternating rounds.

    A shared VM drifts by 30 % over minutes; measuring the two back to back in PAIRED_ROUNDS
    rounds puts the same machine state under both sides of the ratio. The server is idle
    while the article path runs (its ORT threads stop spinning after each call)."""
    import torch

    server: list[float] = []
    article_latencies: list[float] = []
    requests, seconds, errors = 0, 0.0, 0
    per_round = max(1, settings.baseline_texts // PAIRED_ROUNDS)
    for round_index in range(PAIRED_ROUNDS):
        start = round_index * per_round % len(texts)
        article_latencies += time_calls(article, [*texts[start:], *texts[:start]], per_round)
        phase = run_loadgen(
            target, texts_file, [1], settings.latency_seconds / PAIRED_ROUNDS, raw=True
        )[0]
        server += [value / 1000.0 for value in phase["latencies_ms"]]
        requests, seconds = requests + phase["requests"], seconds + phase["seconds"]
        errors += sum(phase["errors"].values())
    single = {
        "clients": 1,
        "rounds": PAIRED_ROUNDS,
        "seconds": seconds,
        "requests": requests,
        "throughput_rps": requests / seconds if seconds > 0 else 0.0,
        "errors": errors,
        **percentiles_ms(server),
    }
    paired_article = {
        "torch_threads": torch.get_num_threads(),
        "rounds": PAIRED_ROUNDS,
        **percentiles_ms(article_latencies),
    }
    return single, paired_article


def onnx_baseline(
    version_dir: Path, variant: str, texts: Sequence[str], settings: SpeedSettings
) -> dict[str, Any]:
    """The exported encoder + head in a tight loop, batch 1 and batch 32, with the thread
    count the server uses by default (`--threads auto`)."""
    threads = auto_threads()
    model = load_export(version_dir, variant).open(threads)
    model.warm_up()
    single = time_calls(lambda t: model.predict([t]), texts, settings.baseline_texts)
    batches = [list(texts[i : i + BATCH]) for i in range(0, len(texts) - BATCH + 1, BATCH)]
    model.predict(batches[0])
    began = time.perf_counter()
    for i in range(settings.batch_rounds):
        model.predict(batches[i % len(batches)])
    batched_seconds = time.perf_counter() - began
    return {
        "variant": variant,
        "threads": threads,
        "batch1": {**percentiles_ms(single), "throughput_tps": len(single) / sum(single)},
        "batch32": {"throughput_tps": settings.batch_rounds * BATCH / batched_seconds},
    }


def http_single_client(port: int, texts: Sequence[str], seconds: float) -> dict[str, Any]:
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
    article: Callable[[str], object] | None = None,
    texts: Sequence[str] = (),
    http_port: int = 0,
) -> dict[str, Any]:
    """One server process: start-up time, 1-client latency, concurrent phases, RSS. With
    `article`, the 1-client phase alternates with the article path (`paired_single_client`)
    (over `texts`, those in `texts_file`) and the result holds the article's numbers under
    "article_inprocess". With `http_port` (the server's `--http-port`), an HTTP client's
    1-client phase over `texts` follows, under "http_single_client"."""
    with intent_server(export_dir, model, [*NO_CACHE, *extra_args], log_path) as server:
        rss_idle = server.rss_mb()
        label = " ".join(extra_args) or "(default)"
        _say(f"server {label}: SERVING after {server.start_to_serving_s:.2f} s; 1 client")
        paired: dict[str, Any] = {}
        if article is None:
            single = run_loadgen(server.target, texts_file, [1], settings.latency_seconds)[0]
        else:
            _say(f"  alternating with the article path in {PAIRED_ROUNDS} rounds")
            single, paired["article_inprocess"] = paired_single_client(
                server.target, texts_file, article, texts, settings
            )
        _say(f"  concurrent clients {list(CONCURRENCY)}, {settings.load_seconds:.0f} s each")
        phases = run_loadgen(server.target, texts_file, CONCURRENCY, settings.load_seconds)
        if http_port:
            _say("  HTTP/JSON: 1 client")
            paired["http_single_client"] = http_single_client(
                http_port, texts, settings.latency_seconds
            )
        return {
            **paired,
            "args": list(extra_args),
            "start_to_serving_s": server.start_to_serving_s,
            "rss_mb_idle": rss_idle,
            "rss_mb_after_load": server.rss_mb(),
            "single_client": single,
            "concurrent": {str(p["clients"]): p for p in phases},
        }


def run_speed(
    export_dir: Path,
    models_dir: Path,
    model: str,
    texts: Sequence[str],
    work: Path,
    settings: SpeedSettings,
) -> dict[str, Any]:
    mix = text_mix(texts)
    texts_file = work / "speed_texts.json"
    texts_file.write_text(json.dumps(mix), encoding="utf-8")
    version_dir = resolve_current(export_dir, model)
    served = str(load_export(version_dir).encoder_variant)
    lengths = [len(t.split()) for t in mix]
    results: dict[str, Any] = {
        "model": model,
        "served_variant": served,
        "texts": {
            "count": len(mix),
            "words_min": min(lengths),
            "words_median": float(np.median(lengths)),
            "words_max": max(lengths),
        },
    }
    results["onnx_inprocess"] = {}
    for variant in ("int8", "fp32"):
        _say(f"speed baseline 2: in-process ONNX ({variant})")
        results["onnx_inprocess"][variant] = onnx_baseline(version_dir, variant, mix, settings)
    _say("speed baseline 1: article path (SentenceTransformer.encode + torch MLP), paired")
    article = load_article_path(models_dir, model)
    results["server"] = server_run(
        export_dir, model, texts_file, settings, [], work / "server.log", article, mix
    )
    results["article_inprocess"] = results["server"].pop("article_inprocess")
    results["server_no_batching"] = server_run(
        export_dir, model, texts_file, settings, ["--no-batching"], work / "server-nb.log"
    )
    port = free_port()
    results["server_with_http"] = server_run(
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
    results["repeated"] = run_repeated(
        export_dir, model, texts, work, (settings.latency_seconds, settings.load_seconds)
    )
    return results
