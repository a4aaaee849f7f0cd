"""Before an action runs: what the validator says, and what a redeploy would run and ship.

Headless, like `gather.py`: the TUI's validate and deploy keys call these, and so does
the morning walkthrough, so the confirmation dialog, the pane and `orchwatch revisions`
judge a service from the same code (`gather.service_drift`). The validator's run, counted,
is `orchwatch.validate.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from orchwatch.analysis.revisions import ServiceVerdict, short_name
from orchwatch.config import Config
from orchwatch.gather import service_drift
from orchwatch.sources.base import SourceError
from orchwatch.sources.git import function_paths, uncommitted
from orchwatch.validate.summary import validate


class DeployRefused(Exception):
    """No deploy command can be built for the service; the message says what to fix."""


def deploy_command(config: Config, service: str, day: date) -> list[str]:
    """The argv of the configured deploy command for `service`, its template filled in.

    Raises:
        DeployRefused: no command is configured, or its template cannot be filled.
    """
    from orchwatch.actions.template import TemplateError, render_command

    template = config.deploy_commands.get(service)
    if template is None:
        raise DeployRefused(f"No deploy command for {service}: add it under [actions] deploy.")
    values = {"service": service, "date": day.isoformat()}
    folder = config.function_folder(service)
    if folder is not None:
        values["function"] = folder.name
    phase = next((p.name for p in config.phases if p.orchestrator == service), "")
    if phase:
        values["phase"] = phase
    try:
        return render_command(template, values)
    except TemplateError as exc:
        raise DeployRefused(f"Cannot build the deploy command: {exc}") from None


def rollback_command(config: Config, service: str, revision: str) -> list[str]:
    """The argv of the configured rollback for `service` to `revision`.

    Raises:
        DeployRefused: its template cannot be filled.
    """
    from orchwatch.actions.template import TemplateError, render_command

    values = {"service": service, "revision": revision, "region": config.gcp_region}
    folder = config.function_folder(service)
    if folder is not None:
        values["function"] = folder.name
    try:
        return render_command(config.rollback_command, values)
    except TemplateError as exc:
        raise DeployRefused(f"Cannot build the rollback command: {exc}") from None


@dataclass(frozen=True)
class DeployPreview:
    """Everything the confirmation shows."""

    service: str
    argv: list[str]
    cwd: Path
    serving: str = "unknown"
    serving_commit: str = ""
    commits: list[str] = field(default_factory=list)
    commits_note: str = ""
    validator_errors: int = 0
    validator_lines: list[str] = field(default_factory=list)
    validator_note: str = ""
    latest_revision: str = ""
    """The service's latest revision before the deploy: a newer one is the deploy's."""
    uncommitted: list[str] = field(default_factory=list)
    """The function's package files that differ from the repository's HEAD (`git status`
    short form): the deploy would ship them, though no commit holds them."""
    uncommitted_note: str = ""
    """Why the working tree could not be checked, when it could not."""


def preview_deploy(
    config: Config,
    service: str,
    argv: list[str],
    verdict: ServiceVerdict | None,
    now: datetime,
) -> DeployPreview:
    """What redeploying `service` would ship (the commits since its serving revision's,
    as drift counts them) and what the validator says of its function's package."""
    repo, folder = config.repo_path, config.function_folder(service)
    serving, commit = "unknown", ""
    latest = verdict.latest.name if verdict is not None and verdict.latest is not None else ""
    if verdict is not None and verdict.serving is not None:
        serving = short_name(verdict.serving.name)
        commit = verdict.serving.commit_from(config.commit_from) or ""
    if serving == "unknown":
        commits, commits_note = [], "nothing is known to serve it (see the revisions pane)"
    else:
        reading = service_drift(config, service, commit, now)
        commits = [f"{c.sha[:10]} {c.subject}" for c in reading.commits]
        commits_note = reading.why or ("" if commits else "nothing new")
    errors, lines, validator_note = 0, [], "no repo configured"
    changed: list[str] = []
    changed_note = "no repo configured"
    if repo is not None and folder is not None:
        try:
            validation = validate(config.validate, repo, only=folder.name)
            errors, lines, validator_note = validation.errors, validation.lines, ""
        except LookupError:
            validator_note = f"no function folder {folder.name} in the repo"
        try:
            changed = uncommitted(repo, function_paths(repo, folder) if folder.is_dir() else [])
            changed_note = ""
        except SourceError as exc:
            changed_note = str(exc)
    return DeployPreview(
        service,
        argv,
        repo or Path.cwd(),
        serving,
        commit,
        commits,
        commits_note,
        errors,
        lines,
        validator_note,
        latest,
        changed,
        changed_note,
    )
