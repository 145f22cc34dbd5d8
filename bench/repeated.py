"""Repeated messages: the answer cache under a realistic traffic mix.

Real CLINC150 test utterances are drawn with a Zipf distribution (the most common message
about twice as often as the second, ...), as chat traffic repeats "yes", "hi" and "talk to a
human". The same server is measured with its default cache and with `--cache-size 0`. Every
other speed number of the benchmark is measured with the cache off, on all-distinct texts.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.loadgen import run_loadgen
from bench.result_types import Repeated, RepeatedRun
from bench.server_process import free_port, intent_server
from trainer.markdown import markdown_table

ZIPF_S = 1.0
DRAWS = 20_000
_LOOKUPS = re.compile(r'intent_server_answer_cache_lookups_total\{[^}]*result="(\w+)"\} (\S+)')


def zipf_traffic(texts: Sequence[str], draws: int = DRAWS, s: float = ZIPF_S) -> list[str]:
    """`draws` messages from the distinct `texts`, the k-th most common with weight 1/k**s
    (which text gets which rank is shuffled with a fixed seed)."""
    distinct = sorted(set(texts))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(distinct))
    weights = np.arange(1, len(distinct) + 1, dtype=np.float64) ** -s
    picks = rng.choice(len(distinct), size=draws, p=weights / weights.sum())
    return [distinct[order[i]] for i in picks]


def cache_lookups(metrics_port: int) -> dict[str, float]:
    """Hits and misses the server counted, read from its /metrics."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode("utf-8")
    counts = {"hit": 0.0, "miss": 0.0}
    for result, value in _LOOKUPS.findall(text):
        counts[result] = counts.get(result, 0.0) + float(value)
    return counts


def run_repeated(
    export_dir: Path,
    model: str,
    texts: Sequence[str],
    work: Path,
    seconds: tuple[float, float],
) -> Repeated:
    """1 client for `seconds[0]`, then 32 clients for `seconds[1]`, cache on and off."""
    traffic = zipf_traffic(texts)
    traffic_file = work / "zipf_texts.json"
    traffic_file.write_text(json.dumps(traffic), encoding="utf-8")
    runs: dict[str, RepeatedRun] = {}
    for label, args in (("cache_on", []), ("cache_off", ["--cache-size", "0"])):
        metrics_port = free_port()
        extra = [*args, "--metrics-port", str(metrics_port)]
        with intent_server(export_dir, model, extra, work / f"server-{label}.log") as server:
            single = run_loadgen(server.target, traffic_file, [1], seconds[0])[0]
            many = run_loadgen(server.target, traffic_file, [32], seconds[1])[0]
            runs[label] = {
                "single_client": single,
                "clients_32": many,
                "lookups": cache_lookups(metrics_port),
            }
    return {
        "zipf_s": ZIPF_S,
        "draws": len(traffic),
        "distinct_texts": len(set(traffic)),
        "cache_on": runs["cache_on"],
        "cache_off": runs["cache_off"],
    }


def repeated_section(repeated: Repeated) -> list[str]:
    """The answer cache on a Zipf traffic mix (the bars above are measured without it)."""
    rows = []
    for title, run in (("on (default)", repeated["cache_on"]), ("off", repeated["cache_off"])):
        one, many = run["single_client"], run["clients_32"]
        looked = run["lookups"]["hit"] + run["lookups"]["miss"]
        rate = f"{run['lookups']['hit'] / looked:.1%}" if looked else "-"
        rows.append(
            (
                title,
                rate,
                f"{one['p50_ms']:.2f}",
                f"{one['p99_ms']:.2f}",
                f"{many['throughput_rps']:.0f}",
                f"{many['p50_ms']:.2f}",
            )
        )
    headers = (
        "answer cache | hit rate | 1-client p50 ms | p99 ms | 32 clients req/s | 32 clients p50 ms"
    )
    return [
        "",
        "### Repeated messages: the answer cache",
        "",
        f"{repeated['draws']} messages drawn from {repeated['distinct_texts']} distinct real "
        f"utterances with a Zipf distribution (s = {repeated['zipf_s']}); the same server with "
        "its default cache and with `--cache-size 0`. Every bar above is measured with the "
        "cache off, on texts the model computes.",
        "",
        *markdown_table(headers, rows),
    ]
