"""Parse one YAML file (native or Rasa NLU format) into intent blocks, collecting problems."""

from __future__ import annotations

import re
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trainer.data.lexicon import (
    NATIVE_SECTIONS,
    RASA_LEXICON_ITEMS,
    read_native_section,
    read_rasa_item,
)
from trainer.data.reader import IntentBlock, ParsedFile, Reader
from trainer.data.yaml_nodes import (
    Alias,
    Entry,
    YamlSyntaxError,
    alias_message,
    compose_text,
    describe,
    is_null,
    line_of,
    read_text,
)

NATIVE_KEYS = ("version", "intents", *NATIVE_SECTIONS)
NATIVE_INTENT_KEYS = ("examples",)
RASA_KEYS = ("version", "nlu")
RASA_INTENT_KEYS = ("intent", "examples", "metadata")
# Sections of Rasa files that hold no intent examples (stories, domain, ...): skipped, not errors.
RASA_OTHER_SECTIONS = frozenset(
    {
        "stories", "rules", "responses", "slots", "entities", "forms", "actions",
        "e2e_actions", "session_config", "retrieval_intents", "test_stories",
    }
)  # fmt: skip
_RASA_VERSION = re.compile(r"[23](\.\d+)*")


def parse_file(path: Path) -> ParsedFile:
    """Never raises for mistakes in the file: they come back as problems."""
    parser = _FileParser(path)
    parser.run()
    return parser.result


