"""The environment banner: which Google Cloud environment the dashboard reads, in its
colour, and loudly when it is production (`[environments.NAME]`, `--env NAME`)."""

from __future__ import annotations

from rich.color import Color as RichColor
from rich.text import Text
from textual.color import Color
from textual.widgets import Static

from orchwatch.config import Environment
from orchwatch.sanitize import inert_line


def banner_text(environment: Environment, region: str) -> Text:
    """`PRODUCTION · prod · project nba-props-platform · us-west2`, in the foreground that
    reads on the environment's colour."""
    parts = ["PRODUCTION"] if environment.production else []
    parts += [environment.name, f"project {environment.project}", region]
    style = f"bold {'black' if _light(environment.colour) else 'white'}"
    return Text(inert_line(" · ".join(parts)), style=style, no_wrap=True, overflow="ellipsis")


def _light(colour: str) -> bool:
    red, green, blue = RichColor.parse(colour).get_truecolor()
    return 0.299 * red + 0.587 * green + 0.114 * blue > 150


class EnvironmentBanner(Static):
    """One line across the top of the dashboard, in the environment's colour."""

    DEFAULT_CSS = """
    EnvironmentBanner { height: 1; width: 100%; padding: 0 1; }
    """

    def __init__(self, environment: Environment, region: str) -> None:
        super().__init__(banner_text(environment, region), id="environment")
        self.environment = environment
        self.styles.background = Color(*RichColor.parse(environment.colour).get_truecolor())
