"""`models/MODEL/model.json`, the model card: what the trainer made and how.

Written by the trainer, read by the exporter (and copied in part into the export manifest).
`to_json` / `from_json` are the only code that knows its JSON shape.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from intent_server.core.decision import Thresholds
from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.errors import ModelCardError
from intent_server.core.fields import Fields
from intent_server.core.files import write_json

FORMAT_VERSION = 3  # 3: a familiarity bank and its threshold (2: feature layers)
RETRAIN = "; retrain the model (make train)"


@dataclass(frozen=True)
class HeadConfig:
    """The MLP head: Linear-[BatchNorm]-ReLU-Dropout blocks, then a linear layer to classes."""

    input_dim: int = 1152
    hidden: tuple[int, ...] = (1024,)
    dropout: float = 0.3
    batch_norm: bool = True
    num_classes: int = 2

    def __post_init__(self) -> None:
        if self.input_dim <= 0 or self.num_classes < 2:
            raise ValueError("a head needs input_dim > 0 and at least 2 classes")
        if any(size <= 0 for size in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_json(self) -> dict[str, Any]:
        return {"type": "mlp", **asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_json(cls, fields: Fields) -> HeadConfig:
        if fields.text("type") != "mlp":
            raise fields.fail("type", "must be 'mlp'")
        return fields.build(cls)


@dataclass(frozen=True)
class EncoderIdentity:
    """What makes two encoders produce the same features (the embedding cache key too)."""

    name: str
    path: str  # the folder it was loaded from (not part of the identity: a copy embeds the same)
    weights_sha256: str
    dim: int  # width of the sentence embedding and of each layer's pooled state
    max_seq_length: int  # tokens; longer texts are truncated
    # Transformer layers (1 = first) whose mean-pooled, L2-normalised states are
    # concatenated into the features the head reads.
    feature_layers: tuple[int, ...]
    # Transformer layers that run: the first `num_layers` of the folder's model. Fewer than
    # the folder holds when trained with --encoder-layers; the exporter cuts the encoder to
    # this depth again. Model cards from before that option hold the full depth, which is
    # what they ran, so the format did not change.
    num_layers: int
    token_type_ids: bool = True  # the transformer takes token_type_ids (BERT does)

    def __post_init__(self) -> None:
        if not self.feature_layers:
            raise ValueError("an encoder identity needs at least one feature layer")

    @property
    def feature_dim(self) -> int:
        """Width of the features (the head's input)."""
        return self.dim * len(self.feature_layers)

    def cache_key(self) -> str:
        """Short stable key of the features, path left out.

        `num_layers` is left out too: layer k's states depend only on layers 1..k, so an
        encoder cut to N layers computes the same features as the full one for any layers
        up to N, and both may share cached vectors. The depths' default features differ
        (4,5,6 at 6 layers, 2,3,4 at 4), and the layer list is in the key. Whatever runs the
        whole encoder (its sentence embedding, an ONNX graph of it) needs this key plus
        `num_layers`.
        """
        layers = ",".join(str(layer) for layer in self.feature_layers)
        material = f"{self.weights_sha256}|{self.max_seq_length}|{self.dim}|layers={layers}"
        return hashlib.sha256(f"{material}|{self.feature_dim}".encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["feature_layers"] = list(self.feature_layers)
        data["feature_dim"] = self.feature_dim
        return data

    @classmethod
    def from_json(cls, fields: Fields) -> EncoderIdentity:
        identity = fields.build(cls)
        if fields.has("feature_dim") and fields.integer("feature_dim") != identity.feature_dim:
            raise fields.fail("feature_dim", f"disagrees with the layers ({identity.feature_dim})")
        return identity


@dataclass(frozen=True)
class TrainingRun:
    """How the head was trained: every training option, then what the run did."""

    options: dict[str, Any]  # the trainer's TrainOptions, as JSON values
    epochs_run: int
    best_epoch: int
    best_val_loss: float | None
    explicit_validation: bool  # validation came from its own data, not a hold-out
    data_sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        run = asdict(self)
        del run["options"]
        return self.options | run | {"data_sources": list(self.data_sources)}

    @classmethod
    def from_json(cls, fields: Fields) -> TrainingRun:
        run = {item.name for item in dataclasses.fields(cls)}
        return fields.build(cls, options={k: v for k, v in fields.data.items() if k not in run})


@dataclass(frozen=True)
class TrainingMetrics:
    """Scores on the calibration texts (None where there were no such examples): a held-out
    split, or every example scored by a cross-validated head that never saw it."""

    val_examples: int
    val_method: str  # "held-out" or "cross-validated"
    val_accuracy: float | None  # argmax, no thresholds
    val_macro_f1: float | None
    val_inscope_accuracy_with_thresholds: float | None
    val_correct_inscope_rejected: int  # right by argmax, turned out of scope by the thresholds
    val_oos_recall: float | None
    train_examples: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> TrainingMetrics:
        return fields.build(cls)


@dataclass(frozen=True)
class FamiliarityBank:
    """The training examples' unit feature vectors that familiarity is measured against, and
    how the score is made from the cosines (both parts are built into the head graph).
    Files written before `offset_scale`, `confidence_weight` and `intent_neighbours` existed
    read as 0: the plain best cosine over the whole bank."""

    examples: int  # vectors in the bank
    source_examples: int  # in-scope training examples they were chosen from
    per_intent: int  # at most this many per intent (0: every example is in the bank)
    offset_scale: float = 0.0  # per-vector density offsets, this share of the neighbour gap
    confidence_weight: float = 0.0  # weight of log(best probability) added to the score
    # > 0: the mean of this many best cosines among the predicted intent's own vectors;
    # 0: the best cosine over the whole bank
    intent_neighbours: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> FamiliarityBank:
        optional: dict[str, float | int] = {
            key: fields.number(key) if fields.has(key) else 0.0
            for key in ("offset_scale", "confidence_weight")
        }
        has = fields.has("intent_neighbours")
        optional["intent_neighbours"] = fields.integer("intent_neighbours") if has else 0
        return fields.build(cls, **optional)


@dataclass(frozen=True)
class FineTuning:
    """`--fine-tune`: how the encoder was tuned, and which model the comparison kept."""

    recipe: str  # "contrastive" or "end-to-end"
    mode: str  # "auto" (keep the better) or "force" (keep the tuned one)
    kept: str  # TUNED or FROZEN: whose encoder and head the model holds
    compared_on: str  # "held-out" or "cross-validated"
    compared_examples: int
    frozen_accuracy: float  # argmax accuracy on the compared examples
    tuned_accuracy: float
    base_weights_sha256: str  # the stock encoder the tuning started from
    runs: int  # tuning runs (one per cross-validation fold, then the final one)
    epochs: int  # of the final run
    steps: int  # of the final run
    stopped_early: bool  # --max-minutes cut a run short
    minutes: float  # all tuning runs and their feature passes
    # With entity annotations: slot F1 on the compared examples (absent in older cards).
    frozen_entity_f1: float | None = None
    tuned_entity_f1: float | None = None
    entity_spans: int = 0
    entity_head: str = ""  # "joint" (trained with the encoder) or "retrained" on its states

    TUNED = "tuned"
    FROZEN = "frozen"

    def __post_init__(self) -> None:
        if self.kept not in (self.TUNED, self.FROZEN):
            raise ValueError(f"fine_tuning.kept must be {self.TUNED!r} or {self.FROZEN!r}")

    @property
    def keeps_tuned(self) -> bool:
        return self.kept == self.TUNED

    @property
    def gain_points(self) -> float:
        return 100.0 * (self.tuned_accuracy - self.frozen_accuracy)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> FineTuning:
        entity_fields = ("frozen_entity_f1", "tuned_entity_f1", "entity_spans", "entity_head")
        if all(key in fields.data for key in entity_fields):
            return fields.build(cls)
        return fields.build(
            cls, frozen_entity_f1=None, tuned_entity_f1=None, entity_spans=0, entity_head=""
        )

    @classmethod
    def optional(cls, fields: Fields, key: str) -> FineTuning | None:
        """The record under `key`, None where the file has none (trained without it)."""
        if not fields.has(key) or fields.raw(key) is None:
            return None
        return cls.from_json(fields.section(key))

    def summary(self) -> str:
        """One line for the log and the report."""
        what = "the fine-tuned encoder" if self.keeps_tuned else "the frozen encoder"
        why = " (--fine-tune=force)" if self.mode == "force" else ""
        return (
            f"fine-tuning ({self.recipe}, {self.minutes:.1f} min): kept {what}{why}: "
            f"{self.compared_on} accuracy {self.tuned_accuracy:.2%} tuned against "
            f"{self.frozen_accuracy:.2%} frozen ({self.gain_points:+.2f} points, "
            f"{self.compared_examples} examples)" + self._entity_summary()
        )

    def _entity_summary(self) -> str:
        if self.tuned_entity_f1 is None or self.frozen_entity_f1 is None:
            return ""
        return (
            f"; slot F1 {self.tuned_entity_f1:.2%} tuned ({self.entity_head} head) against "
            f"{self.frozen_entity_f1:.2%} frozen ({self.entity_spans} spans)"
        )


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str  # UTC time + 8 hex of the head weights' sha256
    labels: tuple[str, ...]  # the head's output order
    head: HeadConfig
    encoder: EncoderIdentity
    thresholds: Thresholds
    training: TrainingRun
    metrics: TrainingMetrics
    created_at: str
    familiarity: FamiliarityBank
    fine_tuning: FineTuning | None = None  # trained with --fine-tune
    entities: EntityHeadInfo | None = None  # trained on entity annotations

    def __post_init__(self) -> None:
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"a model needs 2 or more distinct labels, got {self.labels}")
        if self.head.num_classes != len(self.labels):
            raise ValueError(
                f"{len(self.labels)} labels but the head has {self.head.num_classes} outputs"
            )
        if self.head.input_dim != self.encoder.feature_dim:
            raise ValueError(
                f"the head reads {self.head.input_dim}-d inputs but the encoder's features "
                f"(layers {list(self.encoder.feature_layers)}) are {self.encoder.feature_dim}-d"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "labels": list(self.labels),
            "head": self.head.to_json(),
            "encoder": self.encoder.to_json(),
            "thresholds": self.thresholds.to_json(),
            "training": self.training.to_json(),
            "metrics": self.metrics.to_json(),
            "created_at": self.created_at,
            "familiarity": self.familiarity.to_json(),
            "fine_tuning": None if self.fine_tuning is None else self.fine_tuning.to_json(),
            "entities": None if self.entities is None else self.entities.to_json(),
        }

    @classmethod
    def from_json(cls, data: object, source: str) -> ModelCard:
        fields = Fields(data, source, ModelCardError, fix=RETRAIN)
        found = fields.raw("format_version")
        if found != FORMAT_VERSION:
            raise ModelCardError(
                f"{source} has format_version {found!r}, this version reads {FORMAT_VERSION}"
                f"{RETRAIN}"
            )
        try:
            return fields.build(
                cls,
                fine_tuning=FineTuning.optional(fields, "fine_tuning"),
                entities=EntityHeadInfo.optional(fields),
            )
        except ValueError as exc:
            raise ModelCardError(f"{source}: {exc}{RETRAIN}") from None

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelCardError(f"{path} cannot be read: {exc}{RETRAIN}") from None
        return cls.from_json(data, str(path))
