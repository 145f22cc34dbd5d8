"""`python -m bench.run --small`: the whole harness end to end on tiny subsets.

Real encoder, real training, export, server process and load generator; only the data is
tiny, so the numbers mean nothing and nothing here asserts a speed or accuracy bar.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.datasets import datasets_dir
from tests.fixtures.paths import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (datasets_dir() / "clinc150" / "data_full.json").is_file():
        pytest.skip(f"benchmark datasets not found under {datasets_dir()}")
    out = tmp_path_factory.mktemp("bench-results")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--small", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[bench] wrote" in done.stderr  # progress goes to stderr
    return out


def test_json_has_every_section(small_results: Path) -> None:
    results = json.loads((small_results / "results.json").read_text())
    assert results["small"] is True
    assert {"cpu_model", "cores", "date"} <= set(results["machine"])
    acc = results["accuracy"]
    assert {"cold_seconds", "warm_seconds"} <= set(acc["training_time"])
    for variant in ("fp32", "int8"):
        clinc = acc[variant]["clinc"]
        for setting in ("without_oos_train", "with_oos_train"):
            assert {"accuracy", "macro_f1"} == set(clinc[setting]["test_inscope"])
            oos = clinc[setting]["oos"]
            assert {"inscope_accuracy", "oos_recall", "oos_precision"} <= set(oos["test"])
            assert 0.0 <= oos["auroc"] <= 1.0
            assert 0.0 <= oos["threshold"] < 1.0
        assert 0.0 <= acc[variant]["banking"]["test"]["accuracy"] <= 1.0
    speed = results["speed"]
    for key in ("server", "server_no_batching", "server_with_http"):
        run = speed[key]
        assert run["start_to_serving_s"] > 0 and run["rss_mb_after_load"] > 0
        assert run["single_client"]["requests"] > 0
        assert set(run["concurrent"]) == {"8", "32", "64"}
        for phase in run["concurrent"].values():
            assert phase["requests"] > 0 and not phase["errors"]
    assert speed["article_inprocess"]["p50_ms"] > 0
    paired = speed["paired"]
    for phase in ("model_inprocess", "python_client", "python_round_trip"):
        assert paired[phase]["requests"] > 0 and paired[phase]["p50_ms"] > 0
    if "node_client_skipped" not in paired:
        assert paired["node_client"]["requests"] > 0 and paired["node_round_trip"]["p50_ms"] > 0
    repeated = speed["repeated"]
    assert repeated["cache_on"]["lookups"]["hit"] > 0
    assert repeated["cache_off"]["lookups"] == {"hit": 0.0, "miss": 0.0}
    http = speed["server_with_http"]["http_single_client"]
    assert http["requests"] > 0 and not http["errors"] and http["p50_ms"] > 0
    assert speed["onnx_inprocess"]["int8"]["batch32"]["throughput_tps"] > 0
    keys = {bar["key"] for bar in results["bars"]}
    assert keys == {
        "clinc_accuracy",
        "banking_accuracy",
        "clinc_oos",
        "int8_drop",
        "clinc_default",
        "small_bots",
        "small_bots_kept",
        "p50_latency",
        "overhead",
        "throughput_32",
        "memory_start",
        "training_time",
        "entities_latency",  # --small trains 5 per intent: no subset with a bar
    }
    assert all(bar["passed"] in (True, False) for bar in results["bars"])
    default = acc["int8"]["clinc_product_default"]
    assert 0.0 < default["top1_inscope"] <= 1.0 and "familiarity" in default["thresholds"]
    bots = acc["small_bots"]
    assert len(bots["bots"]) == 1 and set(bots["by_size"]) == {"10"}
    for key in ("inscope_accuracy", "oos_recall", "withheld_recall", "auroc_familiarity"):
        assert 0.0 <= bots["mean"][key] <= 1.0
    depth = results["depth"]
    assert depth["encoder_layers"] == 6 and set(depth["depths"]) == {"6", "2"}
    full, cut = depth["depths"]["6"], depth["depths"]["2"]
    assert full["train_seconds"] == {"clinc": 0.0, "banking": 0.0}  # the accuracy part's models
    assert cut["encoder_mb"] < full["encoder_mb"]
    for row in (full, cut):
        assert 0.0 <= row["clinc_inscope"]["accuracy"] <= 1.0
        assert 0.0 <= row["banking"]["accuracy"] <= 1.0
        assert row["batch1"]["p50_ms"] > 0 and row["batch32_tps"] > 0


def test_many_bots_section_from_three_small_bots(small_results: Path) -> None:
    bots = json.loads((small_results / "results.json").read_text())["many_bots"]
    assert bots["generated"] == 3 and [row["bots"] for row in bots["rows"]] == [1, 3]
    for row in bots["rows"]:
        assert row["skipped"] == "" and row["rss_mb"] > 0 and row["start_s"] > 0
        assert row["disk_bytes"] >= bots["store_bytes"]
    # The version folders hold the heads; the encoders are stored once, outside them.
    assert bots["shared_version_bytes"] < bots["self_contained_version_bytes"] / 5
    assert bots["traced_export_seconds"] is None  # --small starts from the CLINC export's
    load = bots["load"]
    assert load["bots"] == 3 and load["errors"] == 0 and load["spread_rps"] > 0
    text = (small_results / "RESULTS.md").read_text()
    assert "## Many bots on one server" in text and "| 3 |" in text


def test_entity_section_from_five_snips_sentences_per_intent(small_results: Path) -> None:
    entities = json.loads((small_results / "results.json").read_text())["entities"]
    assert entities["test_sentences"] == 60
    (row,) = entities["rows"]
    assert (row["subset"], row["training"], row["train_sentences"]) == ("5", "frozen", 35)
    assert 0.0 <= row["slots"]["f1"] <= 1.0 and row["slots"]["support"] > 0
    assert entities["latency"]["with_p50_ms"] > 0 and entities["latency"]["without_p50_ms"] > 0
    assert "## Entities (SNIPS slots)" in (small_results / "RESULTS.md").read_text()


def test_markdown_has_every_table(small_results: Path) -> None:
    text = (small_results / "RESULTS.md").read_text()
    for heading in (
        "## Bars",
        "## Accuracy",
        "out-of-scope",
        "### Training time",
        "### The default out-of-scope decision",
        "### Small bots without out_of_scope examples",
        "### In-process baselines",
        "### One call, taken apart",
        "### Server, micro-batching on",
        "### Server, --no-batching",
        "### HTTP/JSON listener",
        "### Repeated messages: the answer cache",
        "## Speed/accuracy dial: encoder depth",
        "SMALL mode",
    ):
        assert heading in text
    assert text.count("| PASS") + text.count("**PASS**") + text.count("**FAIL**") >= 8


def test_help_explains_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0
    flags = ("--small", "--skip-speed", "--skip-accuracy", "--skip-depth", "--skip-many-bots",
             "--skip-entities", "--entity-subsets", "--entity-fine-tune")  # fmt: skip
    for flag in (*flags, "--many-bots", "--out"):
        assert flag in done.stdout
