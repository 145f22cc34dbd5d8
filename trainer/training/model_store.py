"""Write `models/MODEL/` (staged and swapped in by `trainer.staging`) and read it back; one
training run of a model at a time (`model_lock`)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from intent_server.core.entities.spans import EntitySpan
from intent_server.core.errors import ModelCardError
from intent_server.core.files import shareable, write_json
from intent_server.core.layout import FAMILIARITY_BANK, HEAD_WEIGHTS, MODEL_CARD, VALIDATION_SPLIT
from intent_server.core.model_card import ModelCard
from trainer.errors import UserError
from trainer.staging import ensure_folder, replace_folder, restore_preserved, staged_folder
from trainer.training.head import MLPHead, ServedHead

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_model_name(name: str) -> str:
    if not _NAME.match(name):
        raise UserError(
            f"invalid model name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (for example --model default)"
        )
    return name


@dataclass(frozen=True)
class ValidationSplit:
    """`validation.json`: the texts the thresholds were chosen on (the exporter runs its gates
    and the INT8 decision on them). `held_out` False: a cross-validated bot's own training
    texts, which the final head has learnt. `entities`: each text's annotated spans, for a
    bot with an entity head (the INT8 entity gate scores both encoders against them); None
    for other bots and for files written before it."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    held_out: bool = True
    entities: tuple[tuple[EntitySpan, ...], ...] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "texts": list(self.texts),
            "labels": list(self.labels),
            "held_out": self.held_out,
        }
        if self.entities is not None:
            data["entities"] = [
                [[span.start, span.end, span.entity] for span in spans] for spans in self.entities
            ]
        return data

    def write(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> ValidationSplit:
        data = json.loads(path.read_text(encoding="utf-8"))
        texts, labels = tuple(data["texts"]), tuple(data["labels"])
        if len(texts) != len(labels) or not all(isinstance(t, str) for t in texts + labels):
            raise ValueError(f"{path}: texts and labels must be lists of strings of one length")
        held_out = data.get("held_out", True)
        if not isinstance(held_out, bool):
            raise ValueError(f"{path}: held_out must be true or false")
        return cls(texts, labels, held_out, _read_entities(path, data.get("entities"), texts))


def _read_entities(
    path: Path, rows: Any, texts: tuple[str, ...]
) -> tuple[tuple[EntitySpan, ...], ...] | None:
    """`entities` of validation.json: per text, [start, end, entity] of each span."""
    if rows is None:
        return None
    try:
        if len(rows) != len(texts):
            raise ValueError("one list per text")
        return tuple(
            tuple(
                EntitySpan(int(start), int(end), str(entity), text[int(start) : int(end)])
                for start, end, entity in spans
            )
            for text, spans in zip(texts, rows, strict=True)
        )
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: entities must hold, for each text, a list of [start, end, entity] ({error})"
        ) from error


@contextmanager
def staged_model_dir(models_dir: Path, name: str) -> Iterator[Path]:
    """Yield an empty temp folder next to `models_dir/name`; on success it replaces that folder,
    on any exception (Ctrl-C included) it is removed and the previous model stays."""
    check_model_name(name)
    with staged_folder(models_dir, name, "models folder") as tmp:
        yield tmp
        replace_folder(tmp, models_dir / name)


def save_head(head: MLPHead, path: Path) -> None:
    from safetensors.torch import save

    state = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    # Serialised here and written by Python: a full disk is an OSError, not safetensors' own.
    path.write_bytes(save(state))
    shareable(path)


def save_bank(vectors: np.ndarray, offsets: np.ndarray, intents: np.ndarray, path: Path) -> None:
    from safetensors.numpy import save

    tensors: dict[str, np.ndarray] = {
        "bank": np.ascontiguousarray(vectors, dtype=np.float32),
        "offsets": np.ascontiguousarray(offsets, dtype=np.float32),
        "intents": np.ascontiguousarray(intents, dtype=np.int64),
    }
    path.write_bytes(save(tensors))
    shareable(path)


