"""`intent-export`: turn a trained model into a verified ONNX export the server can load."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from trainer import logs
from trainer.errors import UserError
from trainer.features.onnx_graph import DEFAULT_OPSET

if TYPE_CHECKING:
    from trainer.export.pipeline import ExportResult

EXIT_GATE = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intent-export",
        description=(
            "Export a trained model (models/MODEL/) to exported/MODEL/VERSION/: encoder ONNX "
            "(fp32 and INT8), head ONNX, tokenizer.json and manifest.json. The ONNX files are "
            "checked against PyTorch before anything is published; then `current` is switched "
            "atomically. A failed export leaves the previous one untouched (exit 1)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", default="default", help="name of the trained model")
    parser.add_argument(
        "--models-dir", type=Path, default=Path("models"), help="folder with trained models"
    )
    parser.add_argument(
        "--export-dir", type=Path, default=Path("exported"), help="folder to write exports to"
    )
    parser.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="sentence-transformers folder to export (default: the folder recorded in "
        "model.json); must hold the same weights the model was trained with",
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset version")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--skip-int8", action="store_true", help="do not write the INT8 encoder (faster export)"
    )
    group.add_argument(
        "--require-int8",
        action="store_true",
        help="fail (exit 1) when the INT8 encoder misses its gate; without this flag such an "
        "export is still published and serves the fp32 encoder",
    )
    parser.add_argument(
        "--keep",
        type=int,
        default=3,
        help="keep the newest N export versions of the model, delete older ones (0: keep all)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    logs.configure(quiet=args.quiet)
    from intent_server.core.errors import ExportError
    from trainer.export.gates import GateFailure
    from trainer.export.pipeline import export_model

    if not 13 <= args.opset <= 21:
        print("error: --opset must be between 13 and 21 (default 17)", file=sys.stderr)
        return UserError.exit_code
    if args.keep < 0:
        print("error: --keep must be 0 (keep all) or more", file=sys.stderr)
        return UserError.exit_code
    try:
        result = export_model(
            args.model,
            models_dir=args.models_dir,
            export_dir=args.export_dir,
            encoder=args.encoder,
            opset=args.opset,
            skip_int8=args.skip_int8,
            require_int8=args.require_int8,
            keep=args.keep,
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UserError.exit_code
    except (GateFailure, ExportError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return EXIT_GATE
    except OSError as exc:  # disk full, permissions: say so without a traceback
        print(f"export failed: {exc}; nothing was published", file=sys.stderr)
        return EXIT_GATE
    except KeyboardInterrupt:
        print("interrupted: nothing was published", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print_result(result, args.skip_int8)
    return 0


def _print_result(result: ExportResult, skipped_int8: bool) -> None:
    for name, gate in result.verification.items():
        state = "skipped" if gate.skipped else "ok" if gate.passed else "FAILED"
        print(f"gate {name:<24} {state:<7} {gate.detail}")
    metrics = result.metrics
    int8 = metrics.val_accuracy_int8
    texts = (
        "validation" if metrics.val_held_out else "training-text (no hold-out: cross-validated bot)"
    )
    print(
        f"{texts} accuracy fp32 {metrics.val_accuracy_fp32:.4f}, int8 "
        + (f"{int8:.4f}" if int8 is not None else "not exported")
        + f" -> serving {result.default_encoder}"
    )
    if not skipped_int8 and result.default_encoder == "fp32":
        print("note: INT8 missed its gate or lost accuracy; the server uses the fp32 encoder")
    for name, size in result.sizes.items():
        print(f"file {name:<20} {_megabytes(size):>9}")
    times = ", ".join(f"{step} {sec:.1f}s" for step, sec in result.seconds.items())
    print(f"times: {times}")
    if result.pruned:
        print(f"removed old versions: {', '.join(result.pruned)}")
    print(f"exported {result.manifest.name} version {result.version} to {result.version_dir}")


if __name__ == "__main__":
    sys.exit(main())
