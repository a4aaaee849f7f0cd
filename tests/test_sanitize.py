"""Hostile log text is shown as text: never markup, never terminal escapes."""

from __future__ import annotations

import json

import pytest

from orchwatch.cli import main
from orchwatch.sanitize import MAX_LINE, decode, inert, inert_line

HOSTILE = [
    "[bold red]not bold[/]",
    "[@click=app.quit]quit[/]",
    "clipboard \x1b]52;c;ZXZpbA==\x07 grab",
    "\x1b[2J\x1b[H cleared?",
    "bell\x07 backspace\x08 cr\r del\x7f c1\x9b",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_inert_has_no_control_characters(text: str) -> None:
    shown = inert(text)
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in shown)


def test_escape_becomes_a_visible_picture() -> None:
    assert inert("\x1b]52;c;x\x07") == "␛]52;c;x␇"
    assert inert("a\tb") == "a    b"
    assert inert("\x9b") == "\\x9b"


def test_long_lines_are_cut_with_a_count() -> None:
    line = inert_line("x" * 256 * 1024)
    assert line.startswith("x" * MAX_LINE)
    assert line.endswith(f"(+{256 * 1024 - MAX_LINE} chars)")


def test_invalid_utf8_is_replaced() -> None:
    assert decode(b"ok \xff\xfe end") == "ok \ufffd\ufffd end"


def test_errors_command_prints_hostile_text_inert(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    message = "boom \x1b]52;c;ZXZpbA==\x07 [bold red]x[/] \x1b[2J"
    text = f'Traceback (most recent call last):\n  File "/w/main.py", line 1, in h\n    raise ValueError(m)\nValueError: {message}'
    record = {
        "timestamp": "2026-02-01T12:00:00Z",
        "severity": "ERROR",
        "textPayload": text,
        "insertId": "1",
        "resource": {"labels": {"service_name": "svc"}},
    }
    path = tmp_path / "log.json"
    path.write_bytes(json.dumps([record]).encode() + b"\n\xff")
    assert main(["errors", "--from-file", str(path), "--samples"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "␛]52;c;ZXZpbA==␇" in out
    assert "[bold red]x[/]" in out


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("invoice\u202etxt.exe", "invoice<U+202E>txt.exe"),  # right-to-left override
        ("adm\u200bin", "adm<U+200B>in"),  # zero-width space
        ("\ufeffstart", "<U+FEFF>start"),  # byte order mark
        ("a\u2066b\u2069c", "a<U+2066>b<U+2069>c"),  # isolates
        ("line\u2028break", "line<U+2028>break"),
    ],
)
def test_bidirectional_and_invisible_characters_are_shown(text: str, shown: str) -> None:
    assert inert(text) == shown


@pytest.mark.parametrize("width", [20, 26, 30, 41])  # no name is longer than 20
def test_wrapping_breaks_at_spaces_and_separators_never_inside_a_name(width: int) -> None:
    from orchwatch.sanitize import wrap_at_boundaries

    text = (
        "orchestrator phase3-to-phase4-orchestrator: ModuleNotFoundError: No module named "
        "'shared.validation.phase3_data_quality_check' (fix: shared/validation/x.py)"
    )
    lines = wrap_at_boundaries(text, width)
    assert all(len(line) <= width for line in lines)
    assert " ".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost
    names = ("orchestrator", "phase3", "phase4", "ModuleNotFoundError", "validation", "shared")
    for line in lines[:-1]:
        last = line.split()[-1] if line.split() else ""
        # a line ends at a space or a separator, never in the middle of a name
        assert (
            last[-1:] in "/.-:,;=)]_'"
            or any(last.endswith(n) for n in names)
            or last in text.split()
        ), (
            width,
            lines,
        )


def test_a_run_longer_than_the_line_with_no_separator_is_cut_at_the_width() -> None:
    from orchwatch.sanitize import wrap_at_boundaries

    assert wrap_at_boundaries("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]
