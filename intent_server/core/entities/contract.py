"""`entities` of the model card and the manifest: the entity head's tags, its shape, and the
bot's lexicon (synonyms, regexes, lookups). Absent for a bot without entity annotations.

`to_json` / `from_json` are the only code that knows its JSON shape; the parse errors name
the file and key (`Fields`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from intent_server.core.entities.spans import EntityLexicon, NamedPattern
from intent_server.core.entities.tags import EntityKey, TagSet
from intent_server.core.fields import Fields


@dataclass(frozen=True)
class EntityHeadInfo:
    keys: tuple[EntityKey, ...]  # the tag set's keys, in tag order
    token_dim: int  # width of the encoder's `token_states` the head reads
    hidden: int  # 0: one linear layer; else one hidden layer of this size
    lexicon: EntityLexicon
    val_f1: float | None = None  # micro F1 (exact span and type) on held-out examples
    val_spans: int = 0  # annotated spans it was measured on
    head_file: str = ""  # the manifest's: the ONNX file of the head in the version folder

    @property
    def tag_set(self) -> TagSet:
        return TagSet(self.keys)

    @property
    def entity_names(self) -> tuple[str, ...]:
        return tuple(sorted({key.entity for key in self.keys}))

    def to_json(self) -> dict[str, Any]:
        lexicon = self.lexicon
        return {
            "keys": [key.to_json() for key in self.keys],
            "tags": self.tag_set.names(),
            "token_dim": self.token_dim,
            "hidden": self.hidden,
            "synonyms": dict(sorted(lexicon.synonyms.items())),
            "regexes": [{"name": item.name, "pattern": item.pattern} for item in lexicon.regexes],
            "lookups": {name: list(values) for name, values in sorted(lexicon.lookups.items())},
            "val_f1": self.val_f1,
            "val_spans": self.val_spans,
            "head_file": self.head_file,
        }

    @classmethod
    def from_json(cls, fields: Fields) -> EntityHeadInfo:
        try:
            keys = tuple(EntityKey.from_json(value) for value in fields.raw("keys"))
            TagSet(keys)
        except (TypeError, ValueError) as exc:
            raise fields.fail(
                "keys", f"is not a list of distinct sorted entity keys: {exc}"
            ) from None
        regexes = tuple(
            NamedPattern(item.text("name"), item.text("pattern"))
            for item in fields.items("regexes")
        )
        lookups_fields = fields.section("lookups")
        lookups = {name: lookups_fields.texts(name) for name in lookups_fields.data}
        lexicon = EntityLexicon(fields.text_map("synonyms"), regexes, lookups)
        return cls(
            keys=keys,
            token_dim=fields.integer("token_dim"),
            hidden=fields.integer("hidden"),
            lexicon=lexicon,
            val_f1=fields.optional_number("val_f1"),
            val_spans=fields.integer("val_spans"),
            head_file=fields.text("head_file"),
        )

    @classmethod
    def optional(cls, fields: Fields, key: str = "entities") -> EntityHeadInfo | None:
        if not fields.has(key) or fields.raw(key) is None:
            return None
        return cls.from_json(fields.section(key))
