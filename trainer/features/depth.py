"""`--encoder-layers N`: keep only the transformer's first N layers, in place.

The one place a loaded encoder is cut down (`encoding.load_sentence_transformer` calls it),
so the trainer's features, the sentence embedding the exporter checks against and the traced
`encoder.onnx` all run the same N layers. Layer k's hidden states depend only on layers
1..k, so the kept layers compute exactly what they computed in the full model: cutting
trades the later layers' extra accuracy for a proportionally cheaper encoder.
"""

from __future__ import annotations

from typing import Any

from trainer.errors import UserError
from trainer.features.identity import LAYER_COUNT_KEYS

# Where Hugging Face models keep their list of transformer layers (BERT, RoBERTa, MPNet,
# XLM-R: encoder.layer; DistilBERT: transformer.layer).
LAYER_LISTS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers")


def _layer_list(transformer: Any) -> tuple[Any, str]:
    """The module holding the layer list and the list's attribute name."""
    for dotted in LAYER_LISTS:
        owner_path, _, name = dotted.rpartition(".")
        owner = transformer
        for part in owner_path.split(".") if owner_path else ():
            owner = getattr(owner, part, None)
        if owner is not None and hasattr(getattr(owner, name, None), "__len__"):
            return owner, name
    raise UserError(
        f"--encoder-layers: cannot find the layer list of {type(transformer).__name__} "
        f"(looked for {', '.join(LAYER_LISTS)}); use this encoder at full depth"
    )


def keep_first_layers(transformer: Any, layers: int) -> None:
    """Cut the HF transformer `transformer` to its first `layers` layers (and say so in its
    config); a no-op at full depth. UserError when it has fewer layers than that."""
    from torch import nn

    owner, name = _layer_list(transformer)
    stack = getattr(owner, name)
    if not 1 <= layers <= len(stack):
        raise UserError(
            f"--encoder-layers {layers}: the encoder has {len(stack)} transformer layers, "
            f"choose 1..{len(stack)}"
        )
    if layers == len(stack):
        return
    setattr(owner, name, nn.ModuleList(list(stack)[:layers]))
    config = getattr(transformer, "config", None)
    for key in LAYER_COUNT_KEYS:
        if isinstance(getattr(config, key, None), int):
            setattr(config, key, layers)
