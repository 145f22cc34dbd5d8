"""`exported/MODEL/VERSION/manifest.json`: what an export holds and how it was checked.

Written by the exporter after every verification gate ran, read by the server before it
loads anything. `to_json` / `from_json` are the only code that knows its JSON shape.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from intent_server.core.decision import Thresholds
from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.errors import ExportError
from intent_server.core.fields import Fields
from intent_server.core.files import write_json
from intent_server.core.layout import MANIFEST, VARIANTS
from intent_server.core.model_card import (
    EncoderIdentity,
    FamiliarityBank,
    FineTuning,
    TrainingMetrics,
)

# 6: `heads`, a head of its own for a variant (the INT8 encoder's `head.int8.onnx`);
# 5: the encoder also outputs `token_states`, an optional `entities` section names the entity
# head; 4: `encoder_store`, the encoders kept once in the export folder's shared store;
# 3: head.onnx also outputs `familiarity` (2: encoder `features` output). Formats 3 and 4 are
# still read: they serve intents only, as before (a format 3 manifest reads as one whose
# encoders are in its folder); formats 3-5 serve `head` with every variant.
FORMAT_VERSION = 6
READABLE_FORMATS = (3, 4, 5, 6)
REEXPORT = "; re-export the model (make export)"
REQUIRED_KEYS = (
    "format_version",
    "name",
    "version",
    "labels",
    "thresholds",
    "encoder",
    "default_encoder",
    "encoders",
    "head",
    "tokenizer",
    "files",
    "familiarity",
)


@dataclass(frozen=True)
class ExportedEncoder:
    """The encoder the ONNX files were made from, and the features they produce."""

    name: str
    source_path: str
    weights_sha256: str
    dim: int  # the `sentence_embedding` output's width
    feature_layers: tuple[int, ...]
    feature_dim: int  # the `features` output's width: the head's input
    max_tokens: int  # the tokenizer truncates here
    # Transformer layers in the ONNX graph (the first ones of the source model: fewer than
    # it has with --encoder-layers). None: an export from before the key, at full depth.
    # Informative only: the graph is what runs, so the format version did not change.
    num_layers: int | None = None
    # How the encoder was fine-tuned (`weights_sha256` is then the tuned weights'); None:
    # the stock encoder. Informative only, like num_layers.
    fine_tuning: FineTuning | None = None

    @classmethod
    def of(
        cls, identity: EncoderIdentity, fine_tuning: FineTuning | None = None
    ) -> ExportedEncoder:
        return cls(
            name=identity.name,
            source_path=identity.path,
            weights_sha256=identity.weights_sha256,
            dim=identity.dim,
            feature_layers=identity.feature_layers,
            feature_dim=identity.feature_dim,
            max_tokens=identity.max_seq_length,
            num_layers=identity.num_layers,
            fine_tuning=fine_tuning if fine_tuning and fine_tuning.keeps_tuned else None,
        )

    def to_json(self) -> dict[str, Any]:
        tuned = None if self.fine_tuning is None else self.fine_tuning.to_json()
        return asdict(self) | {"feature_layers": list(self.feature_layers), "fine_tuning": tuned}

    @classmethod
    def from_json(cls, fields: Fields) -> ExportedEncoder:
        layers = fields.integer("num_layers") if fields.has("num_layers") else None
        tuned = FineTuning.optional(fields, "fine_tuning")
        return fields.build(cls, num_layers=layers, fine_tuning=tuned)


@dataclass(frozen=True)
class GateResult:
    """One verification gate of the exporter: the ONNX files against the PyTorch model."""

    name: str
    passed: bool
    value: float | None
    bar: str
    detail: str
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: Fields) -> GateResult:
        return fields.build(cls)


@dataclass(frozen=True)
class ExportMetrics:
    val_examples: int
    val_held_out: bool  # False: the texts are a cross-validated bot's training texts
    val_accuracy_fp32: float
    val_accuracy_int8: float | None  # None when no INT8 encoder was written
    training: TrainingMetrics  # the model card's

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"training": self.training.to_json()}

    @classmethod
    def from_json(cls, fields: Fields) -> ExportMetrics:
        return fields.build(cls)


def _file_name(fields: Fields, key: str, value: str) -> str:
    if not value or Path(value).name != value:
        raise fields.fail(key, f"must be a plain file name, found {value!r}")
    return value


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str  # the export folder's name
    model_version: str  # the trained model's version (equal to `version` unless suffixed)
    labels: tuple[str, ...]  # the head's output order
    thresholds: Thresholds
    encoder: ExportedEncoder
    default_encoder: str  # the variant served unless the server is told otherwise
    encoders: dict[str, str]  # variant -> file name
    head: str
    tokenizer: str
    opset: int
    metrics: ExportMetrics
    verification: dict[str, GateResult]
    tools: dict[str, str]  # versions of torch, onnx, onnxruntime that made the files
    files: dict[str, str]  # sha256 of every file of the folder but the manifest
    created_at: str
    familiarity: FamiliarityBank  # built into the head (output `familiarity`)
    # The folder of the export folder (`exported/ENCODER_STORE/`) holding the files named in
    # `encoders` (content-addressed, shared by every version of every model); None: they are
    # in the version folder itself (a self-contained export, or format 3).
    encoder_store: str | None = None
    entities: EntityHeadInfo | None = None  # the entity head (`entities.head_file`) and lexicon
    # variant -> the head file served with that encoder variant instead of `head` (the INT8
    # encoder's smaller INT8 head); a variant not listed serves `head`.
    heads: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION  # as read (older exports lack `token_states`)

    def __post_init__(self) -> None:
        if len(self.labels) < 2 or not all(self.labels):
            raise ValueError("labels must be a list of 2+ names")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels contain duplicates")
        unknown = sorted(set(self.encoders) - set(VARIANTS))
        if unknown or self.default_encoder not in self.encoders:
            raise ValueError(
                f"encoders {sorted(self.encoders)} must be among {list(VARIANTS)} and hold "
                f"default_encoder {self.default_encoder!r}"
            )
        if set(self.heads) - set(self.encoders):
            raise ValueError(
                f"heads {sorted(self.heads)} must name variants of encoders {sorted(self.encoders)}"
            )
        head_file = "" if self.entities is None else self.entities.head_file
        if self.entities is not None and (not head_file or Path(head_file).name != head_file):
            raise ValueError(f"entities.head_file must be a plain file name, found {head_file!r}")

    def head_for(self, variant: str) -> str:
        """The head file served with the `variant` encoder."""
        return self.heads.get(variant, self.head)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "format_version": self.format_version,
            "labels": list(self.labels),
            "thresholds": self.thresholds.to_json(),
            "encoder": self.encoder.to_json(),
            "metrics": self.metrics.to_json(),
            "verification": {name: gate.to_json() for name, gate in self.verification.items()},
            "familiarity": self.familiarity.to_json(),
            "entities": None if self.entities is None else self.entities.to_json(),
        }

    @classmethod
    def from_json(cls, data: object, source: str) -> Manifest:
        fields = Fields(data, source, ExportError, fix=REEXPORT)
        missing = [key for key in REQUIRED_KEYS if not fields.has(key)]
        if missing:
            raise ExportError(f"{source} lacks the keys {missing}{REEXPORT}")
        found = fields.raw("format_version")
        if found not in READABLE_FORMATS or isinstance(found, bool):
            raise ExportError(
                f"{source} has format_version {found!r}; this server reads {READABLE_FORMATS}: "
                "re-export the model with the matching intent-export"
            )
        try:
            return cls._parse(fields)
        except ValueError as exc:
            raise ExportError(f"{source}: {exc}{REEXPORT}") from None

    @classmethod
    def _parse(cls, fields: Fields) -> Manifest:
        encoders = fields.text_map("encoders")
        heads = fields.text_map("heads") if fields.has("heads") else {}
        gates = fields.section("verification")
        store = None
        if fields.has("encoder_store") and fields.raw("encoder_store") is not None:
            store = _file_name(fields, "encoder_store", fields.text("encoder_store"))
        return fields.build(
            cls,
            encoder_store=store,
            encoders={k: _file_name(fields, f"encoders.{k}", v) for k, v in encoders.items()},
            head=_file_name(fields, "head", fields.text("head")),
            tokenizer=_file_name(fields, "tokenizer", fields.text("tokenizer")),
            verification={k: GateResult.from_json(gates.section(k)) for k in gates.data},
            entities=EntityHeadInfo.optional(fields),
            heads={k: _file_name(fields, f"heads.{k}", v) for k, v in heads.items()},
            format_version=fields.integer("format_version"),
        )

    def write(self, version_dir: Path) -> None:
        write_json(version_dir / MANIFEST, self.to_json())

    @classmethod
    def read(cls, version_dir: Path) -> Manifest:
        """Parse and check `version_dir/manifest.json`; ExportError naming what is wrong."""
        path = version_dir / MANIFEST
        if not path.is_file():
            raise ExportError(f"{path} is missing: not a complete export folder")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ExportError(f"{path} is not UTF-8 text: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ExportError(
                f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from exc
        except OSError as exc:
            raise ExportError(f"{path} cannot be read: {exc}") from exc
        return cls.from_json(data, str(path))
