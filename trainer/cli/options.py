"""The options of the trainer's commands, declared once (`intent_server.core.options`):
`intent-train train` (with `TrainOptions`), `validate`, `evaluate` and `export`, which is
also installed as `intent-export`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from intent_server.core.layout import DEFAULT_OPSET
from intent_server.core.options import (
    ENCODER_VARIANT,
    EXPORT_DIR,
    MODEL,
    MODELS_DIR,
    Checked,
    Option,
    Program,
    Shared,
    option,
)
from trainer.errors import UserError
from trainer.training.options import CROSS_FIT_BELOW, TrainOptions

EVALUATION_DIR = Path("evaluation")
QUIET = Shared(False, Option(help="no progress bars"))
MIN_EXAMPLES = Shared(
    3,
    Option(check=lambda v: v >= 1, must="be at least 1", help="fewest examples an intent may have"),
)


class _Checked(Checked):
    """A command's options: a failed check is a UserError (exit 2, no traceback)."""

    options_error: ClassVar[type[Exception]] = UserError


@dataclass(frozen=True)
class TrainCommandOptions(_Checked):
    """`intent-train train`'s own options; the training options are `TrainOptions`."""

    data: Path = field(
        default=Path("examples/assistant"),
        metadata=option(help="a YAML file, or a folder of *.yml/*.yaml files"),
    )
    model: str = field(default=MODEL.default, metadata=MODEL.meta())
    models_dir: Path = field(
        default=MODELS_DIR.default,
        metadata=MODELS_DIR.meta("; the model is written to MODELS_DIR/MODEL/"),
    )
    cache_dir: Path | None = field(
        default=None,
        metadata=option(
            parse=Path, shown=".cache/embeddings/ at the project root", help="embedding cache"
        ),
    )
    min_examples: int = field(default=MIN_EXAMPLES.default, metadata=MIN_EXAMPLES.meta())
    quiet: bool = field(default=QUIET.default, metadata=QUIET.meta(" or summary"))


@dataclass(frozen=True)
class ValidateOptions(_Checked):
    path: Path = field(
        metadata=option(positional=True, parse=Path, help="a YAML file or a folder of them")
    )
    min_examples: int = field(default=MIN_EXAMPLES.default, metadata=MIN_EXAMPLES.meta())


