"""The kept tuned encoder as a sentence-transformers folder inside the model folder
(`models/MODEL/encoder/`), where the exporter finds it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from intent_server.core.layout import TUNED_ENCODER
from intent_server.core.model_card import EncoderIdentity
from trainer.features.identity import encoder_identity

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

SUFFIX = "-fine-tuned"


def save_tuned_encoder(
    model: SentenceTransformer, staged: Path, final: Path, base: EncoderIdentity
) -> EncoderIdentity:
    """Write the tuned encoder into the staged model folder; its identity names the folder
    it will have once published (`final`), its own weights and the base's feature layers."""
    folder = staged / TUNED_ENCODER
    model.save(str(folder))
    name = base.name + SUFFIX
    # encoder_identity names an encoder by its README's title.
    (folder / "README.md").write_text(
        f"# {name}\n\n{base.name} fine-tuned on one bot's examples by intent-train "
        "(see the model card, model.json, one folder up).\n",
        encoding="utf-8",
    )
    identity = encoder_identity(folder, base.feature_layers)
    return dataclasses.replace(identity, path=str(final / TUNED_ENCODER))
