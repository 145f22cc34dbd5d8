"""Checks across all files: duplicates, examples per intent, number of intents."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from trainer.data.model import ERROR, WARNING, Example, Problem
from trainer.data.reader import ParsedFile
from trainer.data.text import duplicate_key


@dataclass
class _Intent:
    name: str
    source: Path  # where it is first declared
    line: int
    examples: list[Example] = field(default_factory=list)


def _where(example: Example) -> str:
    return f"{example.source}:{example.line}"


def merge_and_check(
    files: list[ParsedFile], min_examples: int, root: Path
) -> tuple[list[Example], list[Problem]]:
    """Merge intents over files (first copy of a duplicate kept) and report cross-file problems."""
    intents: dict[str, _Intent] = {}
    first_seen: dict[str, Example] = {}
    problems: list[Problem] = []
    for parsed in files:
        for block in parsed.blocks:
            intent = intents.setdefault(block.name, _Intent(block.name, block.source, block.line))
            for example in block.examples:
                key = duplicate_key(example.text)
                earlier = first_seen.get(key)
                if earlier is None:
                    first_seen[key] = example
                    intent.examples.append(example)
                elif earlier.intent == example.intent:
                    problems.append(
                        Problem(
                            WARNING, example.source, example.line, example.intent,
                            f"duplicate example '{example.text}' (first at {_where(earlier)}); "
                            f"this copy is ignored: delete it",
                        )
                    )  # fmt: skip
                else:
                    problems.append(
                        Problem(
                            ERROR, example.source, example.line, example.intent,
                            f"example '{example.text}' is also under intent '{earlier.intent}' at "
                            f"{_where(earlier)} (here: intent '{example.intent}' at "
                            f"{_where(example)}); an example can belong to one intent only: "
                            f"keep it where it belongs and delete the other",
                        )
                    )  # fmt: skip
    problems += _case_clashes(list(intents.values()))
    for intent in intents.values():
        count = len(intent.examples)
        if count == 0:
            message = f"has no examples; add at least {min_examples} under 'examples:'"
        elif count < min_examples:
            message = (
                f"has {count} example{'s' if count != 1 else ''} but at least {min_examples} are "
                f"needed; add more (20 or more varied sentences work best)"
            )
        else:
            continue
        problems.append(Problem(ERROR, intent.source, intent.line, intent.name, message))
    if len(intents) < 2 and not any(parsed.unreadable for parsed in files):
        names = ", ".join(f"'{name}'" for name in intents) or "none"
        problems.append(
            Problem(
                ERROR, root, None, None,
                f"found {len(intents)} intent{'s' if len(intents) != 1 else ''} ({names}); "
                f"at least 2 are needed to train a classifier (out_of_scope counts as one)",
            )
        )  # fmt: skip
    examples = [example for intent in intents.values() for example in intent.examples]
    return examples, problems


def _case_clashes(intents: list[_Intent]) -> list[Problem]:
    """`Greet` and `greet` are two labels; usually a typo, so say so."""
    first: dict[str, _Intent] = {}
    found = []
    for intent in intents:
        earlier = first.setdefault(intent.name.casefold(), intent)
        if earlier is not intent:
            found.append(
                Problem(
                    WARNING, intent.source, intent.line, intent.name,
                    f"differs from intent '{earlier.name}' ({earlier.source}:{earlier.line}) only "
                    f"in case, so they are two different intents; rename one if they are the same",
                )
            )  # fmt: skip
    return found


def annotation_gaps(examples: list[Example]) -> list[Problem]:
    """Words annotated as an entity in some examples of an intent and left plain in others,
    at least as often annotated as plain: a warning at each plain one (the head learns both,
    so it learns to miss them). Words plain more often than annotated are left alone: "in"
    is a spatial relation in a few SNIPS weather requests and plain in 1,200, and context
    decides. Not an error: the same words can be an entity in one sentence only ("[may]
    (month)" and "may I"), and a large data set would be stopped for it. Phrases without a
    letter are left out: a number is a time in one sentence and a party size in the next."""
    by_intent: dict[str, list[Example]] = {}
    for example in examples:
        by_intent.setdefault(example.intent, []).append(example)
    problems = []
    for members in by_intent.values():
        problems += _gaps_in_intent(members)
    return problems


def _gaps_in_intent(members: list[Example]) -> list[Problem]:
    annotated: dict[str, tuple[str, Example]] = {}  # lower-cased span text -> entity, where
    times: Counter[str] = Counter()
    for example in members:
        for span in example.entities:
            phrase = example.text[span.start : span.end].lower()
            if any(char.isalpha() for char in phrase):
                annotated.setdefault(phrase, (span.entity, example))
                times[phrase] += 1
    if not annotated:
        return []
    phrases = sorted(annotated, key=len, reverse=True)  # the longest phrase wins at a position
    finder = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, phrases)) + r")(?!\w)")
    plain: list[tuple[Example, int, int]] = []
    for example in members:
        lowered = example.text.lower()
        if len(lowered) != len(example.text):  # offsets would not line up; rare letters
            continue
        covered = [(span.start, span.end) for span in example.entities]
        for match in finder.finditer(lowered):
            if not any(start < match.end() and match.start() < end for start, end in covered):
                plain.append((example, match.start(), match.end()))
    plain_times = Counter(example.text[a:b].lower() for example, a, b in plain)
    problems, reported = [], set()
    for example, begin, end in plain:
        shown = example.text[begin:end]
        phrase = shown.lower()
        if plain_times[phrase] > times[phrase] or (phrase, example) in reported:
            continue
        reported.add((phrase, example))
        entity, where = annotated[phrase]
        problems.append(
            Problem(
                WARNING, example.source, example.line, example.intent,
                f"'{shown}' is plain text here but entity '{entity}' in another example "
                f"of this intent ({_where(where)}); annotate it here too ([{shown}]"
                f"({entity})) or, if it is not that entity there, remove the annotation",
            )
        )  # fmt: skip
    return problems
