"""Write `results.json` and `RESULTS.md`: every number, its ratio to baselines and bars."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from bench.bars import ANCHORS, REFERENCE_HERE, Bar, all_bars, fastest_gated_batch
from bench.depth import depth_section
from bench.farm.report import many_bots_section
from bench.finetune.report import fine_tune_bars, fine_tune_section
from bench.repeated import repeated_section
from bench.result_types import (
    CLINC_SETTINGS,
    VARIANTS,
    AccuracyResults,
    Machine,
    Paired,
    PairedRun,
    Results,
    ServerRun,
    SpeedResults,
)
from bench.small_bots import small_bots_section
from bench.snips.report import entities_section, entity_bars
from trainer.markdown import markdown_table

JSON_NAME = "results.json"
MARKDOWN_NAME = "RESULTS.md"


def machine() -> Machine:
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
    return markdown_table(
        "what | bar | measured | result | anchor",
        [
            (bar.what, bar.bar, bar.measured, f"**{_mark(bar.passed)}**", ANCHORS.get(bar.key, ""))
            for bar in bars
        ],
    )


def _decision_lines(acc: AccuracyResults) -> list[str]:
    """The default decision on CLINC150 test data and the small bots."""
    lines: list[str] = []
    for variant in VARIANTS:
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
        lines += small_bots_section(bots)
    return ["", "### The default out-of-scope decision", "", *lines] if lines else []


def _vs(accuracy: float, reference: float) -> str:
    return f"{100 * (accuracy - reference):+.2f} pts ({_pct(reference)})"


def _closed_set_table(acc: AccuracyResults) -> list[str]:
    rows = []
    for variant in VARIANTS:
        scores = acc[variant]
        for dataset, name, got in (
            ("clinc", "CLINC150 in-scope", scores["clinc"]["without_oos_train"]["test_inscope"]),
            ("banking", "BANKING77", scores["banking"]["test"]),
        ):
            lr = REFERENCE_HERE["logistic_regression"][dataset]
            mlp = REFERENCE_HERE["article_mlp"][dataset]
            rows.append(
                (
                    name,
                    variant,
                    _pct(got["accuracy"]),
                    _pct(got["macro_f1"]),
                    _vs(got["accuracy"], lr),
                    _vs(got["accuracy"], mlp),
                )
            )
    return markdown_table(
        "model | encoder | accuracy % | macro-F1 % | vs logistic regression here "
        "| vs article MLP here",
        rows,
    )


def _oos_table(acc: AccuracyResults) -> list[str]:
    rows = []
    for variant in VARIANTS:
        for setting in CLINC_SETTINGS:
            oos = acc[variant]["clinc"][setting]["oos"]
            test, product = oos["test"], oos["product_thresholds"]
            rows.append(
                (
                    setting.replace("_", " "),
                    variant,
                    f"{oos['threshold']:.2f}",
                    _pct(test["inscope_accuracy"]),
                    _pct(test["oos_recall"]),
                    _pct(test["oos_precision"]),
                    f"{oos['auroc']:.4f}",
                    f"{product['confidence']:.2f} / {product['margin']:.2f}: "
                    f"{_pct(product['test']['inscope_accuracy'])} / "
                    f"{_pct(product['test']['oos_recall'])}",
                )
            )
    return markdown_table(
        "training data | encoder | threshold | in-scope acc % | OOS recall % | OOS precision % "
        "| AUROC | product thresholds (conf / margin): in-scope % / recall %",
        rows,
    )


def _accuracy_section(acc: AccuracyResults) -> list[str]:
    times = acc["training_time"]
    return [
        "## Accuracy (test sets; trained, exported and scored through the product's path)",
        "",
        *_closed_set_table(acc),
        "",
        "### CLINC150 out-of-scope (test + oos_test; threshold chosen on val + oos_val)",
        "",
        *_oos_table(acc),
        *_decision_lines(acc),
        "",
        "### Training time (CLINC150, `train()`, 15,000 examples + 3,000 val)",
        "",
        f"- cold cache (fresh cache dir; encoder load + embedding every text): "
        f"{times['cold_seconds']:.1f} s (embedding {times['cold_embed_seconds']:.1f} s)",
        f"- warm cache: {times['warm_seconds']:.1f} s "
        f"(embedding {times['warm_embed_seconds']:.1f} s)",
    ]


def _baseline_rows(speed: SpeedResults) -> list[tuple[str, ...]]:
    article = speed["article_inprocess"]
    rows: list[tuple[str, ...]] = [
        (
            "article: SentenceTransformer.encode([text]) + torch MLP "
            f"({article.get('torch_threads')} torch threads; "
            f"{article['rounds']} rounds alternating with the server's 1-client phase)",
            f"{article['p50_ms']:.2f}",
            f"{article['p90_ms']:.2f}",
            f"{article['p99_ms']:.2f}",
            f"{1000 / article['mean_ms']:.0f}",
        )
    ]
    for variant in ("int8", "fp32"):
        onnx = speed["onnx_inprocess"][variant]
        one, threads = onnx["batch1"], onnx["threads"]
        unit = f"{threads} thread{'s' if threads != 1 else ''}"
        rows.append(
            (
                f"ONNX {variant}, batch 1, {unit}",
                f"{one['p50_ms']:.2f}",
                f"{one['p90_ms']:.2f}",
                f"{one['p99_ms']:.2f}",
                f"{one['throughput_tps']:.0f}",
            )
        )
        for mode, rate in onnx.get("batch32_modes", {}).items():
            how = "" if variant != "int8" else f", texts {mode.replace('_', ' ')}"
            rows.append((f"ONNX {variant}, batch 32{how}, {unit}", "", "", "", f"{rate:.0f}"))
    return rows


def _speed_section(speed: SpeedResults) -> list[str]:
    texts = speed["texts"]
    lines = [
        "## Speed",
        "",
        f"{texts['count']} real CLINC150 test utterances "
        f"({texts['words_min']}-{texts['words_max']} "
        f"words, median {texts['words_median']:.0f}); server model `{speed['model']}`, "
        f"encoder served: {speed['served_variant']}. Load generator: a separate process, one "
        "thread per client, one call in flight per client.",
        "",
        "### In-process baselines",
        "",
        *markdown_table("path | p50 ms | p90 ms | p99 ms | throughput /s", _baseline_rows(speed)),
    ]
    if "paired" in speed:
        lines += _paired_lines(speed["paired"])
    _, batched = fastest_gated_batch(speed)
    article_p50 = speed["article_inprocess"]["p50_ms"]
    lines += _server_lines(speed["server"], "micro-batching on (default)", article_p50, batched)
    lines += _server_lines(speed["server_no_batching"], "--no-batching", article_p50, batched)
    if "server_with_http" in speed:
        lines += _http_lines(speed["server"], speed["server_with_http"])
    if "repeated" in speed:
        lines += repeated_section(speed["repeated"])
    return lines


def _paired_runs(paired: Paired) -> list[tuple[str, PairedRun | None]]:
    return [
        ("article path, in-process", paired["article_inprocess"]),
        (
            "the served export, in-process (server's variant and threads)",
            paired["model_inprocess"],
        ),
        ("server ClassifyIntent, Python client", paired["python_client"]),
        ("server health Check (empty round trip), Python client", paired["python_round_trip"]),
        ("server ClassifyIntent, Node.js client (@grpc/grpc-js)", paired.get("node_client")),
        (
            "server health Check (empty round trip), Node.js client",
            paired.get("node_round_trip"),
        ),
    ]


def _paired_lines(paired: Paired) -> list[str]:
    """The 1-client phases measured in alternating rounds: where a call's time goes."""
    rows = [
        (
            title,
            f"{run['p50_ms']:.2f}",
            f"{run['p90_ms']:.2f}",
            f"{run['p99_ms']:.2f}",
            run["requests"],
        )
        for title, run in _paired_runs(paired)
        if run is not None
    ]
    lines = [
        "",
        "### One call, taken apart (1 client, alternating rounds)",
        "",
        *markdown_table("path | p50 ms | p90 ms | p99 ms | calls", rows),
    ]
    if "node_client_skipped" in paired:
        lines += ["", f"Node.js client not run: {paired['node_client_skipped']}."]
    return lines


