"""Write `results.json` and `RESULTS.md`: every number, its ratio to baselines and bars."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.bars import ANCHORS, REFERENCE_HERE, Bar, all_bars, fastest_gated_batch
from bench.finetune.report import fine_tune_bars, fine_tune_section

JSON_NAME = "results.json"
MARKDOWN_NAME = "RESULTS.md"


def machine() -> dict[str, Any]:
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _mark(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "not run"}[passed]


def _bars_table(bars: list[Bar]) -> list[str]:
    lines = ["| what | bar | measured | result | anchor |", "|---|---|---|---|---|"]
    for bar in bars:
        anchor = ANCHORS.get(bar.key, "")
        lines.append(
            f"| {bar.what} | {bar.bar} | {bar.measured} | **{_mark(bar.passed)}** | {anchor} |"
        )
    return lines


def _decision_lines(acc: dict[str, Any]) -> list[str]:
    """The default decision on CLINC150 test data and the small bots."""
    lines: list[str] = []
    for variant in ("fp32", "int8"):
        default = acc[variant].get("clinc_product_default")
        if default:
            test, th = default["test"], default["thresholds"]
            floor = th.get("familiarity")
            lines.append(
                f"- CLINC150 trained on train + val + oos_train + oos_val as a user would "
                f"({variant}): top-1 {_pct(default['top1_inscope'])}, after the default "
                f"decision in-scope {_pct(test['inscope_accuracy'])} / OOS recall "
                f"{_pct(test['oos_recall'])} (confidence {th['confidence']:.2f}, margin "
                f"{th['margin']:.2f}, familiarity {'off' if floor is None else f'{floor:.3f}'})"
            )
    bots = acc.get("small_bots")
    if bots:
        lines += [
            "",
            "### Small bots without out_of_scope examples (CLINC150 domains, int8)",
            "",
            "10 of a domain's 15 intents, no out_of_scope examples; means over "
            f"{len(bots['bots'])} bots (domains x seeds).",
            "",
            "| examples per intent | argmax % | in-scope after decision % | oos_test caught % "
            "| withheld intents caught % | AUROC familiarity | AUROC softmax |",
            "|---|---|---|---|---|---|---|",
        ]
        for size, row in [*bots["by_size"].items(), ("all", bots["mean"])]:
            lines.append(
                f"| {size} | {_pct(row['argmax_accuracy'])} | {_pct(row['inscope_accuracy'])} | "
                f"{_pct(row['oos_recall'])} | {_pct(row['withheld_recall'])} | "
                f"{row['auroc_familiarity']:.4f} | {row['auroc_softmax']:.4f} |"
            )
    return ["", "### The default out-of-scope decision", "", *lines] if lines else []


def _accuracy_section(acc: dict[str, Any]) -> list[str]:
    lines = [
        "## Accuracy (test sets; trained, exported and scored through the product's path)",
        "",
        "| model | encoder | accuracy % | macro-F1 % | vs logistic regression here "
        "| vs article MLP here |",
        "|---|---|---|---|---|---|",
    ]
    for variant in ("fp32", "int8"):
        for dataset, path in (
            ("clinc", ("clinc", "without_oos_train", "test_inscope")),
            ("banking", ("banking", "test")),
        ):
            scores = acc[variant]
            for key in path:
                scores = scores[key]
            lr = REFERENCE_HERE["logistic_regression"][dataset]
            mlp = REFERENCE_HERE["article_mlp"][dataset]
            lines.append(
                f"| {'CLINC150 in-scope' if dataset == 'clinc' else 'BANKING77'} | {variant} | "
                f"{_pct(scores['accuracy'])} | {_pct(scores['macro_f1'])} | "
                f"{100 * (scores['accuracy'] - lr):+.2f} pts ({_pct(lr)}) | "
                f"{100 * (scores['accuracy'] - mlp):+.2f} pts ({_pct(mlp)}) |"
            )
    lines += [
        "",
        "### CLINC150 out-of-scope (test + oos_test; threshold chosen on val + oos_val)",
        "",
        "| training data | encoder | threshold | in-scope acc % | OOS recall % | OOS precision % "
        "| AUROC | product thresholds (conf / margin): in-scope % / recall % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for variant in ("fp32", "int8"):
        for setting in ("without_oos_train", "with_oos_train"):
            oos = acc[variant]["clinc"][setting]["oos"]
            test, product = oos["test"], oos["product_thresholds"]
            lines.append(
                f"| {setting.replace('_', ' ')} | {variant} | {oos['threshold']:.2f} | "
                f"{_pct(test['inscope_accuracy'])} | {_pct(test['oos_recall'])} | "
                f"{_pct(test['oos_precision'])} | {oos['auroc']:.4f} | "
                f"{product['confidence']:.2f} / {product['margin']:.2f}: "
                f"{_pct(product['test']['inscope_accuracy'])} / "
                f"{_pct(product['test']['oos_recall'])} |"
            )
    lines += _decision_lines(acc)
    times = acc.get("training_time", {})
    if times:
        lines += [
            "",
            "### Training time (CLINC150, `train()`, 15,000 examples + 3,000 val)",
            "",
            f"- cold cache (fresh cache dir; encoder load + embedding every text): "
            f"{times['cold_seconds']:.1f} s (embedding {times['cold_embed_seconds']:.1f} s)",
            f"- warm cache: {times['warm_seconds']:.1f} s "
            f"(embedding {times['warm_embed_seconds']:.1f} s)",
        ]
    return lines


def _speed_section(speed: dict[str, Any]) -> list[str]:
    served = speed["served_variant"]
    article = speed["article_inprocess"]
    onnx = speed["onnx_inprocess"]
    texts = speed["texts"]
    lines = [
        "## Speed",
        "",
        f"{texts['count']} real CLINC150 test utterances "
        f"({texts['words_min']}-{texts['words_max']} "
        f"words, median {texts['words_median']:.0f}); server model `{speed['model']}`, "
        f"encoder served: {served}. Load generator: a separate process, one thread per client, "
        "one call in flight per client.",
        "",
        "### In-process baselines",
        "",
        "| path | p50 ms | p90 ms | p99 ms | throughput /s |",
        "|---|---|---|---|---|",
        "| article: SentenceTransformer.encode([text]) + torch MLP "
        f"({article['torch_threads']} torch threads; "
        f"{article['rounds']} rounds alternating with the server's 1-client phase) "
        f"| {article['p50_ms']:.2f} | {article['p90_ms']:.2f} | {article['p99_ms']:.2f} | "
        f"{1000 / article['mean_ms']:.0f} |",
    ]
    for variant in ("int8", "fp32"):
        one = onnx[variant]["batch1"]
        threads = onnx[variant]["threads"]
        unit = f"{threads} thread{'s' if threads != 1 else ''}"
        lines.append(
            f"| ONNX {variant}, batch 1, {unit} | {one['p50_ms']:.2f} | {one['p90_ms']:.2f} | "
            f"{one['p99_ms']:.2f} | {one['throughput_tps']:.0f} |"
        )
        for mode, rate in onnx[variant].get("batch32_modes", {}).items():
            how = "" if variant != "int8" else f", texts {mode.replace('_', ' ')}"
            lines.append(f"| ONNX {variant}, batch 32{how}, {unit} | | | | {rate:.0f} |")
    if "paired" in speed:
        lines += _paired_lines(speed["paired"])
    _, batched = fastest_gated_batch(speed)
    for key, title in (
        ("server", "micro-batching on (default)"),
        ("server_no_batching", "--no-batching"),
    ):
        lines += _server_lines(speed[key], title, article["p50_ms"], batched)
    if "server_with_http" in speed:
        lines += _http_lines(speed["server"], speed["server_with_http"])
    if "repeated" in speed:
        lines += _repeated_lines(speed["repeated"])
    return lines


PAIRED_TITLES = {
    "article_inprocess": "article path, in-process",
    "model_inprocess": "the served export, in-process (server's variant and threads)",
    "python_client": "server ClassifyIntent, Python client",
    "python_round_trip": "server health Check (empty round trip), Python client",
    "node_client": "server ClassifyIntent, Node.js client (@grpc/grpc-js)",
    "node_round_trip": "server health Check (empty round trip), Node.js client",
}


def _paired_lines(paired: dict[str, Any]) -> list[str]:
    """The 1-client phases measured in alternating rounds: where a call's time goes."""
    lines = [
        "",
        "### One call, taken apart (1 client, alternating rounds)",
        "",
        "| path | p50 ms | p90 ms | p99 ms | calls |",
        "|---|---|---|---|---|",
    ]
    for key, title in PAIRED_TITLES.items():
        if key in paired:
            run = paired[key]
            lines.append(
                f"| {title} | {run['p50_ms']:.2f} | {run['p90_ms']:.2f} | {run['p99_ms']:.2f} "
                f"| {run['requests']} |"
            )
    if "node_client_skipped" in paired:
        lines += ["", f"Node.js client not run: {paired['node_client_skipped']}."]
    return lines


