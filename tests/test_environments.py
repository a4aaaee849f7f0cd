"""Named environments: which project, a banner in its colour, and in production every
action's typed confirmation is the project id."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from config_helpers import MINIMAL, assert_config_error
from test_tui_deploy import HEALTHY, make, open_confirmation, wait_run
from textual.widgets import Input
from tui_helpers import SIZE, make_app, settle, static_text, wait_for

from orchwatch.actions.audit import read_audit
from orchwatch.analysis.revisions import ServiceVerdict
from orchwatch.analysis.runtime import RollbackChoice
from orchwatch.cli import main
from orchwatch.config import (
    Config,
    Environment,
    NoSuchEnvironment,
    parse_config,
    select_environment,
)
from orchwatch.sources.base import Sources
from orchwatch.tui.screens.confirm_rollback import ConfirmRollbackScreen
from orchwatch.tui.widgets.environment import EnvironmentBanner

PROD = Environment("prod", "nba-props-platform", "us-west2", "red", production=True)
STAGING = Environment("staging", "nba-props-staging", None, "dark_orange")

BASE = MINIMAL


def with_environments(config: Config, chosen: Environment | None = PROD) -> Config:
    """`config` with prod and staging configured and `chosen` read."""
    chosen_config = replace(config, environments={"prod": PROD, "staging": STAGING})
    if chosen is None:
        return chosen_config
    return select_environment(chosen_config, chosen.name)


def test_environments_are_read_and_picked_as_contexts_are() -> None:
    text = BASE + (
        '[environments.prod]\nproject = "nba-props-platform"\nregion = "us-west2"\n'
        'colour = "red"\nproduction = true\n'
        '[environments.staging]\nproject = "nba-props-staging"\ncolour = "#ffaa00"\n'
    )
    config = parse_config(text, None)
    assert config.environments["prod"].production
    assert config.environment is None  # nothing picked until a source is built
    prod = select_environment(config, "prod")
    assert (prod.gcp_project, prod.gcp_region, prod.environment) == (
        "nba-props-platform",
        "us-west2",
        config.environments["prod"],
    )
    staging = select_environment(config, "staging")
    assert staging.gcp_region == config.gcp_region  # its own region is not set
    # --project names the environment it belongs to, or none.
    assert select_environment(config, None, "nba-props-staging").environment == staging.environment
    assert select_environment(config, None, "elsewhere-1").environment is None
    with pytest.raises(NoSuchEnvironment, match=r"no environment 'qa' \(configured: prod, "):
        select_environment(config, "qa")
    with pytest.raises(NoSuchEnvironment, match="none is the default: choose one with --env"):
        select_environment(config, None)
    with pytest.raises(NoSuchEnvironment, match="is not environment prod's project"):
        select_environment(config, "prod", "nba-props-staging")
    single = parse_config(BASE + '[environments.only]\nproject = "only-project"\n', None)
    assert select_environment(single, None).environment is not None
    defaulted = parse_config(text + "", None)
    defaulted = replace(
        defaulted,
        environments={**defaulted.environments, "prod": replace(PROD, default=True)},
    )
    assert select_environment(defaulted, None).gcp_project == "nba-props-platform"


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ('[environments.prod]\nproject = "X"\n', "environments.prod.project", "project id"),
        (
            '[environments.prod]\nproject = "nba-props-platform"\ncolour = "chartreuse-ish"\n',
            "environments.prod.colour",
            "expected a colour name",
        ),
        (
            '[environments.prod]\nproject = "nba-props-platform"\ncolour = "notacolour"\n',
            "environments.prod.colour",
            "expected a colour name",
        ),
        (
            '[environments.a]\nproject = "project-a"\ndefault = true\n'
            '[environments.b]\nproject = "project-b"\ndefault = true\n',
            "environments.b.default",
            "only one environment may be the default",
        ),
        (
            '[environments."bad name"]\nproject = "project-a"\n',
            "environments.bad name",
            "expected a name",
        ),
    ],
)
def test_a_bad_environment_names_its_key(table: str, key: str, expected: str) -> None:
    assert_config_error(MINIMAL + table, key, expected)


def test_an_unknown_env_is_a_usage_error_that_lists_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orchwatch.toml"
    path.write_text(BASE + '[environments.prod]\nproject = "nba-props-platform"\n')
    code = main(["--config", str(path), "--env", "qa", "revisions"])
    assert code == 2
    assert "no environment 'qa' (configured: prod)" in capsys.readouterr().err


@pytest.mark.parametrize("size", [(80, 24), (200, 55)])
async def test_the_banner_says_which_environment_at_every_size(
    config: Config, demo: Sources, size: tuple[int, int]
) -> None:
    app = make_app(with_environments(config), demo)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        banner = app.dashboard.query_one(EnvironmentBanner)
        shown = str(banner.render())
        assert shown.startswith("PRODUCTION · prod · project nba-props-platform")
        assert banner.region.y == 0 and banner.region.width == size[0]
        assert banner.styles.background.rgb == (128, 0, 0)  # Rich's "red"


async def test_no_environment_no_banner(config: Config, demo: Sources) -> None:
    app = make_app(with_environments(config, None), demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.dashboard.query(EnvironmentBanner)


async def test_in_production_a_deploy_takes_the_project_id_typed(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    """A clean package deploys with Enter elsewhere; in production Enter and the service's
    name are refused, and the project id confirms."""
    app = make(with_environments(config), demo, tmp_path, [sys.executable, "-c", "print('ok')"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_confirmation(pilot, HEALTHY)
        assert screen.preview.validator_errors == 0
        assert screen.name_to_type() == "nba-props-platform"
        assert "PRODUCTION (prod): type the project id nba-props-platform" in static_text(screen)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press(*HEALTHY, "enter")
        await settle(pilot)
        assert app.screen is screen
        assert any(
            "is not nba-props-platform: type nba-props-platform to deploy" in str(n.message)
            for n in app._notifications
        )
        screen.query_one("#confirm-name", Input).value = ""
        await pilot.press(*"nba-props-platform", "enter")
        await wait_run(pilot)
    [entry], _ = read_audit(tmp_path / "audit.jsonl")
    assert (entry.started["service"], entry.outcome) == (HEALTHY, "exit 0")


async def test_outside_production_a_clean_deploy_confirms_with_enter(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    staging = with_environments(config, STAGING)
    app = make(staging, demo, tmp_path, [sys.executable, "-c", "print('ok')"])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_confirmation(pilot, HEALTHY)
        assert screen.name_to_type() is None
        assert "PRODUCTION" not in static_text(screen)
        await pilot.press("enter")
        await wait_run(pilot)
    [entry], _ = read_audit(tmp_path / "audit.jsonl")
    assert entry.outcome == "exit 0"


async def test_in_production_a_rollback_takes_the_project_id_typed(
    config: Config, demo: Sources
) -> None:
    app = make_app(with_environments(config), demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        verdict = app.dashboard.revisions.view.verdicts[0]
        assert isinstance(verdict, ServiceVerdict)
        choice = RollbackChoice(verdict.service, "rev-2", "rev-1", "rev-1 served cleanly")
        answers: list[bool | None] = []
        app.push_screen(ConfirmRollbackScreen(choice, verdict, ["true"]), answers.append)
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
        await pilot.press(*verdict.service, "enter")  # the service's name is not enough
        await settle(pilot)
        assert isinstance(app.screen, ConfirmRollbackScreen) and not answers
        app.screen.query_one("#confirm-name", Input).value = ""
        await pilot.press(*"nba-props-platform", "enter")
        assert await wait_for(pilot, lambda: answers == [True])


@pytest.mark.parametrize("colour", ["dark_orange", "grey50", "red", "#ffaa00"])
def test_a_colour_is_any_name_rich_paints(colour: str) -> None:
    """The README's own example, `dark_orange`, is a colour (names hold `_` and digits)."""
    text = MINIMAL + f'[environments.s]\nproject = "nba-props-staging"\ncolour = "{colour}"\n'
    assert parse_config(text, None).environments["s"].colour == colour
