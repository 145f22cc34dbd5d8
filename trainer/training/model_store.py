"""Write `models/MODEL/` atomically and read it back (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intent_server.decision import Thresholds
from trainer.errors import UserError
from trainer.head import HeadConfig, MLPHead, build_head
from trainer.processes import pid_alive

FORMAT_VERSION = 1
HEAD_FILE = "head.safetensors"
MODEL_FILE = "model.json"
VALIDATION_FILE = "validation.json"
REPORT_DIR = "report"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_model_name(name: str) -> str:
    if not _NAME.match(name):
        raise UserError(
            f"invalid model name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (for example --model default)"
        )
    return name


def remove_stale_temp_dirs(models_dir: Path, name: str) -> None:
    """Temp folders left by a killed run (SIGKILL, power loss) whose process is gone."""
    if not models_dir.is_dir():
        return
    for entry in models_dir.glob(f".{name}.*-*"):
        match = re.match(rf"^\.{re.escape(name)}\.(?:tmp|old)-(\d+)-", entry.name)
        if match and entry.is_dir() and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


@contextmanager
def staged_model_dir(models_dir: Path, name: str) -> Iterator[Path]:
    """Yield an empty temp folder next to `models_dir/name`; on success it replaces that folder,
    on any exception (Ctrl-C included) it is removed and the previous model stays."""
    check_model_name(name)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the models folder {models_dir}: {exc}") from exc
    remove_stale_temp_dirs(models_dir, name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=models_dir))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a model is not secret
        yield tmp
        _swap_into_place(tmp, models_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Two renames: old -> .old, tmp -> final; the old one is restored if the second fails."""
    if not final.exists():
        os.replace(tmp, final)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-{os.getpid()}-", dir=final.parent))
    old.rmdir()
    os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def save_head(head: MLPHead, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in head.state_dict().items()}
    save_file(state, str(path))
    os.chmod(path, 0o666 & ~_umask())


@dataclass(frozen=True)
class TrainedModel:
    """A trained model folder, loaded for the exporter (head in eval mode)."""

    path: Path
    config: dict[str, Any]
    head: MLPHead
    head_config: HeadConfig
    labels: tuple[str, ...]
    thresholds: Thresholds
    validation_texts: tuple[str, ...]
    validation_labels: tuple[str, ...]

    @property
    def name(self) -> str:
        return str(self.config["name"])

    @property
    def version(self) -> str:
        return str(self.config["version"])

    @property
    def encoder_path(self) -> Path:
        return Path(self.config["encoder"]["path"])


def load_trained_model(model_dir: Path) -> TrainedModel:
    """Read and check `models/MODEL/`; UserError saying which file is wrong."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    if not (model_dir / MODEL_FILE).is_file():
        raise UserError(
            f"no trained model in {model_dir} ({MODEL_FILE} missing); run 'make train' first"
        )
    try:
        config = json.loads((model_dir / MODEL_FILE).read_text(encoding="utf-8"))
        validation = json.loads((model_dir / VALIDATION_FILE).read_text(encoding="utf-8"))
        head_config = HeadConfig.from_json(config["head"])
        labels = tuple(str(x) for x in config["labels"])
        th = config["thresholds"]
        thresholds = Thresholds(float(th["confidence"]), float(th["margin"]), str(th["rule"]))
        head = build_head(head_config)
        head.load_state_dict(load_file(str(model_dir / HEAD_FILE)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise UserError(f"trained model in {model_dir} is damaged: {exc}; retrain it") from exc
    if len(labels) != head_config.num_classes:
        raise UserError(
            f"{model_dir / MODEL_FILE}: {len(labels)} labels but the head has "
            f"{head_config.num_classes} outputs; retrain the model"
        )
    head.eval()
    return TrainedModel(
        path=model_dir,
        config=config,
        head=head,
        head_config=head_config,
        labels=labels,
        thresholds=thresholds,
        validation_texts=tuple(validation["texts"]),
        validation_labels=tuple(validation["labels"]),
    )
