"""The speed/accuracy dial: `intent-train --encoder-layers N` for several depths N.

For each N: CLINC150 (in-scope test) and BANKING77 (test) accuracy of models trained,
exported and scored as `bench.accuracy` does (INT8 encoder, argmax), the INT8 encoder's
size, and the in-process ONNX INT8 model's batch-1 latency and batch-32 throughput on the
speed part's 200 texts. The depths are timed in alternating rounds, so a shared machine's
drift falls on every depth alike. Part of `make bench`; alone:
`python -m bench.depth [--small] [--out depth.json]`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.accuracy import Scorer, TrainedExport, Workspace, closed_set_scores, train_and_export
from bench.datasets import Banking, Clinc
from bench.loadgen import percentiles_ms
from bench.result_types import DepthAccuracy, DepthResults, DepthRow
from bench.speed import BATCH, side_by_side, text_mix, time_calls
from intent_server.core.cpus import auto_threads
from intent_server.core.exports import load_export, resolve_current
from intent_server.core.intent_model import IntentModel
from intent_server.core.options import Program, option, options_from_args
from trainer.markdown import markdown_table

DEPTHS = (6, 4, 3, 2)
SMALL_DEPTHS = (6, 2)
VARIANT = "int8"  # what the server serves by default


@dataclass(frozen=True)
class DepthSettings:
    depths: tuple[int, ...] = DEPTHS
    rounds: int = 5  # alternating timing rounds over the depths
    single_texts: int = 300  # batch-1 calls timed per depth, over all rounds
    batch_rounds: int = 20  # batches of 32 timed per depth, over all rounds


SMALL = DepthSettings(depths=SMALL_DEPTHS, rounds=2, single_texts=20, batch_rounds=2)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _pairs_texts(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [text for text, _ in pairs], [intent for _, intent in pairs]


Exports = tuple[TrainedExport, TrainedExport]  # the CLINC and the BANKING model


def _exports(ws: Workspace, clinc: Clinc, banking: Banking, layers: int, full: int) -> Exports:
    """The CLINC and BANKING models at `layers` encoder layers. At full depth the default
    options are used, and the accuracy part's `clinc` and `banking` models (same data,
    same options) are reused when this run made them."""
    from trainer.training.options import TrainOptions

    if layers == full and all((ws.export_dir / name).is_dir() for name in ("clinc", "banking")):
        made = [
            TrainedExport(name, 0.0, 0.0, 0.0, resolve_current(ws.export_dir, name))
            for name in ("clinc", "banking")
        ]
        return made[0], made[1]
    options = TrainOptions(encoder_layers=None if layers == full else layers)
    return (
        train_and_export(ws, f"clinc_l{layers}", clinc.train, clinc.val, options=options),
        train_and_export(ws, f"banking_l{layers}", banking.train, banking.holdout, options=options),
    )


def _accuracy(clinc: Clinc, banking: Banking, exports: Exports) -> DepthAccuracy:
    scorer = Scorer(VARIANT)
    texts, truth = _pairs_texts(clinc.test)
    probs, loaded = scorer.probabilities(exports[0], "clinc_test", texts)
    clinc_scores = closed_set_scores(probs, loaded.labels, truth)
    texts, truth = _pairs_texts(banking.test)
    probs, loaded = scorer.probabilities(exports[1], "banking_test", texts)
    encoder = loaded.encoder_path
    return {
        "clinc_inscope": clinc_scores,
        "banking": closed_set_scores(probs, loaded.labels, truth),
        "encoder_file": encoder.name,
        "encoder_mb": encoder.stat().st_size / 1e6,
        "train_seconds": {e.name: e.train_seconds for e in exports},
    }


def _served_like(model: IntentModel) -> IntentModel:
    """Warmed up, and with a batch's texts side by side as the server runs them on 2+ CPUs
    (`serving.row_mode`), so batch 32 is the server's best at every depth."""
    model.warm_up()
    side_by_side(model)
    return model


def _one_by_one(model: IntentModel) -> Callable[[str], object]:
    return lambda text: model.predict([text])


Timings = dict[int, list[float]]  # seconds by depth