@contextmanager
def model_lock(models_dir: Path, name: str) -> Iterator[None]:
    """Hold `models_dir/.NAME.lock` (an flock, let go when the process ends however it ends)
    for a whole training run of NAME: a second run of the same model at the same time is
    refused at its start (UserError) instead of both publishing and the later one silently
    winning. The file is removed when the run ends."""
    check_model_name(name)
    ensure_folder(models_dir, "models folder")
    path = models_dir / f".{name}.lock"
    descriptor = _locked(path, name, models_dir)
    try:
        with contextlib.suppress(OSError):  # who holds it is only for the message
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            os.ftruncate(descriptor, 0)  # a killed run's words
            os.pwrite(descriptor, f"pid {os.getpid()}, started {started}".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still locked: a run waiting on this file retries
        os.close(descriptor)


def _locked(path: Path, name: str, models_dir: Path) -> int:
    """A descriptor of `path` holding its flock; the file it locks is the one at `path` now
    (a run that opened the file just before its holder removed it opens the new one)."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode("utf-8", "replace").strip()
            os.close(descriptor)
            raise UserError(
                f"model {name!r} in {models_dir} is being trained by another run "
                f"({holder or 'pid unknown'}): wait for it to finish, or train under another "
                "--model name"
            ) from None
        try:
            if os.fstat(descriptor).st_ino == os.stat(path).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)


@dataclass(frozen=True)
class TrainedModel:
    """A trained model folder, loaded for the exporter (head in eval mode)."""

    path: Path
    card: ModelCard
    head: MLPHead
    validation: ValidationSplit
    bank: np.ndarray  # [M, feature_dim] unit vectors (see trainer.calibration.familiarity)
    offsets: np.ndarray  # [M] density offsets (zeros in models trained before them)
    intents: np.ndarray  # [M] each vector's label index (zeros in models trained before them)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    def served_head(self) -> ServedHead:
        """The module `head.onnx` is traced from: head, bank, offsets, confidence weight."""
        import torch

        return ServedHead(
            self.head,
            torch.from_numpy(self.bank),
            torch.from_numpy(self.offsets),
            self.card.familiarity.confidence_weight,
            torch.from_numpy(self.intents),
            self.card.familiarity.intent_neighbours,
        ).eval()


def load_trained_model(model_dir: Path) -> TrainedModel:
    """Read and check `models/MODEL/`; UserError saying which file is wrong."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    restore_preserved(model_dir)  # a training run killed while replacing it
    if not (model_dir / MODEL_CARD).is_file():
        raise UserError(
            f"no trained model in {model_dir} ({MODEL_CARD} missing); run 'make train' first"
        )
    try:
        card = ModelCard.read(model_dir / MODEL_CARD)
    except ModelCardError as exc:
        raise UserError(f"trained model in {model_dir} is damaged: {exc}") from None
    try:
        validation = ValidationSplit.read(model_dir / VALIDATION_SPLIT)
        head = MLPHead(card.head)
        head.load_state_dict(load_file(str(model_dir / HEAD_WEIGHTS)))
        bank, offsets, intents = _load_bank(model_dir / FAMILIARITY_BANK, card)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise UserError(f"trained model in {model_dir} is damaged: {exc}; retrain it") from exc
    head.eval()
    return TrainedModel(model_dir, card, head, validation, bank, offsets, intents)


def _load_bank(path: Path, card: ModelCard) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bank, its offsets and intents (zeros when the file predates them)."""
    from safetensors.numpy import load_file

    tensors = load_file(str(path))
    bank = tensors["bank"]
    expected = (card.familiarity.examples, card.head.input_dim)
    if bank.shape != expected or bank.dtype != np.float32:
        raise ValueError(f"{path} holds {bank.dtype} {bank.shape}, the model card says {expected}")
    offsets = tensors.get("offsets", np.zeros(len(bank), dtype=np.float32))
    if offsets.shape != (len(bank),) or offsets.dtype != np.float32:
        raise ValueError(f"{path}: offsets are {offsets.dtype} {offsets.shape}, not one per vector")
    intents = tensors.get("intents", np.zeros(len(bank), dtype=np.int64))
    if intents.shape != (len(bank),) or intents.dtype != np.int64:
        raise ValueError(f"{path}: intents are {intents.dtype} {intents.shape}, not one per vector")
    return bank, offsets, intents
