"""The entity section: SNIPS trained through the product and scored as the server answers.

Each subset (all training sentences, or K drawn per intent with a fixed seed) is written as
our YAML with `[text](entity)` markup, read back by the real loader, trained by
`trainer.pipeline.train` (what `make train` runs; `--fine-tune` when asked), exported by
`export_model` (what `make export` runs) and loaded with `IntentModel`, the server's
runtime. On SNIPS test: slot precision, recall and F1 (seqeval's micro average: exact span
and type, the predicted spans moved to whole words as SNIPS's tokens are scored) and intent
accuracy (argmax of the served probabilities, and after the out-of-scope decision).
Serving latency with and without the entity head: one export, the same encoder session,
the entity head removed on one side, calls interleaved (`latency`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.snips.bio import token_aligned
from bench.snips.dataset import DRAW_SEED, SUBSETS, load_snips, subset_data, write_snips_yaml
from bench.snips.latency import LATENCY_CALLS, measure_latency
from bench.snips.results import EntitiesResults, EntityRow, EntityScoresJson
from intent_server.core.decision import decide
from intent_server.core.entities.spans import EntitySpan
from intent_server.core.exports import LoadedExport, load_export, resolve_current
from trainer.data import TrainingData
from trainer.entity_metrics import score_entities

FROZEN, FINE_TUNED = "frozen", "fine-tune"
CHUNK = 64  # texts per IntentModel.predict call


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class EntitySettings:
    subsets: tuple[str, ...] = SUBSETS
    fine_tune: bool = False  # each subset also trained with --fine-tune
    test_sentences: int | None = None  # the first N of SNIPS test (None: all 700)
    latency_calls: int = LATENCY_CALLS  # per side
    seed: int = DRAW_SEED


@dataclass(frozen=True)
class _Paths:
    work: Path
    cache_dir: Path
    export_dir: Path

    @property
    def models_dir(self) -> Path:
        return self.work / "models"


@dataclass(frozen=True)
class _Trained:
    examples: int  # kept by the loader
    spans: int  # their annotated spans
    train_minutes: float
    export_minutes: float


def _train(paths: _Paths, name: str, data: TrainingData, fine_tune: bool) -> _Trained:
    """Train `name` from the YAML of `data` as `make train` does, and export it."""
    from trainer.data import load_training_data
    from trainer.export.pipeline import export_model
    from trainer.pipeline import TrainOptions, train

    path = write_snips_yaml(data, paths.work / "data" / f"{name}.yml")
    # SNIPS repeats sentences and annotates words unevenly: thousands of loader warnings.
    data_log = logging.getLogger("trainer.data")
    level = data_log.level
    data_log.setLevel(logging.ERROR)
    try:
        loaded = load_training_data(path, min_examples=1)
    finally:
        data_log.setLevel(level)
    options = TrainOptions(fine_tune="auto" if fine_tune else "off")
    _say(
        f"entities: training {name} ({len(loaded.examples)} of {len(data.examples)} sentences: "
        "the loader drops repeats; its warnings are not shown)"
    )
    result = train(
        loaded,
        model_name=name,
        models_dir=paths.models_dir,
        options=options,
        cache_dir=paths.cache_dir,
    )
    started = time.perf_counter()
    export_model(name, models_dir=paths.models_dir, export_dir=paths.export_dir)
    export_minutes = (time.perf_counter() - started) / 60
    spans = sum(len(example.entities) for example in loaded.examples)
    return _Trained(len(loaded.examples), spans, result.total_seconds / 60, export_minutes)


def served_answers(
    loaded: LoadedExport, texts: Sequence[str]
) -> tuple[list[str], list[str], list[tuple[EntitySpan, ...]]]:
    """The head's best intent, the server's answer (the out-of-scope decision applied) and
    the entities of each text, from the runtime model."""
    model = loaded.open()
    best, said, spans = [], [], []
    for start in range(0, len(texts), CHUNK):
        chunk = list(texts[start : start + CHUNK])
        prediction = model.predict(chunk)
        if prediction.entities is None:
            raise RuntimeError(f"{loaded.path} answers no entities: it has no entity head")
        familiarity = prediction.familiarity
        for row, probs in enumerate(prediction.probabilities):
            seen = None if familiarity is None else float(familiarity[row])
            best.append(loaded.labels[int(np.argmax(probs))])
            said.append(decide(probs, loaded.labels, loaded.thresholds, seen).label)
        for text, found in zip(chunk, prediction.entities, strict=True):
            extracted = [EntitySpan(e.start, e.end, e.entity, e.value) for e in found]
            spans.append(token_aligned(text, extracted))
    return best, said, spans


def _share(answers: Sequence[str], truth: Sequence[str]) -> float:
    return sum(a == t for a, t in zip(answers, truth, strict=True)) / max(len(truth), 1)


def score_export(loaded: LoadedExport, test: TrainingData) -> tuple[EntityScoresJson, float, float]:
    """Slot scores (seqeval micro), intent accuracy by argmax and after the decision."""
    best, said, spans = served_answers(loaded, test.texts())
    scores = score_entities(test.examples, spans)
    slots: EntityScoresJson = {
        "precision": scores.precision,
        "recall": scores.recall,
        "f1": scores.f1,
        "support": scores.support,
        "predicted": scores.predicted,
        "correct": scores.correct,
    }
    truth = test.intents()
    return slots, _share(best, truth), _share(said, truth)


def _row(
    paths: _Paths, subset: str, mode: str, data: TrainingData, test: TrainingData
) -> EntityRow:
    name = f"snips_{subset}_{mode.replace('-', '_')}"
    trained = _train(paths, name, data, mode == FINE_TUNED)
    loaded = load_export(resolve_current(paths.export_dir, name))
    slots, argmax_accuracy, decided_accuracy = score_export(loaded, test)
    info = loaded.manifest.entities
    row: EntityRow = {
        "subset": subset,
        "training": mode,
        "train_sentences": len(data.examples),
        "train_examples": trained.examples,
        "annotated_spans": trained.spans,
        "train_minutes": trained.train_minutes,
        "export_minutes": trained.export_minutes,
        "variant": loaded.encoder_variant,
        "slots": slots,
        "intent_accuracy": argmax_accuracy,
        "intent_accuracy_decided": decided_accuracy,
        "held_out_f1": info.val_f1 if info is not None else None,
        "model": name,
    }
    _say(
        f"entities: {name}: slot F1 {100 * slots['f1']:.1f}, intent {100 * argmax_accuracy:.1f} %"
        f" ({trained.train_minutes:.1f} min training)"
    )
    return row


def _latency_export(paths: _Paths, rows: Sequence[EntityRow]) -> LoadedExport:
    """The export timed: the 70-per-intent frozen one when it was made, else the first."""
    preferred = [row for row in rows if row["subset"] == "70" and row["training"] == FROZEN]
    row = (preferred or list(rows))[0]
    return load_export(resolve_current(paths.export_dir, row["model"]))


def run_entities(
    work: Path,
    settings: EntitySettings,
    cache_dir: Path,
    export_dir: Path,
    datasets: Path | None = None,
) -> EntitiesResults:
    """Every subset (frozen, and fine-tuned when asked), scored on SNIPS test; the latency
    with and without the entity head on one of their exports."""
    paths = _Paths(work / "entities", cache_dir, export_dir)
    train = load_snips("train", datasets)
    test = load_snips("test", datasets)
    if settings.test_sentences is not None:
        test = TrainingData(test.examples[: settings.test_sentences], test.sources)
    modes = (FROZEN, FINE_TUNED) if settings.fine_tune else (FROZEN,)
    rows = [
        _row(paths, subset, mode, subset_data(train, subset, settings.seed), test)
        for subset in settings.subsets
        for mode in modes
    ]
    latency = measure_latency(_latency_export(paths, rows), test.texts(), settings.latency_calls)
    return {
        "train_sentences": len(train.examples),
        "test_sentences": len(test.examples),
        "draw_seed": settings.seed,
        "rows": rows,
        "latency": latency,
    }
