"""Run the frozen encoder in PyTorch: the head's features for training, and the standard
sentence-transformers embedding the exporter checks its ONNX encoder against."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from intent_server.core.cpus import usable_cpus
from intent_server.core.model_card import EncoderIdentity
from trainer.errors import UserError
from trainer.logs import progress, verbose

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

ENCODE_BATCH = 128
THREADS_ENV = "INTENT_TRAIN_THREADS"
_MODELS: dict[tuple[str, int, str], SentenceTransformer] = {}


def encode_threads() -> int:
    """Threads for embedding: the CPUs this process may use (affinity and cgroup quota, not
    the host's count). On the 2-vCPU build machine two threads embed 1.7x faster than one
    (306-317 vs 175-189 texts/s, 2026-11-26). `INTENT_TRAIN_THREADS` overrides it."""
    override = os.environ.get(THREADS_ENV, "")
    if override.isdigit() and int(override) > 0:
        return int(override)
    return usable_cpus()


@contextmanager
def _hf_progress_bars(shown: bool) -> Iterator[None]:
    """transformers' own bars (weight loading) on or off, as they were afterwards."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if not shown:
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_on and not hf_logging.is_progress_bar_enabled():
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def load_sentence_transformer(
    folder: str, layers: int | None = None, **options: Any
) -> SentenceTransformer:
    """A sentence-transformers model from a local folder, offline, on the CPU; with `layers`,
    only the transformer's first `layers` layers (`--encoder-layers`, an identity's
    `num_layers`), cut here and nowhere else."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    from trainer.features.depth import keep_first_layers

    with _hf_progress_bars(verbose()):
        try:
            model = SentenceTransformer(folder, device="cpu", local_files_only=True, **options)
        except Exception as exc:
            raise UserError(
                f"cannot load the sentence-transformers model in {folder}: {exc}"
            ) from exc
    if layers is not None:
        keep_first_layers(getattr(model[0], "auto_model"), layers)  # noqa: B009
    return model


def load_encoder(identity: EncoderIdentity) -> SentenceTransformer:
    """The sentence-transformers model cut to the identity's depth (memoised per folder,
    depth and weights: a retrained fine-tuned encoder replaces its folder), checked against
    its identity."""
    memo = (identity.path, identity.num_layers, identity.weights_sha256)
    if memo in _MODELS:
        return _MODELS[memo]
    model = load_sentence_transformer(identity.path, identity.num_layers)
    model.eval()
    dimension = getattr(model, "get_embedding_dimension", None)  # newer sentence-transformers
    actual = dimension() if dimension else model.get_sentence_embedding_dimension()
    if actual is not None and actual != identity.dim:
        raise UserError(
            f"encoder {identity.path} produces {actual}-d embeddings but its config says "
            f"{identity.dim}; the folder is inconsistent"
        )
    _MODELS[memo] = model
    return model


def torch_features(model: SentenceTransformer, texts: list[str], identity: EncoderIdentity) -> Any:
    """[N, feature_dim] tensor for one batch: the same `PooledEncoder` the export traces
    (on the model's device; with gradients unless called under `inference_mode`)."""
    from trainer.features.pooling import PooledEncoder

    batch = model.tokenizer(
        texts,
        padding=True,
        truncation=True,
        max_length=model.max_seq_length,
        return_tensors="pt",
    )
    transformer = getattr(model[0], "auto_model")  # noqa: B009 - untyped ST attribute
    device = next(transformer.parameters()).device
    pooled = PooledEncoder(transformer, identity.feature_layers, identity.token_type_ids)
    return pooled(batch["input_ids"].to(device), batch["attention_mask"].to(device))[1]


def _sentence_embeddings(model: SentenceTransformer, texts: list[str]) -> Any:
    import torch

    embedded = model.encode(
        texts, batch_size=len(texts), convert_to_tensor=True, show_progress_bar=False
    )
    return torch.nn.functional.normalize(embedded.float(), p=2, dim=1)


def encode(
    texts: Sequence[str], identity: EncoderIdentity, *, sentence: bool = False
) -> np.ndarray:
    """The head's features [N, feature_dim] float32 in the input order (`sentence=True`: the
    standard sentence-transformers embedding [N, dim], L2-normalised, from its own `encode`)."""
    width = identity.dim if sentence else identity.feature_dim
    if not texts:
        return np.zeros((0, width), dtype=np.float32)
    return encode_with(load_encoder(identity), texts, identity, sentence=sentence)


def encode_with(
    model: SentenceTransformer,
    texts: Sequence[str],
    identity: EncoderIdentity,
    *,
    sentence: bool = False,
) -> np.ndarray:
    """`encode` with a model already in memory (a fine-tuned one: never cached on disk).

    Texts are sorted by length before batching so each batch pads to similar lengths.
    """
    import torch

    width = identity.dim if sentence else identity.feature_dim
    threads = torch.get_num_threads()
    torch.set_num_threads(encode_threads())
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.empty((len(texts), width), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with (
            torch.inference_mode(),
            progress(total=len(texts), desc="embedding", unit="text") as bar,
        ):
            for start in range(0, len(order), ENCODE_BATCH):
                batch_idx = order[start : start + ENCODE_BATCH]
                batch = [texts[i] for i in batch_idx]
                if sentence:
                    vectors = _sentence_embeddings(model, batch)
                else:
                    vectors = torch_features(model, batch, identity)
                out[batch_idx] = vectors.float().cpu().numpy()
                bar.update(len(batch_idx))
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    return out
