"""Entity markup in one example: `[text](entity)`, `[text](entity:value)`,
`[text]{"entity": ..., "value": ..., "role": ..., "group": ...}` and Rasa's list form
`[text][{...}, {...}]` -> the cleaned text, its `EntitySpan`s and what is wrong with it.

The spans' offsets are into the cleaned text (markup reduced, whitespace collapsed, case
kept), counted in characters (code points), so they stay right with accents and emoji.
A `[...]` that no `(`, `{` or `[{` follows is plain text, as in Rasa; a bracket without its
partner is an error: in a training sentence it is nearly always broken markup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from intent_server.core.entities.spans import EntitySpan
from trainer.data.text import collapse_spaces, is_intent_name, suggest_intent_name

ENTITY_KEYS = ("entity", "value", "role", "group")
_LIST_FORM = re.compile(r"\[\s*\{")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Markup:
    """One example read: `text` is what the model sees, `entities` index into it."""

    text: str
    entities: tuple[EntitySpan, ...] = ()
    problems: tuple[str, ...] = ()  # messages; the caller knows the file and line
    # (text, value) of each `[NYC](city:New York)`: Rasa makes it a synonym.
    synonyms: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Annotation:
    entity: str
    value: str | None
    role: str | None
    group: str | None


@dataclass
class _Scan:
    raw: str
    reduced: list[str] = field(default_factory=list)  # the text with markup reduced
    # (start, end) in `reduced`, and what annotates it
    marked: list[tuple[int, int, _Annotation]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _shown(raw: str, start: int, end: int) -> str:
    """A fragment of the sentence for a message: the markup at fault, cut when long."""
    fragment = raw[start:end].strip()
    return fragment if len(fragment) <= 60 else fragment[:57] + "..."


def parse_markup(raw: str) -> Markup:
    """Read one example. With problems, `text` is the sentence with its markup left as written
    (whitespace collapsed) and there are no entities."""
    scan = _Scan(raw)
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "[":
            index = _bracket(scan, index)
        elif char == "]":
            scan.problems.append(
                f"unbalanced brackets: ']' in '{_shown(raw, max(0, index - 30), index + 1)}' "
                f"closes no '['; write entities as [text](entity), or delete the ']'"
            )
            index += 1
        else:
            scan.reduced.append(char)
            index += 1
    if scan.problems:
        return Markup(collapse_spaces(raw), problems=tuple(scan.problems))
    return _cleaned(scan)


def clean_text(raw: str) -> str:
    """The text a model sees: entity markup reduced, whitespace collapsed, case kept."""
    return parse_markup(raw).text


def _bracket(scan: _Scan, start: int) -> int:
    """Read what starts with the `[` at `start`; returns the index after it."""
    raw = scan.raw
    close = raw.find("]", start + 1)
    inner_open = raw.find("[", start + 1)
    if close < 0:
        scan.problems.append(
            f"unbalanced brackets: '[' in '{_shown(raw, start, start + 40)}' is never closed "
            f"with ']'; write entities as [text](entity), or delete the '['"
        )
        return len(raw)
    if 0 <= inner_open < close:
        scan.problems.append(
            f"unbalanced brackets: '[' in '{_shown(raw, start, close + 1)}' opens again before "
            f"it is closed; entities cannot be nested: annotate one span as [text](entity)"
        )
        return len(raw)  # what follows would only repeat the same mistake
    text = raw[start + 1 : close]
    after = close + 1
    annotations: list[_Annotation] | None
    if raw.startswith("(", after):
        annotations, end = _parenthesised(scan, start, after)
    elif raw.startswith("{", after):
        annotations, end = _json_form(scan, start, after, list_form=False)
    elif _LIST_FORM.match(raw, after):
        annotations, end = _json_form(scan, start, after, list_form=True)
    else:  # `[text]` alone is plain text
        scan.reduced.extend(raw[start:after])
        return after
    if annotations is not None:
        if not text.strip():
            scan.problems.append(
                f"empty entity text in '{_shown(raw, start, end)}'; put the words the entity "
                f"covers between the brackets: [Paris](city)"
            )
        begin = len(scan.reduced)
        scan.reduced.extend(text)
        scan.marked += [(begin, len(scan.reduced), a) for a in annotations]
    return end


def _parenthesised(scan: _Scan, start: int, open_at: int) -> tuple[list[_Annotation] | None, int]:
    """`(entity)` or `(entity:value)`, as Rasa reads them: the value runs to the first `)`."""
    raw = scan.raw
    close = raw.find(")", open_at + 1)
    if close < 0:
        scan.problems.append(
            f"unbalanced brackets: '(' in '{_shown(raw, start, open_at + 40)}' is never closed "
            f"with ')'; write [text](entity) or [text](entity:value)"
        )
        return None, len(raw)
    body = raw[open_at + 1 : close]
    name, colon, value = body.partition(":")
    shown = _shown(raw, start, close + 1)
    if not _entity_name_ok(scan, name, shown):
        return None, close + 1
    if colon and not value.strip():
        scan.problems.append(
            f"empty value after ':' in '{shown}'; write [text]({name}:value), or [text]({name})"
        )
        return None, close + 1
    return [_Annotation(name, value.strip() if colon else None, None, None)], close + 1


def _entity_name_ok(scan: _Scan, name: str, shown: str) -> bool:
    if not name.strip():
        scan.problems.append(f"no entity name in '{shown}'; write [text](entity)")
        return False
    if not is_intent_name(name):
        scan.problems.append(
            f"'{name}' in '{shown}' is not a valid entity name (letters, digits and '_', not "
            f"starting with a digit); rename it, e.g. to '{suggest_intent_name(name)}'"
        )
        return False
    return True


def _json_form(
    scan: _Scan, start: int, open_at: int, *, list_form: bool
) -> tuple[list[_Annotation] | None, int]:
    """`{...}` (one entity) or `[{...}, {...}]` (several on one span), as JSON."""
    raw = scan.raw
    closer = "]" if list_form else "}"
    if raw.find(closer, open_at + 1) < 0:
        scan.problems.append(
            f"unbalanced brackets: '{raw[open_at]}' in '{_shown(raw, start, open_at + 40)}' is "
            f'never closed with \'{closer}\'; write [text]{{"entity": "name"}}'
        )
        return None, len(raw)
    try:
        decoded, end = json.JSONDecoder().raw_decode(raw, open_at)
    except json.JSONDecodeError as exc:
        stop = raw.find(closer, open_at + 1) + 1
        scan.problems.append(
            f"bad JSON in '{_shown(raw, start, stop)}': {exc.msg} (character "
            f"{exc.pos - open_at + 1} of the {{...}}); write it as "
            f'[text]{{"entity": "name", "value": "..."}} with double quotes'
        )
        return None, stop
    items = decoded if isinstance(decoded, list) else [decoded]
    found = [_from_dict(scan, item, _shown(raw, start, end)) for item in items]
    if any(annotation is None for annotation in found):
        return None, end
    return [annotation for annotation in found if annotation is not None], end


def _from_dict(scan: _Scan, item: object, shown: str) -> _Annotation | None:
    if not isinstance(item, dict):
        scan.problems.append(f'\'{shown}\' must hold JSON objects such as {{"entity": "city"}}')
        return None
    unknown = [key for key in item if key not in ENTITY_KEYS]
    if unknown:
        allowed = ", ".join(f'"{key}"' for key in ENTITY_KEYS)
        scan.problems.append(f"unknown key \"{unknown[0]}\" in '{shown}'; allowed: {allowed}")
        return None
    if "entity" not in item:
        scan.problems.append(
            f'no "entity" in \'{shown}\'; every {{...}} needs one: [text]{{"entity": "name", ...}}'
        )
        return None
    values: dict[str, str | None] = {}
    for key in ENTITY_KEYS:
        value = item.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            scan.problems.append(
                f"\"{key}\" in '{shown}' must be a non-empty string in double quotes"
            )
            return None
        values[key] = value.strip() if isinstance(value, str) else None
    name = str(values["entity"])
    if not _entity_name_ok(scan, name, shown):
        return None
    return _Annotation(name, values["value"], values["role"], values["group"])


def _cleaned(scan: _Scan) -> Markup:
    """Collapse the whitespace of the reduced text, carrying the spans' offsets along."""
    reduced = "".join(scan.reduced)
    out: list[str] = []
    position = [0] * (len(reduced) + 1)  # where each character of `reduced` lands in `out`
    pending_space = False
    for index, char in enumerate(reduced):
        if _SPACE.match(char):
            pending_space = bool(out)
            position[index] = len(out) + (1 if pending_space else 0)
            continue
        if pending_space:
            out.append(" ")
            pending_space = False
        position[index] = len(out)
        out.append(char)
    text = "".join(out)
    entities, synonyms = [], []
    for begin, end, annotation in scan.marked:
        inner = [i for i in range(begin, end) if not _SPACE.match(reduced[i])]
        if not inner:
            continue  # reported as an empty entity text
        start, stop = position[inner[0]], position[inner[-1]] + 1
        covered = text[start:stop]
        value = annotation.value if annotation.value is not None else covered
        if value != covered:
            synonyms.append((covered, value))
        entities.append(
            EntitySpan(start, stop, annotation.entity, value, annotation.role, annotation.group)
        )
    return Markup(text, tuple(entities), (), tuple(synonyms))


