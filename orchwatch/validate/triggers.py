"""Cloud Build triggers defined in the repository: which function a Cloud Build file ships.

A Cloud Build file often deploys whatever `${_SOURCE_DIR}` names: alone it ships no
function in particular (ci.py reads the substitution as unknown). The repository says
which, where its triggers are defined:

- in a script: `gcloud builds triggers create github|... --build-config=FILE
  --substitutions=_SOURCE_DIR=...,_FUNCTION_NAME=...` (the evaluator records each such
  command a path through the script reaches, with the values of its variables: the
  corpus creates its triggers from a function called once per function);
- in a file `gcloud builds triggers export` wrote (YAML or JSON: `filename` and
  `substitutions`, one trigger, or a list).

Each trigger's Cloud Build file is then read with its substitutions (engine.py), and the
function it deploys is shipped by it: the deploy path is named after the trigger, and
findings only the bare folder has become warnings naming it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchwatch.validate.tree import SKIPPED_DIRS

_EXPORTED = re.compile(r".*trigger.*\.(ya?ml|json)", re.IGNORECASE)


@dataclass(frozen=True)
class BuildTrigger:
    """A Cloud Build trigger: the build file it runs, with its substitutions."""

    name: str
    build_config: str
    """The Cloud Build file, relative to the repository's root (as a trigger names it)."""
    substitutions: dict[str, str] = field(default_factory=dict)
    where: str = ""
    """Where the repository defines it: `bin/x.sh:101` or `triggers/x.yaml`."""

    @property
    def build(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """What the trigger builds: its file and substitutions (two triggers alike are one)."""
        return self.build_config, tuple(sorted(self.substitutions.items()))


def parse_substitutions(text: str) -> dict[str, str] | None:
    """gcloud's `--substitutions=_A=x,_B=y` (a dict flag); None when it is not one."""
    found: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or not re.fullmatch(r"_[A-Z0-9_]+", key.strip()):
            return None
        found[key.strip()] = value
    return found


def discover_trigger_files(repo: Path) -> list[Path]:
    """Files that may hold exported triggers: `*trigger*.yaml|yml|json`."""
    found: list[Path] = []
    for root, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        found += [Path(root, name) for name in sorted(files) if _EXPORTED.fullmatch(name)]
    return found


def read_trigger_file(path: Path, shown: str) -> list[BuildTrigger]:
    """The triggers an exported file defines (none when it is not such a file)."""
    import json

    import yaml

    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:1_000_000]
        document: Any = (
            json.loads(text)
            if path.suffix == ".json"
            else yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        )
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return []
    items = document if isinstance(document, list) else [document]
    triggers: list[BuildTrigger] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            continue
        given = item.get("substitutions") or {}
        if not isinstance(given, dict):
            continue
        name = str(item.get("name") or path.stem)
        substitutions = {str(k): str(v) for k, v in given.items()}
        triggers.append(BuildTrigger(name, str(item["filename"]), substitutions, shown))
    return triggers
