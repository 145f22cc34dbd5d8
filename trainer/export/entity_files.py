"""The entity head as ONNX (`entities.onnx`) and its gates: the served pipeline (ONNX token
states, ONNX head, the shared decoding) against the trainer's (torch token states, torch
head, the same decoding), and INT8 against fp32.

Gates: token states cosine >= 0.9999 per token, head probabilities within 1e-5 on the same
states, and the decoded entities equal on every probe text but at most 1 % (or 2 texts,
the small-sample allowance of the intent gates). INT8 only informs the default variant: its
slot F1 on the annotated validation texts at most half a point below fp32's (without
annotated validation texts: equal entities, as fp32 against torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from intent_server.core.encoder.runtime import pad_states
from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.entities.decoding import decode_entities
from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.entities.matching import LexiconMatcher
from intent_server.core.entities.spans import EntitySpan
from intent_server.core.intent_model import IntentModel
from intent_server.core.layout import DEFAULT_OPSET, ENTITY_HEAD_INPUT, ENTITY_HEAD_OUTPUT
from intent_server.core.manifest import GateResult
from intent_server.core.model_card import EncoderIdentity
from trainer.entity_metrics import micro_f1
from trainer.export import gates
from trainer.features.onnx_graph import torch_to_onnx
from trainer.features.torch_features import load_encoder
from trainer.tagging.head import ServedTokenHead, TokenHead
from trainer.tagging.states import token_states, tokenize, tokenizer_of

TOKEN_MIN_COSINE = 0.9999
ENTITY_HEAD_MAX_ABS_DIFF = 1e-5
INT8_MAX_F1_DROP = 0.005  # half a point of slot F1 on the validation texts


def export_entity_head(
    head: TokenHead, token_dim: int, path: Path, opset: int = DEFAULT_OPSET
) -> None:
    """token states [B, T, dim] -> tag probabilities [B, T, tags], fp32."""
    sample = torch.ones((2, 3, token_dim), dtype=torch.float32)
    with torch.no_grad():
        torch_to_onnx(
            ServedTokenHead(head).eval(),
            (sample,),
            path,
            input_names=[ENTITY_HEAD_INPUT],
            output_names=[ENTITY_HEAD_OUTPUT],
            dynamic_axes={
                ENTITY_HEAD_INPUT: {0: "batch", 1: "sequence"},
                ENTITY_HEAD_OUTPUT: {0: "batch", 1: "sequence"},
            },
            opset_version=opset,
        )


def _keys(found: Sequence[ExtractedEntity]) -> list[tuple[object, ...]]:
    return [(e.start, e.end, e.entity, e.role, e.group, e.value) for e in found]


def _agreement(
    name: str,
    a: Sequence[Sequence[ExtractedEntity]],
    b: Sequence[Sequence[ExtractedEntity]],
    bar: str,
    int8: bool,
) -> GateResult:
    """Texts whose entities differ: at most INT8's allowance (`int8`), else 1 % (at least
    one text: fp32 against torch differs only by float rounding at a tag's boundary)."""
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if _keys(x) != _keys(y)]
    allowed = gates.allowed_disagreements(len(a)) if int8 else max(len(a) // 100, 1)
    return GateResult(
        name=name,
        passed=len(differ) <= allowed,
        value=1.0 - len(differ) / max(len(a), 1),
        bar=bar,
        detail=f"{len(differ)} of {len(a)} texts answered other entities (allowed {allowed})",
    )


def _torch_entities(
    head: TokenHead, info: EntityHeadInfo, identity: EncoderIdentity, texts: list[str]
) -> tuple[list[np.ndarray], list[list[ExtractedEntity]]]:
    tokens = tokenize(tokenizer_of(identity), texts)
    states = token_states(load_encoder(identity), identity, tokens)
    matcher = LexiconMatcher(info.lexicon, info.entity_names)
    found = []
    with torch.no_grad():
        for tok, state in zip(tokens, states, strict=True):
            probs = torch.softmax(head(torch.from_numpy(state)), dim=-1).numpy()
            learned = decode_entities(tok.text, probs, tok.offsets, tok.word_ids, info.tag_set)
            found.append(matcher.finish(tok.text, learned))
    return states, found


def fp32_gates(
    runtime: IntentModel,
    head: TokenHead,
    info: EntityHeadInfo,
    identity: EncoderIdentity,
    texts: list[str],
) -> tuple[list[GateResult], list[list[ExtractedEntity]]]:
    """The fp32 gates (all fatal) and the entities the fp32 export answers."""
    extractor = runtime.entities
    assert extractor is not None
    served_states = runtime.token_states(texts)
    torch_states, torch_found = _torch_entities(head, info, identity, texts)
    worst = min(
        float(gates.row_cosines(a, b).min())
        for a, b in zip(served_states, torch_states, strict=True)
    )
    padded = pad_states(served_states)
    onnx_probs = extractor.probabilities(padded)
    with torch.no_grad():
        torch_probs = torch.softmax(head(torch.from_numpy(padded)), dim=-1).numpy()
    diff = max(
        float(np.abs(onnx_probs[i, : len(s)] - torch_probs[i, : len(s)]).max())
        for i, s in enumerate(served_states)
    )
    served = [list(row) for row in runtime.predict(texts).entities or ()]
    results = [
        GateResult(
            name="token_states_fp32_vs_pytorch",
            passed=worst >= TOKEN_MIN_COSINE,
            value=worst,
            bar=f"cosine >= {TOKEN_MIN_COSINE} for every token",
            detail=f"worst token cosine {worst:.6f} over {len(texts)} texts",
        ),
        GateResult(
            name="entity_head_fp32_vs_pytorch",
            passed=diff <= ENTITY_HEAD_MAX_ABS_DIFF,
            value=diff,
            bar=f"max |p_onnx - p_torch| <= {ENTITY_HEAD_MAX_ABS_DIFF}",
            detail=f"max abs tag probability diff {diff:.2e}",
        ),
        _agreement(
            "entities_fp32_vs_pytorch",
            served,
            torch_found,
            "equal entities on 99 % of texts",
            int8=False,
        ),
    ]
    return [gates.require(result) for result in results], served


def int8_gate(
    runtime: IntentModel,
    texts: list[str],
    fp32: list[list[ExtractedEntity]],
    gold: Sequence[Sequence[EntitySpan]] | None = None,
) -> GateResult:
    """INT8 entities against fp32 (informs the default variant, like the intent gate). With
    the validation texts' annotated spans (`gold`, the first len(gold) of `texts`), both
    are scored against them (`f1_gate`); without, the entities must be equal."""
    found = [list(row) for row in runtime.predict(texts).entities or ()]
    if gold is not None and any(gold):
        return f1_gate(found[: len(gold)], fp32[: len(gold)], gold)
    return _agreement(
        "entities_int8_vs_fp32", found, fp32, "equal entities on 99 % of texts", int8=True
    )


def allowed_f1_drop(spans: int) -> float:
    """How much slot F1 INT8 may lose: INT8_MAX_F1_DROP, or on few spans what
    INT8_SMALL_SAMPLE_FLIPS moved spans cost (a moved span is about 1/spans of F1)."""
    return max(INT8_MAX_F1_DROP, gates.INT8_SMALL_SAMPLE_FLIPS / max(spans, 1))


def f1_gate(
    int8: Sequence[Sequence[ExtractedEntity]],
    fp32: Sequence[Sequence[ExtractedEntity]],
    gold: Sequence[Sequence[EntitySpan]],
) -> GateResult:
    """INT8's slot F1 on the validation texts within `allowed_f1_drop` of fp32's. Exact
    equality of every text is too strict a rule for entities: INT8 moves the boundary or
    type of spans that fp32 already gets wrong (docs/research/entities.md, "INT8")."""
    f1_int8, f1_fp32 = micro_f1(int8, gold), micro_f1(fp32, gold)
    spans = sum(len(row) for row in gold)
    allowed = allowed_f1_drop(spans)
    differ = sum(_keys(a) != _keys(b) for a, b in zip(int8, fp32, strict=True))
    return GateResult(
        name="entities_int8_vs_fp32",
        passed=f1_int8 >= f1_fp32 - allowed - 1e-12,
        value=f1_int8,
        bar=f"slot F1 at most {100 * allowed:.2f} points below fp32's",
        detail=f"slot F1 int8 {100 * f1_int8:.2f}, fp32 {100 * f1_fp32:.2f} on {spans} "
        f"annotated spans; {differ} of {len(gold)} texts answered other entities",
    )