def _annotation(span: EntitySpan, covered: str) -> dict[str, str]:
    fields = {"entity": span.entity}
    fields |= {"value": span.value} if span.value != covered else {}
    fields |= {"role": span.role} if span.role is not None else {}
    fields |= {"group": span.group} if span.group is not None else {}
    return fields


def _written(spans: list[EntitySpan], covered: str) -> str:
    """The markup after `[covered]`: `(entity)`, `(entity:value)` or JSON when needed."""
    fields = [_annotation(span, covered) for span in spans]
    if len(fields) > 1:
        return json.dumps(fields, ensure_ascii=False)
    only = fields[0]
    if set(only) == {"entity"}:
        return f"({only['entity']})"
    value = only.get("value", "")
    if set(only) == {"entity", "value"} and value == value.strip() and ")" not in value:
        return f"({only['entity']}:{value})"
    return json.dumps(only, ensure_ascii=False)


def markup_text(text: str, entities: tuple[EntitySpan, ...]) -> str:
    """`text` with its entities written as markup, so that `parse_markup` gives both back;
    ValueError when it cannot (overlapping spans, brackets in the text)."""
    by_span: dict[tuple[int, int], list[EntitySpan]] = {}
    for span in sorted(entities, key=lambda s: (s.start, s.end)):
        by_span.setdefault((span.start, span.end), []).append(span)
    pieces, position = [], 0
    for (start, end), spans in by_span.items():
        if start < position or end > len(text):
            raise ValueError(f"entities overlap or leave the text: {text!r} {entities!r}")
        covered = text[start:end]
        pieces += [text[position:start], f"[{covered}]", _written(spans, covered)]
        position = end
    written = "".join([*pieces, text[position:]])
    back = parse_markup(written)
    if (back.text, set(back.entities)) != (text, set(entities)):
        raise ValueError(f"cannot be written as entity markup: {text!r} {entities!r}")
    return written
