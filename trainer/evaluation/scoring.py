"""Answer texts the way the server does.

`open_export` finds the export the server would load (`EXPORT_DIR/NAME/current`);
`answer_texts` runs `IntentModel.predict` over the texts in chunks and applies `decide` with
the export's thresholds and each text's familiarity, as the server's converters do. The
answers are scored by `trainer.metrics`, as the benchmark's are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from intent_server.core.cpus import auto_threads
from intent_server.core.decision import Decision, decide
from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.errors import ExportError, ModelCardError
from intent_server.core.exports import LoadedExport, list_models, load_export, resolve_current
from intent_server.core.layout import MODEL_CARD
from intent_server.core.model_card import ModelCard
from trainer.errors import UserError
from trainer.logs import progress

log = logging.getLogger(__name__)

CHUNK = 64  # texts per IntentModel.predict call


def open_export(
    name: str, export_dir: Path, models_dir: Path, variant: str | None = None
) -> LoadedExport:
    """The verified export `export_dir/name/current` (variant None: the export's default
    encoder); a missing or damaged one is a UserError saying what to run."""
    if not name or Path(name).name != name or name in (".", ".."):
        raise UserError(f"invalid model name {name!r}: give a model's name, e.g. --model default")
    trained = models_dir / name / MODEL_CARD
    if not (export_dir / name).is_dir():
        if trained.is_file():
            raise UserError(
                f"model '{name}' is trained ({trained.parent}) but not exported, and evaluate "
                f"scores the export the server loads: run `make export MODEL={name}` (or "
                f"`intent-train export --model {name}`) first"
            )
        known = ", ".join(list_models(export_dir)) or "none"
        raise UserError(
            f"unknown model '{name}': no export in {export_dir} (exported models: {known}) and "
            f"no trained model in {models_dir}; train and export it first "
            f"(`make train MODEL={name} && make export MODEL={name}`)"
        )
    try:
        loaded = load_export(resolve_current(export_dir, name), variant)
    except ExportError as exc:
        raise UserError(f"cannot evaluate model '{name}': {exc}") from None
    _warn_if_stale(loaded, trained)
    return loaded


def _warn_if_stale(loaded: LoadedExport, trained: Path) -> None:
    """Say so when `models/NAME/` holds another version than the export being evaluated."""
    try:
        version = ModelCard.read(trained).version if trained.is_file() else None
    except ModelCardError:
        return
    if version is not None and version != loaded.manifest.model_version:
        log.warning(
            "note: %s is version %s but the export evaluated (%s) was made from %s; run "
            "`make export MODEL=%s` to evaluate the trained one",
            trained.parent,
            version,
            loaded.path,
            loaded.manifest.model_version,
            loaded.name,
        )


@dataclass(frozen=True)
class Answers:
    """The server's answer to each text, and what the head alone would have said."""

    labels: tuple[str, ...]  # the model's labels (its probability columns)
    decisions: tuple[Decision, ...]
    truncated: int  # texts longer than the encoder's token limit (only their start counted)
    # Per text, the entities the server answers (None: the export has no entity head).
    entities: tuple[tuple[ExtractedEntity, ...], ...] | None = None

    def answers(self) -> list[str]:
        """The server's `intent`: an intent or `out_of_scope`."""
        return [decision.label for decision in self.decisions]

    def head_answers(self) -> list[str]:
        """The head's best label (argmax, no out-of-scope thresholds)."""
        return [self.labels[decision.top_index] for decision in self.decisions]


def answer_texts(loaded: LoadedExport, texts: Sequence[str], threads: int | None = None) -> Answers:
    """Every text through `IntentModel.predict` (CHUNK at a time, with a progress bar) and
    `decide` with the export's thresholds and the text's familiarity; the entities too when
    the export has an entity head."""
    try:
        model = loaded.open(auto_threads() if threads is None else threads)
    except ExportError as exc:  # an ONNX file onnxruntime cannot load
        raise UserError(f"cannot evaluate model '{loaded.name}': {exc}") from None
    labels, thresholds = loaded.labels, loaded.thresholds
    decisions: list[Decision] = []
    entities: list[tuple[ExtractedEntity, ...]] | None = [] if model.has_entities else None
    truncated = 0
    with progress(total=len(texts), desc=f"evaluate {loaded.name}", unit="text") as bar:
        for start in range(0, len(texts), CHUNK):
            prediction = model.predict(list(texts[start : start + CHUNK]))
            familiarity = prediction.familiarity
            for row, probs in enumerate(prediction.probabilities):
                seen = None if familiarity is None else float(familiarity[row])
                decisions.append(decide(probs, labels, thresholds, seen))
            if entities is not None and prediction.entities is not None:
                entities += prediction.entities
            truncated += sum(prediction.truncated)
            bar.update(len(prediction))
    return Answers(
        labels, tuple(decisions), truncated, None if entities is None else tuple(entities)
    )
