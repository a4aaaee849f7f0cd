"""Bad configs: one test per kind, each asserting the message and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchwatch.cli import main
from orchwatch.config import EXAMPLE_CONFIG, ConfigError, find_config_file, load_config

GOOD = EXAMPLE_CONFIG.read_text(encoding="utf-8")


def run_with(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "orchwatch.toml"
    path.write_text(text, encoding="utf-8")
    code = main(["--config", str(path), "--demo", "--exit-after-first-data"])
    return code, capsys.readouterr().err


BAD_CONFIGS = [
    ("syntax error", "[pipeline\nname = 1", "is not valid TOML"),
    (
        "unknown key",
        GOOD.replace("[ui]\n", "[ui]\nrefresh_secs = 3\n"),
        "key `ui.refresh_secs`: unknown key; "
        "expected one of: timezone, refresh_seconds, log_capacity, overview_days, theme",
    ),
    (
        "unknown key in a processor",
        GOOD.replace(
            '{ name = "p2_bdl_box_scores" }', '{ name = "p2_bdl_box_scores", requird = false }'
        ),
        "key `phases[0].processors[0].requird`: unknown key; expected one of: name, required",
    ),
    (
        "wrong type",
        GOOD.replace("refresh_seconds = 10", 'refresh_seconds = "ten"'),
        "key `ui.refresh_seconds`: expected a number, got str",
    ),
    (
        "missing required value",
        GOOD.replace('  { name = "player_game_summary" },', "  { required = true },"),
        "key `phases[1].processors[0].name`: is required but missing",
    ),
    (
        "unknown phase referenced",
        GOOD.replace('next_phase = "phase4"', 'next_phase = "phase9"'),
        "key `phases[1].next_phase`: unknown phase `phase9`; expected one of: phase2, phase3",
    ),
    (
        "bad time of day",
        GOOD.replace('due_after = "08:00"', 'due_after = "8am"'),
        'key `phases[0].due_after`: expected a time of day "HH:MM"',
    ),
    (
        "bad timezone",
        GOOD.replace("America/New_York", "Mars/Olympus"),
        "key `pipeline.timezone`: expected an IANA time zone",
    ),
    (
        "bad display timezone",
        GOOD.replace("refresh_seconds = 10", 'refresh_seconds = 10\ntimezone = "EST5"'),
        "key `ui.timezone`: expected an IANA time zone",
    ),
    (
        "a Cloud Run name that is not one",
        GOOD.replace("[services]\n", '[services]\ncloud_run = { "Phase3_Fn" = "Phase3_Fn" }\n'),
        'key `services.cloud_run."Phase3_Fn"`: expected a Cloud Run service name',
    ),
    (
        "duplicate processor",
        GOOD.replace('{ name = "p2_odds_game_lines" }', '{ name = "p2_bdl_box_scores" }'),
        "key `phases[0].processors[1].name`: processor `p2_bdl_box_scores` is listed twice",
    ),
    (
        "phases in a cycle",
        GOOD.replace(
            'orchestrator = "phase5-to-phase6-orchestrator"',
            'orchestrator = "phase5-to-phase6-orchestrator"\nnext_phase = "phase2"',
        ),
        "the phases form a cycle (phase2 → phase3 → phase4 → phase5 → phase2)",
    ),
    (
        "a processor in two phases",
        GOOD.replace('{ name = "player_game_summary" }', '{ name = "p2_bdl_box_scores" }'),
        "processor `p2_bdl_box_scores` is already in phase `phase2`",
    ),
    (
        "refresh interval not a number",
        GOOD.replace("refresh_seconds = 10", "refresh_seconds = nan"),
        "key `ui.refresh_seconds`: expected a number from 0.5 to 86400, got nan",
    ),
    (
        "infinite demo speed",
        GOOD.replace("speed = 60", "speed = inf"),
        "key `demo.speed`: expected a number from 0.01 to 10000, got inf",
    ),
    (
        "huge drift age",
        GOOD.replace("drift_max_age_hours = 24", "drift_max_age_hours = 1e300"),
        "key `services.drift_max_age_hours`: expected a number from 0.01 to 8760",
    ),
    (
        "negative refresh interval",
        GOOD.replace("refresh_seconds = 10", "refresh_seconds = -5"),
        "key `ui.refresh_seconds`: expected a number from 0.5 to 86400, got -5",
    ),
    (
        "unknown theme",
        GOOD.replace('theme = "textual-dark"', 'theme = "solarised"'),
        "key `ui.theme`: unknown theme `solarised`; expected one of: textual-dark",
    ),
    (
        "a next-date trigger of the last phase",
        GOOD.replace(
            'orchestrator = "phase5-to-phase6-orchestrator"',
            'orchestrator = "phase5-to-phase6-orchestrator"\nnext_phase_offset_days = 1',
        ),
        "key `phases[3].next_phase_offset_days`: expected 0 for a phase without an orchestrator",
    ),
    (
        "a next-date trigger too far",
        GOOD.replace('next_phase = "phase4"', 'next_phase = "phase4"\nnext_phase_offset_days = 8'),
        "key `phases[1].next_phase_offset_days`: expected an integer from 0 to 7",
    ),
    (
        "bad validate runtime",
        GOOD.replace('runtime = "python311"', 'runtime = "node20"'),
        'key `validate.runtime`: expected a Python runtime like "python311", got "node20"',
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_names_file_key_and_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, expected: str
) -> None:
    code, err = run_with(tmp_path, text, capsys)
    assert code == 2, name
    assert str(tmp_path / "orchwatch.toml") in err
    assert expected in err
    assert "Traceback" not in err


def test_missing_explicit_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(tmp_path / "nope.toml"), "--demo"])
    assert code == 2
    assert "nope.toml: no such file (named by --config)" in capsys.readouterr().err


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, env_file, local = (
        tmp_path / "a.toml",
        tmp_path / "b.toml",
        tmp_path / "orchwatch.toml",
    )
    for path in (explicit, env_file, local):
        path.write_text(GOOD, encoding="utf-8")
    env = {"ORCHWATCH_CONFIG": str(env_file)}
    assert find_config_file(explicit, env, cwd=tmp_path) == explicit
    assert find_config_file(None, env, cwd=tmp_path) == env_file
    assert find_config_file(None, {}, cwd=tmp_path) == local
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_config_file(None, {}, cwd=tmp_path / "elsewhere") is None
    user = tmp_path / "xdg" / "orchwatch" / "orchwatch.toml"
    user.parent.mkdir(parents=True)
    user.write_text(GOOD, encoding="utf-8")
    assert find_config_file(None, {}, cwd=tmp_path / "elsewhere") == user


def test_example_config_describes_the_pipeline() -> None:
    config = load_config(None)
    assert [p.name for p in config.phases] == ["phase2", "phase3", "phase4", "phase5"]
    phase3 = config.phase("phase3")
    assert len(phase3.processors) == 5
    assert phase3.orchestrator == "phase3-to-phase4-orchestrator"
    once = {p.name for p in phase3.processors if p.cadence == "once-daily"}
    assert once == {"upcoming_team_game_context"}
    optional = {p.name for p in config.phase("phase2").processors if not p.required}
    assert optional == {"p2_bigdataball_pbp", "p2_br_season_roster"}


def test_config_error_is_an_exception_with_parts(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("phases = 3", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "phases"
    assert "expected an array" in info.value.expected


def test_a_config_that_is_a_directory_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path), "daily", "--demo"]) == 2
    assert "is a directory, not a config file (named by --config)" in capsys.readouterr().err


def test_the_theme_list_is_textuals() -> None:
    from textual.theme import BUILTIN_THEMES

    from orchwatch.config import THEMES

    assert sorted(THEMES) == sorted(BUILTIN_THEMES)