def _fraction(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:  # NaN included
        raise ValueError(f"is a fraction between 0 and 1 (0.9 = 90 %), got {text!r}")
    return number


@dataclass(frozen=True)
class EvaluateOptions(_Checked):
    data: Path = field(
        metadata=option(
            parse=Path,
            help="labelled test examples: a YAML file or a folder of them, in the training "
            "data format (native or Rasa; at least two intents, out_of_scope counts as one)",
        )
    )
    model: str = field(default=MODEL.default, metadata=MODEL.meta())
    export_dir: Path = field(
        default=EXPORT_DIR.default,
        metadata=EXPORT_DIR.meta("; the export is read from EXPORT_DIR/MODEL/current"),
    )
    models_dir: Path = field(
        default=MODELS_DIR.default,
        metadata=MODELS_DIR.meta(
            "; read only to say what to run when MODEL is not exported, and to warn when the "
            "export was made from another version than the trained one"
        ),
    )
    out: Path | None = field(
        default=None,
        metadata=option(parse=Path, shown=f"{EVALUATION_DIR}/MODEL/", help="report folder"),
    )
    min_accuracy: float | None = field(
        default=None,
        metadata=option(
            parse=_fraction,
            help="exit 1 when accuracy is below this fraction (0.9 = 90 %); for CI gates",
        ),
    )
    min_entity_f1: float | None = field(
        default=None,
        metadata=option(
            parse=_fraction,
            help="exit 1 when the entities' micro F1 (exact span and type, as seqeval counts) "
            "is below this fraction; the data must annotate entities and the model must have "
            "an entity head (exit 2 otherwise); for CI gates",
        ),
    )
    encoder_variant: str = field(
        default=ENCODER_VARIANT.default, metadata=ENCODER_VARIANT.meta("; as the server does")
    )
    quiet: bool = field(default=QUIET.default, metadata=QUIET.meta())


@dataclass(frozen=True)
class ExportOptions(_Checked):
    options_what: ClassVar[str] = "export options"

    model: str = field(default=MODEL.default, metadata=MODEL.meta())
    models_dir: Path = field(default=MODELS_DIR.default, metadata=MODELS_DIR.meta())
    export_dir: Path = field(default=EXPORT_DIR.default, metadata=EXPORT_DIR.meta())
    encoder: Path | None = field(
        default=None,
        metadata=option(
            parse=Path,
            help="sentence-transformers folder to export (default: the folder recorded in "
            "model.json); must hold the same weights the model was trained with",
        ),
    )
    opset: int = field(
        default=DEFAULT_OPSET,
        metadata=option(
            check=lambda v: 13 <= v <= 21, must="be between 13 and 21", help="ONNX opset version"
        ),
    )
    skip_int8: bool = field(
        default=False,
        metadata=option(help="do not write the INT8 encoder (faster export)"),
    )
    require_int8: bool = field(
        default=False,
        metadata=option(
            help="fail (exit 1) when the INT8 encoder misses its gate; without this flag such "
            "an export is still published and serves the fp32 encoder"
        ),
    )
    keep: int = field(
        default=3,
        metadata=option(
            check=lambda v: v >= 0,
            must="be 0 (keep all) or more",
            help="keep the newest N export versions of the model, delete older ones (0: keep all)",
        ),
    )
    self_contained: bool = field(
        default=False,
        metadata=option(
            help="write the encoder into the version folder (about 113 MB per version), so "
            "the folder can be copied alone; by default it is stored once per encoder in "
            "EXPORT_DIR/.encoders/, shared by every version of every model, and reused "
            "without tracing when it is already there"
        ),
    )
    quiet: bool = field(default=QUIET.default, metadata=QUIET.meta())

    def cross_problems(self) -> list[str]:
        if self.skip_int8 and self.require_int8:
            return ["--skip-int8 and --require-int8 exclude each other"]
        return []


TRAIN = Program(
    "intent-train train",
    "Embed the examples with the frozen sentence encoder (cached on disk), train the MLP "
    "head (a one-cycle schedule), choose the out-of-scope thresholds, write a report, and "
    f"publish MODELS_DIR/MODEL/ atomically. Bots under {CROSS_FIT_BELOW} examples train the "
    "head on every example and calibrate on cross-validated answers; larger ones hold out "
    "--val-fraction (the epoch with the best validation accuracy is kept). A message unlike "
    "every training example (low familiarity) is answered out_of_scope even without "
    "out_of_scope examples. With --fine-tune the encoder itself is tuned on the examples too "
    "(minutes on a CPU) and kept only when it answers more held-out examples correctly than "
    "the frozen one.",
    options=(TrainCommandOptions, TrainOptions),
    summary="train a model from YAML examples into MODELS_DIR/MODEL/",
)
VALIDATE = Program(
    "intent-train validate",
    "Report every problem in the training data (file, line, intent) and a summary; exit 0 "
    "when it can be trained, 2 otherwise.",
    options=(ValidateOptions,),
    summary="check training data for mistakes without training",
)
EVALUATE = Program(
    "intent-train evaluate",
    "Answer every example of a labelled YAML/Rasa file with the export the server loads "
    "(EXPORT_DIR/MODEL/current: the same onnxruntime model, thresholds and familiarity rule) "
    "and write report.json, report.md and confusion.png: accuracy (the share of examples "
    "answered right; for an out_of_scope example the right answer is out of scope), "
    "macro-F1, in-scope accuracy, out-of-scope recall, per-intent table, confused pairs, "
    "wrong answers; when the file annotates entities and the model has an entity head, entity "
    "precision, recall and F1 per type and micro-averaged, and the wrong spans with file:line. "
    "Examples of intents the model does not know are counted wrong, with a "
    "warning. A model that is trained but not exported is refused: run `intent-train export "
    "--model MODEL` (`make export MODEL=MODEL`) first. Exit 0; 1 when accuracy is below "
    "--min-accuracy or the entity F1 below --min-entity-f1; 2 for a mistake (bad data file, "
    "unknown model, --min-entity-f1 without entities to score).",
    options=(EvaluateOptions,),
    summary="score a model's export on a labelled test file (YAML or Rasa)",
)
EXPORT = Program(
    "intent-train export",
    "Export a trained model (MODELS_DIR/MODEL/) to EXPORT_DIR/MODEL/VERSION/: head ONNX, "
    "tokenizer.json and manifest.json; the encoder ONNX (fp32 and INT8) is stored once per "
    "encoder in EXPORT_DIR/.encoders/ and reused by later exports (stored encoders no version "
    "uses any more are removed). The ONNX files are checked against PyTorch before anything "
    "is published; then `current` is switched "
    "atomically. A failed export leaves the previous one untouched. Exit 0; 1 when a "
    "verification gate fails (nothing published); 2 for a mistake; 130 when interrupted. "
    "Also installed as `intent-export`, with the same options and exit codes.",
    options=(ExportOptions,),
    summary="export a trained model to ONNX files the server loads (also: intent-export)",
    aliases=("intent-export",),
)
INTENT_TRAIN = Program(
    "intent-train",
    "Train intent models from YAML examples, check them, export and evaluate them (see "
    "docs/training.md).",
    commands=(TRAIN, VALIDATE, EVALUATE, EXPORT),
)
INTENT_EXPORT = replace(EXPORT, name="intent-export", aliases=())