class _FileParser(Reader):
    """Tells the format apart and walks the native or Rasa structure."""

    def run(self) -> None:
        root, aliases = self._compose()
        if root is None:
            self.result.unreadable = True
            return
        if not isinstance(root, MappingNode):
            self.error(
                line_of(root),
                f"the top level must be a mapping with 'version:' and 'intents:' (or Rasa's "
                f"'nlu:'), but it is {describe(root)}",
            )
            self.result.unreadable = True
            return
        top = self.mapping(root)
        keys = {entry.key for entry in top}
        # Refused before the reader walks into them (it would read an anchor's examples once
        # per alias); those in sections never read (Rasa stories, say) are harmless.
        read = [alias for alias in aliases if alias.section not in RASA_OTHER_SECTIONS]
        if read and keys & {"nlu", "intents", *NATIVE_SECTIONS}:
            self.error(read[0].line, alias_message(read))
            self.result.unreadable = True
        elif "nlu" in keys:
            self.rasa(top)
        elif "intents" in keys or keys & set(NATIVE_SECTIONS):
            self.native(top)
        elif keys & RASA_OTHER_SECTIONS:
            self.warning(None, "no 'nlu:' section (Rasa stories, rules or domain file?); skipped")
        else:
            self.unknown_keys(top, (*NATIVE_KEYS, "nlu"))
            self.error(
                1,
                "no 'intents:' (native format) or 'nlu:' (Rasa format) section found; "
                "see docs/training.md for the training data format",
            )
            self.result.unreadable = True

    def _compose(self) -> tuple[Node | None, list[Alias]]:
        try:
            root, aliases = compose_text(read_text(self.path))
        except OSError as exc:
            self.error(None, f"cannot read the file: {exc.strerror or exc}")
            return None, []
        except UnicodeDecodeError as exc:
            self.error(None, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8")
            return None, []
        except YamlSyntaxError as exc:
            self.error(exc.line, f"malformed YAML: {exc.message}")
            return None, []
        if root is None:
            self.error(
                None, "the file is empty; write 'version: 1' and 'intents:' (see docs/training.md)"
            )
        return root, aliases

    def native(self, top: list[Entry]) -> None:
        self.unknown_keys(top, NATIVE_KEYS)
        by_key = {entry.key: entry for entry in top}
        version = by_key.get("version")
        if version is None:
            self.error(1, "missing 'version: 1' at the top of the file")
        elif not (isinstance(version.value, ScalarNode) and version.value.value == "1"):
            shown = version.value.value if isinstance(version.value, ScalarNode) else "?"
            self.error(version.line, f"unsupported version '{shown}'; this format is 'version: 1'")
        for entry in top:
            if entry.key in NATIVE_SECTIONS:
                read_native_section(self, entry)
        if "intents" in by_key:
            self.native_intents(by_key["intents"])

    def native_intents(self, intents: Entry) -> None:
        node = intents.value
        if isinstance(node, SequenceNode):
            self.error(
                intents.line,
                "'intents' must map intent names to 'examples:' lists, but it is a list "
                "(a Rasa domain.yml? point at the NLU files instead)",
            )
            self.result.unreadable = True
            return
        if is_null(node) or (isinstance(node, MappingNode) and not node.value):
            self.error(intents.line, "'intents' is empty; add at least two intents with examples")
            self.result.unreadable = True
            return
        if not isinstance(node, MappingNode):
            self.error(intents.line, f"'intents' must be a mapping, but it is {describe(node)}")
            self.result.unreadable = True
            return
        for entry in self.mapping(node):
            self.native_intent(entry)

    def native_intent(self, entry: Entry) -> None:
        name = self.intent_name(entry.key_node, entry.line)
        block = IntentBlock(name, self.path, entry.line)
        self.result.blocks.append(block)
        node = entry.value
        if is_null(node):
            return  # reported later as an intent with no examples
        if isinstance(node, SequenceNode):
            self.error(
                entry.line,
                "put the sentences under 'examples:' (write 'examples:' on the next line, "
                "indented, above the list)",
                name,
            )
            block.examples = self.examples(node, name)
            return
        if not isinstance(node, MappingNode):
            self.error(entry.line, f"expected 'examples:' here, but found {describe(node)}", name)
            return
        found = self.mapping(node, name)
        self.unknown_keys(found, NATIVE_INTENT_KEYS, name)
        for item in found:
            if item.key == "examples":
                block.examples = self.examples(item.value, name)

    def rasa(self, top: list[Entry]) -> None:
        for entry in top:
            if entry.key in RASA_OTHER_SECTIONS:
                self.warning(entry.line, f"section '{entry.key}' holds no intent examples; skipped")
        self.unknown_keys([e for e in top if e.key not in RASA_OTHER_SECTIONS], RASA_KEYS)
        by_key = {entry.key: entry for entry in top}
        version = by_key.get("version")
        if version is not None:
            value = version.value
            text = value.value if isinstance(value, ScalarNode) else ""
            if not _RASA_VERSION.fullmatch(str(text)):
                self.error(
                    version.line,
                    f"unsupported Rasa version '{text}'; use a 2.x or 3.x version such as \"3.1\"",
                )
        nlu = by_key["nlu"]
        if is_null(nlu.value):
            self.error(nlu.line, "'nlu' is empty; add '- intent: NAME' items with examples")
            self.result.unreadable = True
            return
        if not isinstance(nlu.value, SequenceNode):
            self.error(
                nlu.line,
                f"'nlu' must be a list of '- intent:' items, but it is {describe(nlu.value)}",
            )
            self.result.unreadable = True
            return
        for item in nlu.value.value:
            self.rasa_item(item)

    def rasa_item(self, item: Node) -> None:
        if not isinstance(item, MappingNode):
            self.error(
                line_of(item), f"each 'nlu' item must be a mapping ('- intent: NAME'), got "
                f"{describe(item)}",
            )  # fmt: skip
            return
        found = self.mapping(item)
        keys = {entry.key for entry in found}
        if "intent" not in keys:
            kinds = [k for k in RASA_LEXICON_ITEMS if k in keys]
            if kinds:
                read_rasa_item(self, found, kinds[0])
                return
            self.unknown_keys(found, (*RASA_INTENT_KEYS, *RASA_LEXICON_ITEMS))
            self.error(line_of(item), "this 'nlu' item has no 'intent:' key")
            return
        by_key = {entry.key: entry for entry in found}
        head = by_key["intent"]
        name = self.intent_name(head.value, head.line)
        self.unknown_keys(found, RASA_INTENT_KEYS, name)
        block = IntentBlock(name, self.path, head.line)
        self.result.blocks.append(block)
        if "examples" in by_key:
            block.examples = self.examples(by_key["examples"].value, name)
