"""Bash words as the evaluator sees them: values that may be unknown, quoting, the pure
parts of expansion, `test`'s grammar, `case` patterns and rsync's exclude rules.

Nothing here reads a file or a syntax tree; shell.py does that and calls these.
"""

from __future__ import annotations

import codecs
import fnmatch
import re
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value the evaluator cannot decide; `why` names what it came from."""

    why: str
    template: str | None = None
    """The known text around the unknown parts, each part marked as HOLE_START why
    HOLE_END, so that `eval` of a command with one unknown word can still be parsed."""


Value = str | Unknown
"""A word's value: known text, or what made it unknown."""

HOLE_START, HOLE_END = "\ue000", "\ue001"
HOLE = re.compile(f"{HOLE_START}([^{HOLE_END}]*){HOLE_END}")


def marked(text: str) -> Value:
    """Text that may carry holes (from an eval'd template): unknown if it does."""
    match = HOLE.search(text) if HOLE_START in text else None
    return Unknown(match[1], text) if match else text


def concat(parts: list[Value]) -> Value:
    first = next((p for p in parts if isinstance(p, Unknown)), None)
    if first is None:
        return "".join(str(p) for p in parts)
    template = "".join(
        p if isinstance(p, str) else (p.template or f"{HOLE_START}{p.why}{HOLE_END}") for p in parts
    )
    return Unknown(first.why, template)


def join(words: list[Value]) -> Value:
    return concat([w for pair in zip(words, [" "] * len(words), strict=True) for w in pair][:-1])


def show_value(value: Value) -> str:
    return value if isinstance(value, str) else f"<{value.why}>"


def unescape_word(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.S) if "\\" in text else text


def unescape_double(text: str) -> str:
    return re.sub(r'\\([$`"\\\n])', lambda m: "" if m[1] == "\n" else m[1], text)


def ansi_c(text: str) -> str:
    """`$'...'`: bash's escapes (`\\e` and `\\E` are ESC, which Python does not know)."""
    text = re.sub(r"\\[eE]", "\\\\x1b", text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return text


def arithmetic(text: str) -> Value:
    """`$((N))` with a plain number is that number; anything else is not evaluated."""
    inner = text[3:-2].strip()
    return inner if INTEGER.match(inner) else Unknown("an arithmetic expansion")


def trim(value: str, pattern: str, *, suffix: bool, longest: bool) -> str:
    """`${X%p}` `${X%%p}` (suffix) and `${X#p}` `${X##p}` (prefix) with glob patterns."""
    if suffix:
        starts = range(len(value) + 1) if longest else range(len(value), -1, -1)
        for start in starts:
            if fnmatch.fnmatchcase(value[start:], pattern):
                return value[:start]
        return value
    ends = range(len(value), -1, -1) if longest else range(len(value) + 1)
    for end in ends:
        if fnmatch.fnmatchcase(value[:end], pattern):
            return value[end:]
    return value


def case_match(value: Value, patterns: list[Value]) -> bool | None:
    if any(p == "*" for p in patterns):
        return True
    if isinstance(value, Unknown):
        return None
    undecided = False
    for pattern in patterns:
        if isinstance(pattern, Unknown):
            undecided = True
        elif fnmatch.fnmatchcase(value, pattern):
            return True
    return None if undecided else False


INTEGER = re.compile(r"^-?[0-9]+$")


def test_words(words: list[Value], file_test: Any) -> bool | None:
    """`test`'s grammar on expanded words (the common forms); None when undecidable."""
    if not words:
        return False
    if words[0] == "!":
        inner = test_words(words[1:], file_test)
        return None if inner is None else not inner
    if len(words) == 1:
        return None if isinstance(words[0], Unknown) else words[0] != ""
    if len(words) == 2:
        operator, operand = words
        if isinstance(operand, Unknown) or isinstance(operator, Unknown):
            return None
        if operator == "-z":
            return operand == ""
        if operator == "-n":
            return operand != ""
        flag = {"-e": "e", "-a": "e", "-f": "f", "-d": "d", "-L": "L", "-h": "L", "-s": "s"}.get(
            operator
        )
        if flag is not None:
            facts = file_test(operand)
            return None if facts is None else bool(facts[flag])
        return None
    if len(words) == 3:
        left, operator, right = words
        if isinstance(left, Unknown) or isinstance(right, Unknown) or isinstance(operator, Unknown):
            return None
        if operator in ("=", "=="):
            return (
                fnmatch.fnmatchcase(left, right)
                if any(c in right for c in "*?[")
                else left == right
            )
        if operator == "!=":
            return not (
                fnmatch.fnmatchcase(left, right)
                if any(c in right for c in "*?[")
                else left == right
            )
        if operator == "=~":
            try:
                return re.search(right, left) is not None
            except re.error:
                return None
        if operator in ("-eq", "-ne", "-gt", "-lt", "-ge", "-le"):
            if not (INTEGER.match(left) and INTEGER.match(right)):
                return None
            a, b = int(left), int(right)
            return {
                "-eq": a == b,
                "-ne": a != b,
                "-gt": a > b,
                "-lt": a < b,
                "-ge": a >= b,
                "-le": a <= b,
            }[operator]
    return None


def excluded(rel: str, patterns: list[str]) -> bool:
    """rsync's rule: a pattern without `/` matches any path component; with one, the path."""
    if not patterns:
        return False
    anchored, component = exclude_matchers(tuple(patterns))
    if anchored is not None and anchored.match(rel):
        return True
    return component is not None and any(component.match(part) for part in rel.split("/"))


@cache
def exclude_matchers(
    patterns: tuple[str, ...],
) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    anchored: list[str] = []
    component: list[str] = []
    for raw in patterns:
        pattern = raw.rstrip("/")
        if not pattern:
            continue
        if "/" in pattern:
            translated = fnmatch.translate(pattern.lstrip("/")).removesuffix("\\Z")
            anchored.append(f"(?:{translated})(?:/.*)?\\Z")
        else:
            component.append(fnmatch.translate(pattern))
    return (
        re.compile("|".join(anchored), re.S) if anchored else None,
        re.compile("|".join(component), re.S) if component else None,
    )