def _timed(
    models: dict[int, IntentModel], texts: list[str], settings: DepthSettings
) -> tuple[Timings, Timings]:
    """Batch-1 latencies and batch-32 seconds per depth, the depths alternating in rounds."""
    batches = [texts[i : i + BATCH] for i in range(0, len(texts) - BATCH + 1, BATCH)]
    single: Timings = {depth: [] for depth in models}
    batched: Timings = {depth: [] for depth in models}
    per_round = max(1, settings.single_texts // settings.rounds)
    batch_rounds = max(1, settings.batch_rounds // settings.rounds)
    for round_index in range(settings.rounds):
        start = round_index * per_round % len(texts)
        rotated = [*texts[start:], *texts[:start]]
        for depth, model in models.items():
            single[depth] += time_calls(_one_by_one(model), rotated, per_round)
            model.predict(batches[0])
            for i in range(batch_rounds):
                began = time.perf_counter()
                model.predict(batches[(round_index * batch_rounds + i) % len(batches)])
                batched[depth].append(time.perf_counter() - began)
    return single, batched


def run_depth(
    ws: Workspace, clinc: Clinc, banking: Banking, settings: DepthSettings
) -> DepthResults:
    """Every depth's accuracy (trained and exported here), then their speed, timed together."""
    from trainer.features.identity import encoder_identity

    full = encoder_identity().num_layers
    threads = auto_threads()
    depths = [depth for depth in settings.depths if 1 <= depth <= full]
    scores: dict[int, DepthAccuracy] = {}
    models: dict[int, IntentModel] = {}
    for depth in depths:
        _say(f"encoder depth {depth} of {full}: train, export, score")
        exports = _exports(ws, clinc, banking, depth, full)
        scores[depth] = _accuracy(clinc, banking, exports)
        models[depth] = _served_like(load_export(exports[0].version_dir, VARIANT).open(threads))
    texts = text_mix([text for text, _ in clinc.test])
    _say(f"encoder depths {depths}: batch 1 and batch {BATCH}, {settings.rounds} rounds")
    single, batched = _timed(models, texts, settings)
    rows: dict[int, DepthRow] = {
        depth: {
            **scores[depth],
            "batch1": percentiles_ms(single[depth]),
            "batch32_tps": BATCH * len(batched[depth]) / sum(batched[depth]),
        }
        for depth in depths
    }
    return {
        "encoder_layers": full,
        "variant": VARIANT,
        "threads": auto_threads(),
        "texts": len(texts),
        "rounds": settings.rounds,
        "depths": {str(depth): rows[depth] for depth in depths},
    }


@dataclass(frozen=True)
class DepthOptions:
    small: bool = field(default=False, metadata=option(help="tiny subsets, depths 6 and 2"))
    out: Path | None = field(
        default=None, metadata=option(parse=Path, help="write the results as JSON here")
    )


DEPTH = Program(
    "python -m bench.depth",
    "The speed/accuracy dial alone (part of python -m bench.run): CLINC150 and BANKING77 "
    "trained, exported and scored at several --encoder-layers depths, with the INT8 "
    "encoder's size and in-process speed; prints a Markdown section.",
    options=(DepthOptions,),
)


def depth_section(depth: DepthResults) -> list[str]:
    """RESULTS.md's `--encoder-layers N` section: accuracy against speed, one row per depth."""
    rows = depth["depths"]
    full = rows.get(str(depth["encoder_layers"]))
    table = []
    for layers, row in rows.items():
        p50, tps = row["batch1"]["p50_ms"], row["batch32_tps"]
        versus = (
            (f"{p50 / full['batch1']['p50_ms']:.2f}x", f"{tps / full['batch32_tps']:.2f}x")
            if full
            else ("-", "-")
        )
        table.append(
            (
                f"{layers}{' (default)' if row is full else ''}",
                _pct(row["clinc_inscope"]["accuracy"]),
                _pct(row["banking"]["accuracy"]),
                f"{row['encoder_mb']:.1f}",
                f"{p50:.2f}",
                f"{tps:.0f}",
                *versus,
            )
        )
    headers = (
        "encoder layers | CLINC150 in-scope % | BANKING77 % | encoder MB | batch-1 p50 ms "
        "| batch-32 texts/s | p50 vs full | batch-32 vs full"
    )
    return [
        "## Speed/accuracy dial: encoder depth",
        "",
        f"`intent-train --encoder-layers N` keeps the encoder's first N of "
        f"{depth['encoder_layers']} layers (features: the last three kept). Models trained, "
        f"exported and scored as above ({depth['variant']} encoder, argmax); speed: the "
        f"in-process ONNX {depth['variant']} model, {depth['threads']} threads, on the "
        f"{depth['texts']} speed texts (INT8 batches with their texts side by side, as the "
        f"server runs them), the depths alternating in {depth['rounds']} rounds.",
        "",
        *markdown_table(headers, table),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = options_from_args(DEPTH.parse_args(argv), DepthOptions)
    from bench import datasets
    from trainer import logs

    logs.configure(quiet=args.small)
    clinc, banking = datasets.load_clinc(), datasets.load_banking()
    if args.small:
        clinc, banking = datasets.small_clinc(clinc), datasets.small_banking(banking)
    with tempfile.TemporaryDirectory(prefix="intent-depth-") as work:
        results = run_depth(
            Workspace(Path(work)), clinc, banking, SMALL if args.small else DepthSettings()
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print("\n".join(depth_section(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
