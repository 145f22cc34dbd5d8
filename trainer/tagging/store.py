"""The entity head's weights in `models/MODEL/` (`entities.safetensors`), written by the
training run and read back by the exporter."""

from __future__ import annotations

from pathlib import Path

from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.files import shareable
from intent_server.core.layout import ENTITY_HEAD_WEIGHTS
from trainer.errors import UserError
from trainer.tagging.head import TokenHead


def save_entity_head(head: TokenHead, folder: Path) -> None:
    from safetensors.torch import save

    state = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    path = folder / ENTITY_HEAD_WEIGHTS
    path.write_bytes(save(state))
    shareable(path)


def load_entity_head(folder: Path, info: EntityHeadInfo) -> TokenHead:
    """The trained head (eval mode); UserError naming the file when it is missing or damaged."""
    from safetensors.torch import load_file

    path = folder / ENTITY_HEAD_WEIGHTS
    head = TokenHead(info.token_dim, info.hidden, info.tag_set.size)
    try:
        head.load_state_dict(load_file(str(path)))
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise UserError(f"trained model in {folder} is damaged: {path}: {exc}; retrain it") from exc
    return head.eval()
