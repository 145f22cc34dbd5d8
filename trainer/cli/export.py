"""`intent-train export` (also `intent-export`): turn a trained model into a verified ONNX
export the server can load."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from intent_server.core.options import options_from_args
from trainer import logs
from trainer.cli.options import INTENT_EXPORT, ExportOptions
from trainer.errors import UserError

if TYPE_CHECKING:
    from trainer.export.pipeline import ExportResult

EXIT_GATE = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    return INTENT_EXPORT.parser()


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def main(argv: Sequence[str] | None = None) -> int:
    """`intent-export`, the same command as `intent-train export`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return run_export(build_parser().parse_args(argv))


def run_export(args: argparse.Namespace) -> int:
    """Export as the parsed `ExportOptions` say; the exit code (0, 1 gate, 2 mistake, 130)."""
    logs.configure(quiet=args.quiet)
    from intent_server.core.errors import ExportError
    from trainer.export.gates import GateFailure
    from trainer.export.pipeline import export_model

    try:
        options = options_from_args(args, ExportOptions)
        result = export_model(
            options.model,
            models_dir=options.models_dir,
            export_dir=options.export_dir,
            encoder=options.encoder,
            opset=options.opset,
            skip_int8=options.skip_int8,
            require_int8=options.require_int8,
            keep=options.keep,
            self_contained=options.self_contained,
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
    _print_result(result, options.skip_int8)
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
        shared = " (shared encoder store)" if "/" in name else ""
        print(f"file {name:<20} {_megabytes(size):>9}{shared}")
    if result.reused_encoder:
        print("encoder: reused from the store (already exported for this encoder identity)")
    times = ", ".join(f"{step} {sec:.1f}s" for step, sec in result.seconds.items())
    print(f"times: {times}")
    if result.pruned:
        print(f"removed old versions: {', '.join(result.pruned)}")
    if result.collected:
        print(f"removed stored encoders no version uses: {', '.join(result.collected)}")
    print(f"exported {result.manifest.name} version {result.version} to {result.version_dir}")


if __name__ == "__main__":
    sys.exit(main())