def depth_section(depth: dict[str, Any]) -> list[str]:
    """`--encoder-layers N`: accuracy against speed, one row per depth (`bench.depth`)."""
    rows = depth["depths"]
    full = rows.get(str(depth["encoder_layers"]))
    lines = [
        "## Speed/accuracy dial: encoder depth",
        "",
        f"`intent-train --encoder-layers N` keeps the encoder's first N of "
        f"{depth['encoder_layers']} layers (features: the last three kept). Models trained, "
        f"exported and scored as above ({depth['variant']} encoder, argmax); speed: the "
        f"in-process ONNX {depth['variant']} model, {depth['threads']} threads, on the "
        f"{depth['texts']} speed texts (INT8 batches with their texts side by side, as the "
        f"server runs them), the depths alternating in {depth['rounds']} rounds.",
        "",
        "| encoder layers | CLINC150 in-scope % | BANKING77 % | encoder MB | batch-1 p50 ms "
        "| batch-32 texts/s | p50 vs full | batch-32 vs full |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for layers, row in rows.items():
        p50, tps = row["batch1"]["p50_ms"], row["batch32_tps"]
        versus = (
            f"{p50 / full['batch1']['p50_ms']:.2f}x | {tps / full['batch32_tps']:.2f}x"
            if full
            else "- | -"
        )
        lines.append(
            f"| {layers}{' (default)' if row is full else ''} | "
            f"{_pct(row['clinc_inscope']['accuracy'])} | {_pct(row['banking']['accuracy'])} | "
            f"{row['encoder_mb']:.1f} | {p50:.2f} | {tps:.0f} | {versus} |"
        )
    return lines


def _repeated_lines(repeated: dict[str, Any]) -> list[str]:
    """The answer cache on a Zipf traffic mix (the bars above are measured without it)."""
    lines = [
        "",
        "### Repeated messages: the answer cache",
        "",
        f"{repeated['draws']} messages drawn from {repeated['distinct_texts']} distinct real "
        f"utterances with a Zipf distribution (s = {repeated['zipf_s']}); the same server with "
        "its default cache and with `--cache-size 0`. Every bar above is measured with the "
        "cache off, on texts the model computes.",
        "",
        "| answer cache | hit rate | 1-client p50 ms | p99 ms | 32 clients req/s "
        "| 32 clients p50 ms |",
        "|---|---|---|---|---|---|",
    ]
    for key, title in (("cache_on", "on (default)"), ("cache_off", "off")):
        run = repeated[key]
        one, many = run["single_client"], run["clients_32"]
        looked = run["lookups"]["hit"] + run["lookups"]["miss"]
        rate = f"{run['lookups']['hit'] / looked:.1%}" if looked else "-"
        lines.append(
            f"| {title} | {rate} | {one['p50_ms']:.2f} | {one['p99_ms']:.2f} | "
            f"{many['throughput_rps']:.0f} | {many['p50_ms']:.2f} |"
        )
    return lines


def _http_lines(plain: dict[str, Any], with_http: dict[str, Any]) -> list[str]:
    """gRPC with and without the HTTP listener in the same run, and HTTP's own latency."""
    http = with_http["http_single_client"]

    def grpc_row(title: str, run: dict[str, Any]) -> str:
        one, many = run["single_client"], run["concurrent"]["32"]
        return (
            f"| {title} | {one['p50_ms']:.2f} | {one['p99_ms']:.2f} | "
            f"{many['throughput_rps']:.0f} | {run['rss_mb_after_load']:.0f} |"
        )

    return [
        "",
        "### HTTP/JSON listener (`--http-port`)",
        "",
        "| server | 1-client p50 ms | p99 ms | 32 clients req/s | RSS MB |",
        "|---|---|---|---|---|",
        grpc_row("gRPC, default server", plain),
        grpc_row("gRPC, server with --http-port", with_http),
        f"| HTTP POST /v1/classify (1 client, keep-alive, {http['requests']} calls, "
        f"{http['errors']} errors) | {http['p50_ms']:.2f} | {http['p99_ms']:.2f} | | |",
    ]


def _server_lines(
    run: dict[str, Any], title: str, article_p50_ms: float, batched: float
) -> list[str]:
    """One server configuration: start, memory, 1-client latency, the concurrent phases."""
    single = run["single_client"]
    lines = [
        "",
        f"### Server, {title}",
        "",
        f"- start to SERVING {run['start_to_serving_s']:.2f} s; "
        f"RSS {run['rss_mb_idle']:.0f} MB idle, "
        f"{run['rss_mb_after_load']:.0f} MB after the load",
        f"- 1 client: p50 {single['p50_ms']:.2f} ms, p90 {single['p90_ms']:.2f} ms, "
        f"p99 {single['p99_ms']:.2f} ms, {single['throughput_rps']:.0f} req/s "
        f"(p50 = {single['p50_ms'] / article_p50_ms:.3f} x the article path)",
        "",
        "| clients | req/s | x fastest gated in-process batch | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    for clients, phase in run["concurrent"].items():
        lines.append(
            f"| {clients} | {phase['throughput_rps']:.0f} | "
            f"{phase['throughput_rps'] / batched:.2f} | "
            f"{phase['p50_ms']:.2f} | {phase['p99_ms']:.2f} | {phase['errors'] or 0} |"
        )
    return lines


def render_markdown(results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {info['cpu_model']}, {info['cores']} cores ({info['usable_cores']} usable), "
        f"Python {info['python']}; {info['date']}. Command: `{results['command']}`"
        + (" (SMALL mode: tiny subsets, numbers are not meaningful)" if results["small"] else "")
        + ".",
        "",
        "## Bars",
        "",
        *_bars_table(every_bar(results)),
        "",
    ]
    if results.get("accuracy"):
        lines += [*_accuracy_section(results["accuracy"]), ""]
    if results.get("speed"):
        lines += [*_speed_section(results["speed"]), ""]
    if results.get("depth"):
        lines += [*depth_section(results["depth"]), ""]
    if results.get("fine_tune"):
        lines += [*fine_tune_section(results["fine_tune"]), ""]
    return "\n".join(lines)


def every_bar(results: dict[str, Any]) -> list[Bar]:
    """The bars of every part this run measured."""
    tuned = results.get("fine_tune")
    return all_bars(results) + (fine_tune_bars(tuned) if tuned else [])


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Both files, each written to a temp name and renamed (no half-written results)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = dict(results, bars=[bar.to_json() for bar in every_bar(results)])
    written = []
    for name, text in (
        (JSON_NAME, json.dumps(results, indent=2, sort_keys=True) + "\n"),
        (MARKDOWN_NAME, render_markdown(results) + "\n"),
    ):
        temporary = out_dir / f".{name}.tmp"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, out_dir / name)
        written.append(out_dir / name)
    return written[0], written[1]
