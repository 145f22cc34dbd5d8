"""RESULTS.md's many-bots section."""

from __future__ import annotations

from bench.result_types import ManyBotsResults, ManyBotsRow
from trainer.markdown import markdown_table


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def _cells(row: ManyBotsRow) -> tuple[str, ...]:
    rss = "-" if row["rss_mb"] is None else f"{row['rss_mb']:.0f} MB"
    start = "-" if row["start_s"] is None else f"{row['start_s']:.1f} s"
    return (str(row["bots"]), _mb(row["disk_bytes"]), rss, start, row["skipped"] or "")


def many_bots_section(bots: ManyBotsResults) -> list[str]:
    traced = bots["traced_export_seconds"]
    lines = [
        "## Many bots on one server",
        "",
        f"{bots['generated']} small bots trained and exported through the product from "
        f"CLINC150's domains ({bots['intents']} intents x {bots['examples']} examples, "
        "domain, intents, texts and seed differ per bot; the stock encoder), made in "
        f"{bots['generate_seconds']:.0f} s (training {bots['train_seconds_mean']:.1f} s a bot "
        "on average). One server (`--model all`) per count, each count's own export folder.",
        "",
        *markdown_table(
            "bots | disk (exports + encoder store) | RSS after one call per bot | start to "
            "SERVING | not served because",
            [_cells(row) for row in bots["rows"]],
        ),
        "",
        *markdown_table(
            "per bot version | disk",
            [
                (
                    "encoder in the version folder (`--self-contained`, as before)",
                    _mb(bots["self_contained_version_bytes"]),
                ),
                (
                    "encoder in the shared store (mean version folder)",
                    _mb(bots["shared_version_bytes"]),
                ),
                ("the shared store (once for all bots)", _mb(bots["store_bytes"])),
            ],
        ),
        "",
        f"Export of one more bot: {bots['reused_export_seconds']:.1f} s when the store "
        "already holds its encoder (median); "
        + (
            "every bot reused the stored encoder."
            if traced is None
            else f"{traced:.1f} s for the first bot, which traced and quantized it (what every "
            "export took before)."
        ),
    ]
    load = bots["load"]
    if load is not None:
        ratio = load["spread_rps"] / load["one_bot_rps"] if load["one_bot_rps"] else 0.0
        lines += [
            "",
            f"{load['clients']} clients on one bot: {load['one_bot_rps']:.0f} calls/s; spread "
            f"over {load['bots']} bots: {load['spread_rps']:.0f} calls/s ({ratio:.2f} x), "
            f"{load['errors']} failed calls (same server, same run).",
        ]
    return lines
