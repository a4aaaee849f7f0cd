"""Cloud Build: the project's triggers in the pipeline's region, read with
`ListBuildTriggers`, each with its newest build (`ListBuilds` filtered by the trigger's id,
one build a page): the runbook's trigger health check reads the same two.

The commit a build built is its `COMMIT_SHA` substitution (Cloud Build sets it on every
build a trigger starts), else the commit its resolved source names.
"""

from __future__ import annotations

from typing import Any

from orchwatch.model import Build, BuildTrigger
from orchwatch.sources.gcp.clients import GcpClients, plain_datetime
from orchwatch.sources.gcp.errors import api_errors

PAGE_SIZE = 100
CALL_TIMEOUT = 30.0


def to_build(build: Any) -> Build:
    """A `cloudbuild_v1.Build` as the model's."""
    commit = build.substitutions.get("COMMIT_SHA", "")
    if not commit and "source_provenance" in build:
        provenance = build.source_provenance
        if "resolved_repo_source" in provenance:
            commit = provenance.resolved_repo_source.commit_sha
    created = build.create_time if "create_time" in build else None
    return Build(
        id=build.id,
        status=build.status.name,
        commit=commit,
        created=plain_datetime(created),
        log_url=build.log_url,
    )


def to_trigger(trigger: Any, last: Build | None) -> BuildTrigger:
    """A `cloudbuild_v1.BuildTrigger` as the model's: its branch from whichever event
    starts it (a GitHub push, a Cloud Source Repositories template, a 2nd-gen repository
    push)."""
    branch = ""
    if "github" in trigger and "push" in trigger.github:
        branch = trigger.github.push.branch
    elif "repository_event_config" in trigger and "push" in trigger.repository_event_config:
        branch = trigger.repository_event_config.push.branch
    elif "trigger_template" in trigger:
        branch = trigger.trigger_template.branch_name
    return BuildTrigger(
        name=trigger.name or trigger.id,
        id=trigger.id,
        disabled=trigger.disabled,
        branch=branch,
        included_files=tuple(trigger.included_files),
        ignored_files=tuple(trigger.ignored_files),
        last_build=last,
    )


class GcpBuilds:
    """The `BuildSource` over the Cloud Build API v1."""

    def __init__(self, clients: GcpClients) -> None:
        self.clients = clients

    def fetch_triggers(self) -> list[BuildTrigger]:
        """Every trigger of the project in its region, and each enabled one's newest build:
        one listing (paged) and one call per enabled trigger.

        Raises:
            SourceError: the triggers or a build cannot be listed.
        """
        project = self.clients.project
        parent = f"projects/{project}/locations/{self.clients.region}"
        client = self.clients.cloudbuild()
        meter = self.clients.meter
        triggers: list[BuildTrigger] = []
        with api_errors(self.clients.api("cloudbuild")):
            found: list[Any] = []
            pager = client.list_build_triggers(
                request={"project_id": project, "parent": parent, "page_size": PAGE_SIZE},
                retry=None,
                timeout=CALL_TIMEOUT,
            )
            for page in pager.pages:
                meter.count("cloudbuild", "ListBuildTriggers")
                found.extend(page.triggers)
            for trigger in found:
                last = None
                if not trigger.disabled:
                    meter.count("cloudbuild", "ListBuilds")
                    response = client.list_builds(
                        request={
                            "project_id": project,
                            "parent": parent,
                            "filter": f'trigger_id="{trigger.id}"',
                            "page_size": 1,
                        },
                        retry=None,
                        timeout=CALL_TIMEOUT,
                    )
                    builds = list(next(iter(response.pages)).builds)
                    last = to_build(builds[0]) if builds else None
                triggers.append(to_trigger(trigger, last))
        return triggers
