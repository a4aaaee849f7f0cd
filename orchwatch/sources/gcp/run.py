"""Cloud Run services and revisions through the Admin API v2 (`run_v2`).

A refresh costs one ListServices of the region (paged at 100: one call up to 100
services), and a ListRevisions (paged) only for a service whose state changed since the
last read (its etag, latest created or Ready revision, traffic, conditions), or whose
revisions were read more than `REVISIONS_MAX_AGE` ago. Cloud Run keeps up to 1,000
revisions per service: re-listing them every refresh would be ten calls per service.
Where ListServices is denied (an account with roles on some services only), each
service is read with GetService instead. Revisions are read in parallel, at most
`gcp.run_concurrency` at a time. A service that does not exist is left out, as the
`RevisionSource` contract says; a service whose revisions cannot be read is kept with
the reason (`ServiceState.read_error`), and the others are unaffected.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from orchwatch.model import Condition, ConditionState, Revision, ServiceState, TrafficStatus
from orchwatch.sources.base import SourceError
from orchwatch.sources.gcp.clients import GcpClients
from orchwatch.sources.gcp.errors import api_errors

PAGE_SIZE = 100
REVISIONS_MAX_AGE = 600.0
"""Seconds a service's revision list is reused while the service itself is unchanged (a
revision's own conditions can move without changing the service)."""
CALL_TIMEOUT = 20.0
"""No retries inside a call: the pane retries with backoff, and an outage shows at once."""


def short_name(resource: str) -> str:
    """`projects/p/locations/r/services/s/revisions/s-00026-xyz` -> `s-00026-xyz`."""
    return resource.rsplit("/", 1)[-1]


def camel_reason(enum_name: str) -> str:
    """`HEALTH_CHECK_CONTAINER_ERROR` -> `HealthCheckContainerError` (as the console shows)."""
    if not enum_name or enum_name.endswith(("_UNDEFINED", "_UNSPECIFIED")):
        return ""
    return "".join(part.capitalize() for part in enum_name.split("_"))


def snake_reason(reason: str) -> str:
    """The inverse of `camel_reason` (`HealthCheckContainerError` -> `HEALTH_CHECK_...`)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", reason).upper()


def to_condition(condition: Any) -> Condition:
    """A `run_v2.Condition` as the model's."""
    from google.cloud import run_v2

    which = run_v2.Condition.pb(condition).WhichOneof("reasons")
    reason = camel_reason(getattr(condition, which).name) if which else ""
    return Condition(
        type=condition.type_,
        state=ConditionState(condition.state.name),
        reason=reason,
        message=condition.message,
        last_transition_time=_utc(condition.last_transition_time),
    )


def to_revision(revision: Any, service: str) -> Revision:
    """A `run_v2.Revision` as the model's."""
    container = revision.containers[0] if revision.containers else None
    env = {e.name: e.value for e in container.env} if container is not None else {}
    return Revision(
        name=short_name(revision.name),
        service=service,
        create_time=_utc(revision.create_time) or datetime.min.replace(tzinfo=UTC),
        creator=revision.creator,
        labels=dict(revision.labels),
        image=container.image if container is not None else "",
        env=env,
        conditions=tuple(to_condition(c) for c in revision.conditions),
    )


def to_service(service: Any, revisions: Sequence[Revision]) -> ServiceState:
    """A `run_v2.Service` and its revisions as the model's."""
    from google.cloud import run_v2

    terminal = service.terminal_condition
    latest_type = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    targets = list(service.traffic)
    follows = not targets or any(t.type_ == latest_type for t in targets)
    return ServiceState(
        name=short_name(service.name),
        latest_created_revision=short_name(service.latest_created_revision),
        latest_ready_revision=short_name(service.latest_ready_revision),
        traffic=tuple(
            to_traffic(t, short_name(service.latest_ready_revision))
            for t in service.traffic_statuses
        ),
        revisions=tuple(sorted(revisions, key=lambda r: r.create_time, reverse=True)),
        terminal_condition=to_condition(terminal) if terminal.type_ else None,
        uri=service.uri,
        pinned_to=()
        if follows
        else tuple(short_name(t.revision) for t in targets if t.percent > 0 and t.revision),
        reconciling=bool(service.reconciling),
    )