def _http_lines(plain: ServerRun, with_http: ServerRun) -> list[str]:
    """gRPC with and without the HTTP listener in the same run, and HTTP's own latency."""

    def grpc_row(title: str, run: ServerRun) -> tuple[str, ...]:
        one, many = run["single_client"], run["concurrent"]["32"]
        return (
            title,
            f"{one['p50_ms']:.2f}",
            f"{one['p99_ms']:.2f}",
            f"{many['throughput_rps']:.0f}",
            f"{run['rss_mb_after_load']:.0f}",
        )

    http = with_http.get("http_single_client")
    rows = [
        grpc_row("gRPC, default server", plain),
        grpc_row("gRPC, server with --http-port", with_http),
    ]
    if http is not None:
        rows.append(
            (
                f"HTTP POST /v1/classify (1 client, keep-alive, {http['requests']} calls, "
                f"{http['errors']} errors)",
                f"{http['p50_ms']:.2f}",
                f"{http['p99_ms']:.2f}",
                "",
                "",
            )
        )
    return [
        "",
        "### HTTP/JSON listener (`--http-port`)",
        "",
        *markdown_table("server | 1-client p50 ms | p99 ms | 32 clients req/s | RSS MB", rows),
    ]


def _server_lines(run: ServerRun, title: str, article_p50_ms: float, batched: float) -> list[str]:
    """One server configuration: start, memory, 1-client latency, the concurrent phases."""
    single = run["single_client"]
    rows = [
        (
            clients,
            f"{phase['throughput_rps']:.0f}",
            f"{phase['throughput_rps'] / batched:.2f}",
            f"{phase['p50_ms']:.2f}",
            f"{phase['p99_ms']:.2f}",
            phase["errors"] or 0,
        )
        for clients, phase in run["concurrent"].items()
    ]
    headers = "clients | req/s | x fastest gated in-process batch | p50 ms | p99 ms | errors"
    return [
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
        *markdown_table(headers, rows),
    ]


def render_markdown(results: Results) -> str:
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
    if results["accuracy"]:
        lines += [*_accuracy_section(results["accuracy"]), ""]
    if results["speed"]:
        lines += [*_speed_section(results["speed"]), ""]
    if results["depth"]:
        lines += [*depth_section(results["depth"]), ""]
    tuned = results.get("fine_tune")
    if tuned:
        lines += [*fine_tune_section(tuned), ""]
    many = results.get("many_bots")
    if many:
        lines += [*many_bots_section(many), ""]
    entities = results.get("entities")
    if entities:
        lines += [*entities_section(entities), ""]
    return "\n".join(lines)


def every_bar(results: Results) -> list[Bar]:
    """The bars of every part this run measured."""
    tuned = results.get("fine_tune")
    return (
        all_bars(results)
        + (fine_tune_bars(tuned) if tuned else [])
        + entity_bars(results.get("entities"))
    )


def write_results(results: Results, out_dir: Path) -> tuple[Path, Path]:
    """Both files, each written to a temp name and renamed (no half-written results)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = results.copy()
    results["bars"] = [bar.to_json() for bar in every_bar(results)]
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
