"""Deploy paths in CI configuration: Cloud Build files and GitHub Actions workflows.

Each is turned into bash for the same evaluator as deploy scripts (shell.py):

- Cloud Build (`cloudbuild*.yaml|yml|json`): each step that runs a shell (`entrypoint:
  bash|sh` with `-c`, or `script:`) or gcloud (`entrypoint: gcloud`, or a gcloud
  builder image) becomes a subshell in `dir:`; `/workspace` is the repository, as the
  build checks it out there. Substitutions take the file's `substitutions:` defaults;
  others (`${_SOURCE_DIR}` given by a trigger, `$SHORT_SHA`) are unknown values that
  matter only where they reach a path; `$$` is a literal `$`.
- GitHub Actions (`.github/workflows/*.yml`): each step's `run:` becomes a subshell in
  its `working-directory`; `${{ ... }}` expressions are unknown values.

A workflow step that runs one of the repository's deploy scripts is how CI ships the
functions that script deploys: those functions are pinned to it (see engine.py).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchwatch.validate.tree import SKIPPED_DIRS
from orchwatch.validate.words import HOLE_END, HOLE_START

_SUBSTITUTION = re.compile(r"\$\{(_[A-Z0-9_]+|[A-Z_]+)\}|\$(_[A-Z0-9_]+)")
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
_SHELLS = {"bash", "sh", "/bin/bash", "/bin/sh"}
_CLOUD_BUILD_BUILTINS = {
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "LOCATION",
    "BUILD_ID",
    "COMMIT_SHA",
    "SHORT_SHA",
    "REVISION_ID",
    "BRANCH_NAME",
    "TAG_NAME",
    "REPO_NAME",
    "TRIGGER_NAME",
    "SERVICE_ACCOUNT_EMAIL",
}


@dataclass
class CiFile:
    """One CI file as bash, with the repository scripts its steps run."""

    path: Path
    kind: str
    """"cloudbuild" or "workflow"."""
    script: str
    runs_scripts: list[Path] = field(default_factory=list)
    problem: str | None = None
    """Why the file could not be read as CI configuration, if it could not."""


def _hole(why: str) -> str:
    return f"{HOLE_START}{why}{HOLE_END}"


def discover_ci_files(repo: Path) -> list[Path]:
    """Cloud Build files anywhere in the repository, and the GitHub Actions workflows."""
    found: list[Path] = []
    for root, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if re.fullmatch(r"cloudbuild[\w.-]*\.(ya?ml|json)", name):
                found.append(Path(root, name))
    workflows = repo / ".github" / "workflows"
    if workflows.is_dir():
        found += sorted(p for p in workflows.iterdir() if p.suffix in (".yml", ".yaml"))
    return found


def read_ci_file(
    path: Path, repo: Path, substitutions: Mapping[str, str] | None = None
) -> CiFile | None:
    """The file's steps as one bash script; None when it deploys nothing and runs no script.
    `substitutions`: a Cloud Build trigger's, over the file's own defaults."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return CiFile(path, "cloudbuild", "", problem=f"cannot read it ({exc.strerror})")
    kind = "workflow" if ".github" in path.parts else "cloudbuild"
    if "deploy" not in text:
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when built with it
    try:
        document = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        return CiFile(path, kind, "", problem=f"not valid YAML ({str(exc).splitlines()[0]})")
    except RecursionError:
        return CiFile(path, kind, "", problem="nested too deeply to read")
    if not isinstance(document, dict):
        return None
    ci = (
        _cloud_build(path, document, substitutions or {})
        if kind == "cloudbuild"
        else _workflow(path, document, repo)
    )
    has_deploy = "functions deploy" in ci.script or (
        "run deploy" in ci.script and "--source" in ci.script
    )
    return ci if has_deploy or ci.runs_scripts else None


def _cloud_build(path: Path, document: dict[str, Any], trigger: Mapping[str, str]) -> CiFile:
    given = document.get("substitutions") or {}
    defaults: dict[str, str] = (
        {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
    )
    defaults.update(trigger)

    def substitute(text: str) -> str:
        protected = text.replace("$$", "\x00")

        def value(match: re.Match[str]) -> str:
            name = match[1] or match[2]
            if name in defaults:
                return defaults[name]
            if name.startswith("_") or name in _CLOUD_BUILD_BUILTINS:
                return _hole(f"the Cloud Build substitution {name}")
            return match[0]  # a shell variable of the step's own

        return _SUBSTITUTION.sub(value, protected).replace("\x00", "$")

    parts: list[str] = []
    steps = document.get("steps") or []
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        body = _step_script(step)
        if body is None:
            continue
        folder = str(step.get("dir") or "")
        cd = f"cd /workspace/{shlex.quote(folder)}\n" if folder else "cd /workspace\n"
        parts.append(f"# step {index}\n(\n{cd}{substitute(body)}\n)\n")
    return CiFile(path, "cloudbuild", "".join(parts))


def _step_script(step: dict[str, Any]) -> str | None:
    args = [str(a) for a in step.get("args") or []] if isinstance(step.get("args"), list) else []
    entrypoint = str(step.get("entrypoint") or "")
    script = step.get("script")
    if isinstance(script, str):
        return script
    if entrypoint in _SHELLS and len(args) >= 2 and re.fullmatch(r"-[a-z]*c[a-z]*", args[0]):
        return args[1]
    builder = str(step.get("name") or "")
    if entrypoint == "gcloud" or (
        not entrypoint and ("cloud-sdk" in builder or builder.endswith("/gcloud"))
    ):
        return "gcloud " + shlex.join(args)
    return None


def _workflow(path: Path, document: dict[str, Any], repo: Path) -> CiFile:
    parts: list[str] = []
    runs: list[Path] = []
    jobs = document.get("jobs") or {}
    for job_name, job in jobs.items() if isinstance(jobs, dict) else []:
        steps = job.get("steps") if isinstance(job, dict) else None
        for step in steps if isinstance(steps, list) else []:
            if not isinstance(step, dict) or not isinstance(step.get("run"), str):
                continue
            body = _EXPRESSION.sub(lambda _: _hole("a GitHub Actions expression"), step["run"])
            folder = str(step.get("working-directory") or "")
            cd = f"cd {shlex.quote(str(repo / folder))}\n" if folder else ""
            parts.append(f"# job {job_name}\n(\n{cd}{body}\n)\n")
            runs += _scripts_run(body, repo / folder if folder else repo, repo)
    return CiFile(path, "workflow", "".join(parts), runs_scripts=sorted(set(runs)))


def _scripts_run(body: str, cwd: Path, repo: Path) -> list[Path]:
    """Repository scripts a step runs (`./bin/x.sh`, `bash bin/x.sh`)."""
    found = []
    for word in re.findall(r"[\w./-]+\.sh\b", body):
        candidate = (cwd / word).resolve()
        if candidate.is_file() and (candidate == repo or repo in candidate.parents):
            found.append(candidate)
    return found