def to_traffic(status: Any, latest_ready: str) -> TrafficStatus:
    """A `run_v2.TrafficTargetStatus`. One of type LATEST goes to the latest Ready revision
    and need not name it (the proto does not promise a name); gcloud resolves it through the
    service's `latest_ready_revision`, and so does this."""
    from google.cloud import run_v2

    latest = (
        status.type_ == run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    )
    revision = short_name(status.revision) or (latest_ready if latest else "")
    return TrafficStatus(revision, int(status.percent), status.tag, follows_latest=latest)


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return None if value.timestamp() <= 0 else value


INVOKER = "roles/run.invoker"


class RunRevisions:
    """The `RevisionSource` over the Cloud Run Admin API v2."""

    def __init__(
        self,
        clients: GcpClients,
        run_name: Callable[[str], str] = str.lower,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.run_name = run_name
        """A watched name -> its Cloud Run service's (`Config.run_service`)."""
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._revisions: dict[str, tuple[str, float, list[Revision]]] = {}
        """Service path -> (its state's fingerprint, when listed, its revisions)."""
        self._found: dict[str, str] = {}
        """Watched name -> the path of the service a read found for it (by the name rule
        or the function-id annotation)."""

    def service_path(self, name: str) -> str:
        """The full resource name of a service of this project and region."""
        return f"projects/{self.clients.project}/locations/{self.clients.region}/services/{name}"

    def fetch_services(self, names: Sequence[str]) -> list[ServiceState]:
        """The named services that exist, with their revisions, newest first.

        Raises:
            SourceError: the API cannot be read; the message says why.
        """
        if not names:
            return []
        with api_errors(self.clients.api("run")):
            # Build the clients here, once, rather than racing to build them in the pool.
            self.clients.run_services()
            self.clients.run_revisions()
            listed = self._list_services()
        workers = min(self.clients.settings.run_concurrency, len(names))
        with ThreadPoolExecutor(workers, thread_name_prefix="orchwatch-run") as pool:
            found = [s for s in pool.map(lambda name: self._one(name, listed), names) if s]
        unread = [s for s in found if s.read_error and not s.revisions]
        if found and len(unread) == len(found):
            raise SourceError(unread[0].read_error)  # the API, not a service: the pane says it
        return found

    def fetch_invokers(self, services: Sequence[str]) -> dict[str, frozenset[str]]:
        """Each named service's members holding `roles/run.invoker`, from its IAM policy
        (`GetIamPolicy`, which needs `run.services.getIamPolicy`); an absent service is
        left out. A service `fetch_services` found under another name (its function-id
        annotation) is asked for under that one.

        Raises:
            SourceError: a policy cannot be read.
        """
        from google.api_core import exceptions

        found: dict[str, frozenset[str]] = {}
        with api_errors(self.clients.api("run")):
            client = self.clients.run_services()
            for name in services:
                with self._lock:  # the service a read found, whatever it is called
                    path = self._found.get(name) or self.service_path(self.run_name(name))
                try:
                    self.clients.meter.count("run", "GetIamPolicy")
                    policy = client.get_iam_policy(
                        request={"resource": path}, retry=None, timeout=CALL_TIMEOUT
                    )
                except exceptions.NotFound:
                    continue
                found[name] = frozenset(
                    member
                    for binding in policy.bindings
                    if binding.role == INVOKER
                    for member in binding.members
                )
        return found

    def _list_services(self) -> dict[str, Any] | None:
        """Every service of the region by full name; None when listing is denied."""
        from google.api_core import exceptions

        parent = f"projects/{self.clients.project}/locations/{self.clients.region}"
        services: dict[str, Any] = {}
        try:
            pager = self.clients.run_services().list_services(
                request={"parent": parent, "page_size": PAGE_SIZE},
                retry=None,
                timeout=CALL_TIMEOUT,
            )
            for page in pager.pages:
                self.clients.meter.count("run", "ListServices")
                services.update((s.name, s) for s in page.services)
        except exceptions.PermissionDenied:
            return None  # roles on some services only: each is read on its own
        return services

    def _one(self, name: str, listed: dict[str, Any] | None) -> ServiceState | None:
        from google.api_core import exceptions

        path = self.service_path(self.run_name(name))
        try:
            with api_errors(self.clients.api("run")):
                if listed is not None:
                    service = listed.get(path) or _by_function_id(listed, name)
                    if service is None:
                        return None
                else:
                    try:
                        self.clients.meter.count("run", "GetService")
                        service = self.clients.run_services().get_service(
                            name=path, retry=None, timeout=CALL_TIMEOUT
                        )
                    except exceptions.NotFound:
                        return None
        except SourceError as exc:  # this service only (a denial, a bad name)
            return _unread(name, str(exc))
        with self._lock:
            self._found[name] = service.name
        try:
            revisions = self._revisions_of(service, name)
        except SourceError as exc:
            return replace(to_service(service, []), name=name, read_error=str(exc))
        # Known by the watched name, whatever Cloud Run calls it.
        return replace(to_service(service, revisions), name=name)

    def _revisions_of(self, service: Any, name: str) -> list[Revision]:
        """The service's revisions: the last list while its state is unchanged and young,
        else listed again (paged).

        Raises:
            SourceError: they cannot be listed.
        """
        mark = _fingerprint(service)
        now = self._monotonic()
        with self._lock:
            kept = self._revisions.get(service.name)
        if kept is not None and kept[0] == mark and now - kept[1] < REVISIONS_MAX_AGE:
            return kept[2]
        revisions: list[Revision] = []
        with api_errors(self.clients.api("run")):
            pager = self.clients.run_revisions().list_revisions(
                request={"parent": service.name, "page_size": PAGE_SIZE},
                retry=None,
                timeout=CALL_TIMEOUT,
            )
            for page in pager.pages:
                self.clients.meter.count("run", "ListRevisions")
                revisions.extend(to_revision(r, name) for r in page.revisions)
        with self._lock:
            self._revisions[service.name] = (mark, now, revisions)
        return revisions


def _fingerprint(service: Any) -> str:
    """What changes when a service's revisions may have: its etag, its latest created
    and Ready revisions, its traffic, its conditions and its generation."""
    from google.cloud import run_v2

    state = run_v2.Service.pb(service)
    parts = [
        service.etag,
        service.latest_created_revision,
        service.latest_ready_revision,
        str(service.observed_generation),
        str(service.reconciling),
        state.terminal_condition.SerializeToString(deterministic=True),
        *(t.SerializeToString(deterministic=True) for t in state.traffic_statuses),
        *(c.SerializeToString(deterministic=True) for c in state.conditions),
    ]
    return "\x1f".join(p if isinstance(p, str) else p.hex() for p in parts)


FUNCTION_ID = "cloudfunctions.googleapis.com/function-id"
"""The annotation Cloud Functions gen2 puts on the Cloud Run service of a function."""


def _by_function_id(listed: dict[str, Any], name: str) -> Any:
    """The listed service whose function-id annotation is `name` (a function's own name,
    whatever its service is called), if exactly one."""
    found = [s for s in listed.values() if s.annotations.get(FUNCTION_ID) == name]
    return found[0] if len(found) == 1 else None


def _unread(name: str, reason: str) -> ServiceState:
    """A watched service that could not be read at all: kept, with the reason."""
    return ServiceState(name, "", "", (), (), read_error=reason)
