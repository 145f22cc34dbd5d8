"""File and tensor names shared by the trainer, the exporter and the server.

`models/MODEL/` (trainer -> exporter) and `exported/MODEL/VERSION/` (exporter -> server)
are described in docs/reference/file-formats.md; every name either side reads or writes is here.
"""

from __future__ import annotations

# models/MODEL/
MODEL_CARD = "model.json"
HEAD_WEIGHTS = "head.safetensors"
FAMILIARITY_BANK = "familiarity.safetensors"  # unit vectors of the examples the head knows
VALIDATION_SPLIT = "validation.json"
ENTITY_HEAD_WEIGHTS = "entities.safetensors"  # only for a bot with entity annotations
REPORT_DIR = "report"
# --fine-tune, when the tuned encoder is kept: a sentence-transformers folder
TUNED_ENCODER = "encoder"

# exported/.encoders/: the encoder files of every version of every model, each stored once
# under its content's sha256 (`SHA256.onnx`), with one record per encoder identity
# (`KEY.identity.json`: which files an exporter may reuse instead of tracing again)
ENCODER_STORE = ".encoders"
STORED_ENCODER_SUFFIX = ".onnx"
IDENTITY_RECORD_SUFFIX = ".identity.json"
# exported/MODEL/
CURRENT = "current"  # text file naming the version folder being served
# exported/MODEL/VERSION/
MANIFEST = "manifest.json"
ENCODER_FP32 = "encoder.onnx"
ENCODER_INT8 = "encoder.int8.onnx"
HEAD_ONNX = "head.onnx"
HEAD_INT8_ONNX = "head.int8.onnx"  # served with the INT8 encoder (manifest `heads`)
ENTITY_HEAD_ONNX = "entities.onnx"  # only for a bot with entity annotations
TOKENIZER = "tokenizer.json"
VARIANT_FILES = {"fp32": ENCODER_FP32, "int8": ENCODER_INT8}
VARIANTS = tuple(VARIANT_FILES)
# The ONNX opset the exporter writes by default (`--opset`).
DEFAULT_OPSET = 17

# Tensor names of the exported graphs.
ENCODER_INPUTS = ("input_ids", "attention_mask")
SENTENCE_OUTPUT = "sentence_embedding"  # the standard sentence-transformers embedding
FEATURES_OUTPUT = "features"  # what the head reads: pooled states of the feature layers
# Every token's state [B, T, H] of the last layer that runs: what the entity head reads. In
# every export (one encoder file for bots with and without entities); fetched only by bots
# that have an entity head.
TOKEN_STATES_OUTPUT = "token_states"
ENTITY_HEAD_INPUT = "token_states"
ENTITY_HEAD_OUTPUT = "tag_probabilities"  # [B, T, tags], softmax over the tag set
HEAD_INPUT = "embedding"
HEAD_OUTPUT = "probabilities"
# Best cosine between a text's features and the familiarity bank (built into head.onnx).
FAMILIARITY_OUTPUT = "familiarity"

# A folder or file being written is named `.NAME.tmp-PID-RANDOM` next to its final place.
TMP_MARKER = ".tmp-"


def stored_encoder_name(sha256: str) -> str:
    """The file name of an encoder in the store: its content's sha256."""
    return f"{sha256}{STORED_ENCODER_SUFFIX}"


def is_temp_name(name: str) -> bool:
    """A half-written export (`.VERSION.tmp-*`) or any hidden entry."""
    return name.startswith(".") or TMP_MARKER in name
