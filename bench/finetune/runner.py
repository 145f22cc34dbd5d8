"""Train, export and score frozen and fine-tuned models; one row per (dataset, shots, seed).

Each fine-tuned model is trained with `--fine-tune=force`, so its test accuracy is known
even where `--fine-tune` (auto) would keep the frozen model; its model card says what auto
would have kept (the comparison on the bot's own held-out or cross-validated examples), and
the row's `product` accuracy is that model's. Few-shot bots are trained as a user would
train them (no validation file: cross-validated); full data uses the datasets' validation
splits, like the accuracy part. Rows are written to `out` as they finish.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import cast

from bench.accuracy import (
    Scorer,
    TrainedExport,
    Workspace,
    closed_set_scores,
    evaluate_clinc,
    train_and_export,
)
from bench.datasets import Banking, Clinc, Pairs
from bench.finetune.plan import ANCHORS, BARS, FULL, FineTunePlan, few_shot, first_intents
from bench.result_types import FineTuneResults, FineTuneRow, FineTuningRecord, ServedBot
from intent_server.core.layout import MODEL_CARD
from intent_server.core.model_card import ModelCard

VARIANT = "int8"  # what the server serves by default


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _record(ws: Workspace, name: str) -> FineTuningRecord:
    """The fine-tuning record of a model trained with `--fine-tune`, from its model card."""
    path = ws.models_dir / name / MODEL_CARD
    record = ModelCard.read(path).fine_tuning
    if record is None:
        raise RuntimeError(f"{path} has no fine_tuning record: trained without --fine-tune")
    # FineTuningRecord lists FineTuning's fields (tests/bench/test_result_types.py).
    return cast(FineTuningRecord, record.to_json())


def _test_accuracy(scorer: Scorer, export: TrainedExport, test_set: str, test: Pairs) -> float:
    probs, loaded = scorer.probabilities(export, test_set, [t for t, _ in test])
    return closed_set_scores(probs, loaded.labels, [i for _, i in test])["accuracy"]


def _splits(name: str, clinc: Clinc, banking: Banking) -> tuple[Pairs, Pairs, Pairs]:
    if name == "clinc":
        return clinc.train, clinc.val, clinc.test
    return banking.train, banking.holdout, banking.test


def _row(
    ws: Workspace, scorer: Scorer, dataset: str, shots: int, seed: int, data: tuple[Pairs, ...]
) -> tuple[FineTuneRow, TrainedExport]:
    from trainer.training.options import TrainOptions

    train_all, val, test = data
    train = few_shot(train_all, shots, seed)
    validation = val if shots == FULL else None
    tag = f"{dataset}_{'full' if shots == FULL else f'{shots}shot'}_s{seed}"
    frozen = train_and_export(
        ws, tag + "_frozen", train, validation, options=TrainOptions(seed=seed)
    )
    tuned = train_and_export(
        ws, tag + "_tuned", train, validation, options=TrainOptions(seed=seed, fine_tune="force")
    )
    record = _record(ws, tag + "_tuned")
    frozen_acc = _test_accuracy(scorer, frozen, f"{dataset}_inscope_test", test)
    tuned_acc = _test_accuracy(scorer, tuned, f"{dataset}_inscope_test", test)
    auto_keeps_tuned = record["tuned_accuracy"] > record["frozen_accuracy"]
    row: FineTuneRow = {
        "dataset": dataset,
        "shots": shots,
        "seed": seed,
        "examples": len(train),
        "frozen_test": frozen_acc,
        "tuned_test": tuned_acc,
        "auto_keeps": "tuned" if auto_keeps_tuned else "frozen",
        "product_test": tuned_acc if auto_keeps_tuned else frozen_acc,
        "comparison": record,
        "frozen_train_minutes": frozen.train_seconds / 60.0,
        "tuned_train_minutes": tuned.train_seconds / 60.0,
        "tuned_export_minutes": tuned.export_seconds / 60.0,
    }
    return row, tuned


def _served_bot(ws: Workspace, clinc: Clinc, plan: FineTunePlan) -> ServedBot:
    """A CLINC150 bot of `serve_intents` intents x `serve_shots` examples: `--fine-tune`
    training, export, the gRPC server up and answering its test texts, timed end to end."""
    from bench.server_process import intent_server
    from intent_server.client import IntentClient
    from trainer.training.options import TrainOptions

    train = few_shot(first_intents(clinc.train, plan.serve_intents), plan.serve_shots, 0)
    test = first_intents(clinc.test, plan.serve_intents)
    started = time.perf_counter()
    trained = train_and_export(
        ws, "served_bot", train, None, options=TrainOptions(fine_tune="auto")
    )
    with intent_server(ws.export_dir, "served_bot") as server:
        ready = time.perf_counter() - started
        with IntentClient(server.target) as client:
            answers = [client.classify(text).top_intent.name for text, _ in test]
    correct = sum(answer == intent for answer, (_, intent) in zip(answers, test, strict=True))
    return {
        "intents": plan.serve_intents,
        "shots": plan.serve_shots,
        "examples": len(train),
        "train_minutes": trained.train_seconds / 60.0,
        "export_minutes": trained.export_seconds / 60.0,
        "to_first_answer_minutes": ready / 60.0,
        "served_test_accuracy": correct / len(test),
        "test_texts": len(test),
        "fine_tuning": _record(ws, "served_bot"),
    }


def run_fine_tune(
    ws: Workspace,
    clinc: Clinc,
    banking: Banking,
    plan: FineTunePlan,
    save: Callable[[FineTuneResults], None] = lambda _: None,
) -> FineTuneResults:
    """Every row of `plan`, then the served bot (unless `plan.serve` is off); `save` gets
    the results after each step."""
    scorer = Scorer(VARIANT)
    results: FineTuneResults = {
        "variant": VARIANT,
        "rows": [],
        "served_bot": None,
        "anchors": {f"{d}:{s}": list(a) for (d, s), a in ANCHORS.items()},
        "bars": {f"{d}:{s}": bar for (d, s), bar in BARS.items()},
    }
    for dataset in plan.datasets:
        data = _splits(dataset, clinc, banking)
        for shots in plan.shots:
            for seed in plan.seeds:
                _say(f"fine-tuning: {dataset}, {shots or 'all'} shots, seed {seed}")
                row, tuned = _row(ws, scorer, dataset, shots, seed, data)
                if dataset == "clinc" and shots == FULL:
                    scored = evaluate_clinc(clinc, tuned, tuned, scorer)
                    row["oos"] = scored["without_oos_train"]["oos"]
                results["rows"].append(row)
                save(results)
    if plan.serve:
        _say("fine-tuning: a 10-shot bot trained, exported and served")
        results["served_bot"] = _served_bot(ws, clinc, plan)
        save(results)
    return results
