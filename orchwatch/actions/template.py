"""Commands are argument lists from the config, filled in with known fields only.

No shell is ever involved and no string is ever split: each template element
becomes exactly one argument. Field values must look like the names they are
(a service, a function folder, a phase, a date), so data cannot smuggle in an
option (`--flag`), a path (`../`), or anything a shell would read.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence

FIELDS = frozenset({"service", "function", "phase", "date", "revision", "region"})
_SAFE_VALUE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
r"""`\Z`, not `$`: `$` also matches before a final newline, which would let one through."""


class TemplateError(ValueError):
    """A template or a value that cannot be used; the message says why."""


def check_template(template: Sequence[str]) -> None:
    """Raise TemplateError unless every `{field}` in the template is a known field."""
    if not template:
        raise TemplateError("a command needs at least the program to run")
    for argument in template:
        for _, name, spec, conversion in string.Formatter().parse(argument):
            if name is None:
                continue
            if name not in FIELDS:
                raise TemplateError(
                    f"unknown field {{{name}}} in {argument!r}; known: {', '.join(sorted(FIELDS))}"
                )
            if spec or conversion:
                raise TemplateError(f"{argument!r}: fields take no format spec or conversion")


def render_command(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The argument list for `values`.

    Raises:
        TemplateError: an unknown field, a missing value, or a value that is not a plain name.
    """
    check_template(template)
    for name, value in values.items():
        if name not in FIELDS:
            raise TemplateError(f"unknown field {name!r}")
        if not _SAFE_VALUE.match(value) or ".." in value:
            raise TemplateError(f"{name} {value!r} is not a plain name (letters, digits, . _ -)")
    argv = []
    for argument in template:
        try:
            argv.append(argument.format_map(dict(values)))
        except KeyError as exc:
            raise TemplateError(f"no value for {{{exc.args[0]}}} in {argument!r}") from None
    return argv
