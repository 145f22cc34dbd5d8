"""Bots that differ only in their heads, made from one export.

`make_bots` copies one exported version N times (encoder and tokenizer hard-linked, so the
copies cost no disk and carry the same encoder sha256) and gives every copy its own head:
the output layer's bias moved by seeded noise, so each bot answers a little differently,
as bots trained on other data would, while the encoder stays the same. An export with an INT8
head (manifest `heads`) gets the same noise on that head's output bias (the output layer
stays fp32 there). The manifest records the new heads' sha256, the pointer the new
manifest's: each copy is a valid export.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.core.exports import pointer_text, resolve_current
from intent_server.core.files import atomic_write, sha256_file
from intent_server.core.layout import CURRENT, MANIFEST

BIAS_NOISE = 0.5  # logits; enough to move some answers, not enough to break the bot


def _output_bias(head: Path) -> str:
    """The name of the head's output layer's bias (one value per label): its last `.bias`."""
    import onnx

    model = onnx.load(str(head))
    return [init.name for init in model.graph.initializer if init.name.endswith(".bias")][-1]


def _new_head(source: Path, target: Path, seed: int, bias: str) -> None:
    """`source` head with its output bias `bias` moved by seeded noise, written to `target`."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    last = next(init for init in model.graph.initializer if init.name == bias)
    values = numpy_helper.to_array(last).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0.0, BIAS_NOISE, values.shape)
    last.CopyFrom(numpy_helper.from_array((values + noise).astype(np.float32), last.name))
    onnx.save(model, str(target))


def make_bot(
    source_version: Path, export_dir: Path, name: str, seed: int, suffix: str = ""
) -> Path:
    """One bot `name` in `export_dir` whose head differs from `source_version`'s (seeded),
    `current` switched to it last (atomically: a watching server may be reading it)."""
    manifest = json.loads((source_version / MANIFEST).read_text(encoding="utf-8"))
    version = f"{manifest['version']}-{suffix or name}"
    target = export_dir / name / version
    target.mkdir(parents=True)
    heads = {manifest["head"], *manifest.get("heads", {}).values()}
    for path in source_version.iterdir():
        if path.name != MANIFEST and path.name not in heads:
            os.link(path, target / path.name)
    bias = _output_bias(source_version / manifest["head"])
    for head in sorted(heads):
        _new_head(source_version / head, target / head, seed, bias)
        manifest["files"][head] = sha256_file(target / head)
    _link_stored_encoders(manifest, source_version.parent.parent, export_dir)
    manifest.update(name=name, version=version)
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    pointer = pointer_text(version, sha256_file(target / MANIFEST))
    atomic_write(export_dir / name / CURRENT, pointer)
    return target


def _link_stored_encoders(manifest: dict[str, Any], source_dir: Path, export_dir: Path) -> None:
    """Encoders kept in the source export folder's shared store are linked into this one's."""
    store = manifest.get("encoder_store")
    if not store:
        return
    (export_dir / store).mkdir(parents=True, exist_ok=True)
    for file_name in manifest["encoders"].values():
        if not (export_dir / store / file_name).exists():
            os.link(source_dir / store / file_name, export_dir / store / file_name)


def make_bots(
    source_export_dir: Path, export_dir: Path, count: int, model: str = "default"
) -> list[str]:
    """`count` bots `bot0000`... in `export_dir`, from `source_export_dir/model`'s current
    version, each with its own head (seed = its number)."""
    source = resolve_current(source_export_dir, model)
    names = [f"bot{number:04d}" for number in range(count)]
    for number, name in enumerate(names):
        make_bot(source, export_dir, name, seed=number)
    return names
