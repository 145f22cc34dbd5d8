"""The served entity head: one ONNX run over a batch's token states, then per text the
constrained Viterbi decoding, the character offsets, the regex and lookup matches and the
synonyms (the rule of `matching`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort

from intent_server.core.entities.contract import EntityHeadInfo
from intent_server.core.entities.decoding import decode_entities
from intent_server.core.entities.extracted import ExtractedEntity
from intent_server.core.entities.matching import LexiconMatcher
from intent_server.core.errors import ExportError
from intent_server.core.layout import ENTITY_HEAD_INPUT, ENTITY_HEAD_OUTPUT


class TokenizedText(Protocol):
    """What decoding needs of a tokenizer's `Encoding`."""

    @property
    def ids(self) -> list[int]: ...

    @property
    def offsets(self) -> list[tuple[int, int]]: ...

    @property
    def word_ids(self) -> list[int | None]: ...


class EntityExtractor:
    def __init__(self, session: ort.InferenceSession, path: Path, info: EntityHeadInfo) -> None:
        self.info = info
        self.tag_set = info.tag_set
        self.matcher = LexiconMatcher(info.lexicon, info.entity_names)
        self._session = session
        feed = {item.name: item for item in session.get_inputs()}
        out = {item.name for item in session.get_outputs()}
        if ENTITY_HEAD_INPUT not in feed or ENTITY_HEAD_OUTPUT not in out:
            raise ExportError(
                f"{path} must read {ENTITY_HEAD_INPUT!r} and output {ENTITY_HEAD_OUTPUT!r}; "
                "re-export the model"
            )
        width = feed[ENTITY_HEAD_INPUT].shape[-1]
        if width != info.token_dim:
            raise ExportError(
                f"{path} reads {width}-d token states, the manifest says {info.token_dim}; "
                "re-export the model"
            )

    def probabilities(self, states: np.ndarray) -> np.ndarray:
        """Tag probabilities [N, T, tags] for padded token states [N, T, H]."""
        result = self._session.run([ENTITY_HEAD_OUTPUT], {ENTITY_HEAD_INPUT: states})[0]
        return np.asarray(result, dtype=np.float32)

    def extract(
        self, texts: Sequence[str], encodings: Sequence[TokenizedText], states: np.ndarray
    ) -> tuple[tuple[ExtractedEntity, ...], ...]:
        """Each text's entities, from its encoding and the batch's padded token states."""
        probs = self.probabilities(states)
        out = []
        for row, (text, encoding) in enumerate(zip(texts, encodings, strict=True)):
            count = len(encoding.ids)
            learned = decode_entities(
                text, probs[row, :count], encoding.offsets, encoding.word_ids, self.tag_set
            )
            out.append(tuple(self.matcher.finish(text, learned)))
        return tuple(out)
