"""The README's command examples, produced by the commands themselves.

A block in README.md between `<!-- example: ARGS -->` and `<!-- /example -->` is what
`orchwatch ARGS` prints on the demo: markdown output as it is, anything else as a shell
session (`$ orchwatch ARGS`, the output, and `$ echo $?` when it is not 0).
`tests/test_readme_examples.py` fails when a block and its command disagree;
`python tests/readme_examples.py` writes the blocks anew.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- example: (?P<args>.+?) -->\n)(?P<body>.*?)(<!-- /example -->)", re.S)


def render(args: str) -> str:
    """What the README shows for `orchwatch ARGS`."""
    from orchwatch.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(shlex.split(args))
    text = out.getvalue()
    if "--format markdown" in args:
        return text
    tail = f"$ echo $?\n{code}\n" if code else ""
    return f"```\n$ orchwatch {args}\n{text}{tail}```\n"


def blocks(text: str) -> list[tuple[str, str]]:
    """(args, body) of each example block."""
    return [(m["args"], m["body"]) for m in BLOCK.finditer(text)]


def rewrite(text: str) -> str:
    """The README with every example block produced again."""
    return BLOCK.sub(lambda m: m[1] + render(m["args"]) + m[4], text)


if __name__ == "__main__":
    README.write_text(rewrite(README.read_text()))
    print(f"{len(blocks(README.read_text()))} examples written to {README}", file=sys.stderr)
