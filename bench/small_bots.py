"""Small bots simulated from CLINC150: what most real bots look like.

For each of CLINC150's 10 domains (15 intents each) and each seed, a bot of 10 of the
domain's intents with 10, 15 or 20 training examples each and no out_of_scope examples is
trained through the product (YAML -> loader -> `train`), its head and familiarity bank go
through the exporter's own `export_head`, and it is scored with the server's rule on:
its intents' test queries (in-scope accuracy after the decision), `oos_test` (unrelated
questions caught) and the 5 withheld intents' test queries (near misses caught).
Every bot reads the features of one real ONNX encoder export (`Scorer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.accuracy import (
    Scorer,
    TrainedExport,
    Workspace,
    decisions,
    top_inscope_probability,
    train_and_export,
)
from bench.datasets import Clinc, Pairs
from bench.result_types import BotScores, SmallBot, SmallBots
from intent_server.core.decision import OUT_OF_SCOPE, Thresholds
from intent_server.core.encoder.runtime import make_session
from intent_server.core.layout import FAMILIARITY_OUTPUT, HEAD_INPUT, HEAD_OUTPUT
from trainer.markdown import markdown_table
from trainer.metrics import accuracy, auroc, oos_scores

BOT_INTENTS = 10
SIZES = (10, 15, 20)
# The bar: real requests kept. In-scope after the decision at most this many points under
# top-1, on the mean and in the worst domain, with unrelated questions caught.
MEAN_LOSS_BAR, DOMAIN_LOSS_BAR, CAUGHT_BAR = 0.02, 0.03, 0.95
SEEDS = (0, 1)


@dataclass(frozen=True)
class Plan:
    domains: dict[str, list[str]]
    sizes: tuple[int, ...] = SIZES
    seeds: tuple[int, ...] = SEEDS


def _bot(clinc: Clinc, intents: list[str], size: int, rng: np.random.Generator) -> Pairs:
    pairs: Pairs = []
    for intent in intents:
        texts = [t for t, i in clinc.train if i == intent]
        pairs += [(texts[k], intent) for k in sorted(rng.choice(len(texts), size, replace=False))]
    return pairs


@dataclass(frozen=True)
class _Served:
    probs: np.ndarray
    familiarity: np.ndarray
    labels: tuple[str, ...]
    thresholds: Thresholds


def _served_outputs(ws: Workspace, name: str, pairs: Pairs, features: np.ndarray) -> _Served:
    """Train `name` through the product, export its head graph, run it on `features`."""
    from trainer.export.onnx_files import export_head
    from trainer.training.model_store import load_trained_model

    train_and_export(ws, name, pairs, None, export=False)
    trained = load_trained_model(ws.models_dir / name)
    path = ws.root / "heads" / f"{name}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    export_head(trained.served_head(), path)
    session = make_session(path)
    probs, familiarity = session.run([HEAD_OUTPUT, FAMILIARITY_OUTPUT], {HEAD_INPUT: features})
    return _Served(
        np.asarray(probs), np.asarray(familiarity), trained.labels, trained.card.thresholds
    )


def _score_bot(served: _Served, truth: Sequence[str], groups: dict[str, np.ndarray]) -> BotScores:
    probs, familiarity, labels = served.probs, served.familiarity, served.labels
    said = np.array(decisions(probs, labels, served.thresholds, familiarity), dtype=object)
    argmax = np.array([labels[i] for i in probs.argmax(axis=1)], dtype=object)
    truth_arr = np.array(truth, dtype=object)
    inside, ood, near = groups["in_scope"], groups["oos_test"], groups["withheld"]
    unrelated = np.r_[np.zeros(inside.sum()), np.ones(ood.sum())].astype(bool)
    top = top_inscope_probability(probs, labels)
    withheld_as_oos = np.full(int(near.sum()), OUT_OF_SCOPE, dtype=object)  # caught: OOS
    return {
        "argmax_accuracy": accuracy(argmax[inside], truth_arr[inside]),
        "inscope_accuracy": accuracy(said[inside], truth_arr[inside]),
        "oos_recall": oos_scores(said[ood], truth_arr[ood]).oos_recall,
        "withheld_recall": oos_scores(said[near], withheld_as_oos).oos_recall,
        "auroc_familiarity": auroc(-np.r_[familiarity[inside], familiarity[ood]], unrelated),
        "auroc_softmax": auroc(-np.r_[top[inside], top[ood]], unrelated),
    }


def _mean(rows: Sequence[BotScores]) -> BotScores:
    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    return {
        "argmax_accuracy": mean([row["argmax_accuracy"] for row in rows]),
        "inscope_accuracy": mean([row["inscope_accuracy"] for row in rows]),
        "oos_recall": mean([row["oos_recall"] for row in rows]),
        "withheld_recall": mean([row["withheld_recall"] for row in rows]),
        "auroc_familiarity": mean([row["auroc_familiarity"] for row in rows]),
        "auroc_softmax": mean([row["auroc_softmax"] for row in rows]),
    }


def run_small_bots(
    ws: Workspace, clinc: Clinc, plan: Plan, scorer: Scorer, encoder_export: TrainedExport
) -> SmallBots:
    """Every bot of `plan`, scored; means per size and over all bots."""
    test = clinc.test + clinc.oos_test
    texts = [t for t, _ in test]
    features = scorer.features(encoder_export, "small_bots_test", texts)
    truth = [i for _, i in test]
    is_oos = np.array([i == OUT_OF_SCOPE for i in truth])
    rows: list[SmallBot] = []
    for seed in plan.seeds:
        for number, (domain, intents) in enumerate(sorted(plan.domains.items())):
            rng = np.random.default_rng(1000 * seed + number)
            chosen = sorted(str(i) for i in rng.choice(intents, BOT_INTENTS, replace=False))
            withheld = [i for i in intents if i not in chosen]
            groups = {
                "in_scope": np.array([i in chosen for i in truth]),
                "oos_test": is_oos,
                "withheld": np.array([i in withheld for i in truth]),
            }
            for size in plan.sizes:
                name = f"bot-{domain}-{size}-{seed}"
                pairs = _bot(clinc, chosen, size, rng)
                served = _served_outputs(ws, name, pairs, features)
                scores = _score_bot(served, truth, groups)
                rows.append({"domain": domain, "size": size, "seed": seed, **scores})
    domains = sorted({row["domain"] for row in rows})
    return {
        "bots": rows,
        "by_size": {str(s): _mean([r for r in rows if r["size"] == s]) for s in plan.sizes},
        "by_domain": {d: _mean([r for r in rows if r["domain"] == d]) for d in domains},
        "mean": _mean(rows),
    }


def loss(scores: BotScores) -> float:
    """Top-1 minus in-scope after the decision: the real requests the decision turns away."""
    return scores["argmax_accuracy"] - scores["inscope_accuracy"]


def small_bots_section(bots: SmallBots) -> list[str]:
    """RESULTS.md's small-bot tables: by examples per intent, and by domain."""
    head = (
        "argmax % | in-scope after decision % | turned away (points) | oos_test caught % "
        "| withheld intents caught % | AUROC familiarity | AUROC softmax"
    )

    def cells(row: BotScores) -> tuple[str, ...]:
        return (
            f"{100 * row['argmax_accuracy']:.2f}",
            f"{100 * row['inscope_accuracy']:.2f}",
            f"{100 * loss(row):.2f}",
            f"{100 * row['oos_recall']:.2f}",
            f"{100 * row['withheld_recall']:.2f}",
            f"{row['auroc_familiarity']:.4f}",
            f"{row['auroc_softmax']:.4f}",
        )

    by_size = [(size, *cells(row)) for size, row in bots["by_size"].items()]
    lines = [
        "",
        "### Small bots without out_of_scope examples (CLINC150 domains, int8)",
        "",
        "10 of a domain's 15 intents, no out_of_scope examples; means over "
        f"{len(bots['bots'])} bots (domains x sizes x seeds).",
        "",
        *markdown_table(f"examples per intent | {head}", [*by_size, ("all", *cells(bots["mean"]))]),
    ]
    if "by_domain" in bots:
        by_domain = [(domain, *cells(row)) for domain, row in bots["by_domain"].items()]
        lines += ["", *markdown_table(f"domain | {head}", by_domain)]
    return lines


def small_plan(domains: dict[str, list[str]], small: bool) -> Plan:
    """Every domain, both sizes and seeds; `small`: one domain, one size, one seed."""
    if small:
        first = sorted(domains)[0]
        return Plan({first: domains[first]}, sizes=(10,), seeds=(0,))
    return Plan(domains)


def load_domains(root: Path) -> dict[str, list[str]]:
    import json

    data = json.loads((root / "clinc150" / "domains.json").read_text(encoding="utf-8"))
    return {str(k): [str(i) for i in v] for k, v in data.items()}
