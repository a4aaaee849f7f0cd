"""Google Cloud failures as `SourceError`s a user can act on.

Every call into a client library runs inside `api_errors(api)`: a missing IAM
role, missing credentials, an unreachable endpoint or a rejected query becomes
one line naming what to do, never a traceback. The google libraries are
imported here only when an error is being translated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from orchwatch.sources.base import SourceError

ALL_ROLES = (
    "roles/datastore.viewer",
    "roles/bigquery.jobUser",
    "roles/bigquery.dataViewer",
    "roles/run.viewer",
    "roles/logging.viewer",
    "roles/pubsub.viewer",
    "roles/monitoring.viewer",
    "roles/cloudscheduler.viewer",
    "roles/cloudbuild.builds.viewer",
    "roles/storage.objectViewer",
)
"""The read-only roles of watching (the replay's publish needs roles/pubsub.publisher)."""


@dataclass(frozen=True)
class Api:
    """One Google Cloud API as the error messages name it."""

    name: str
    """"Firestore", "BigQuery", "Cloud Run", "Cloud Logging"."""
    project: str
    endpoint: str
    """Where the client connects ("default" for Google's own endpoint)."""
    roles: tuple[str, ...]
    """The IAM roles orchwatch needs on this API, the reading one first."""


class CredentialsMissing(SourceError):
    """No Application Default Credentials; `how_to` is the paragraph to show once."""

    def __init__(self, project: str) -> None:
        super().__init__("no Google Cloud credentials found (see the how-to)")
        self.how_to = no_credentials_how_to(project)


def no_credentials_how_to(project: str) -> str:
    """The one-paragraph how-to shown when no credentials are found."""
    return (
        "No Google Cloud credentials were found. orchwatch uses Application Default "
        "Credentials: run `gcloud auth application-default login` (or set "
        "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file), and make sure the "
        f"account has {', '.join(ALL_ROLES)} on project {project}. Then restart orchwatch. "
        "To look around without Google Cloud, run `orchwatch --demo`."
    )


def _first_line(text: object, limit: int = 200) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _missing_role(api: Api, message: str) -> str:
    """The role a permission-denied message points at (BigQuery and Pub/Sub have two)."""
    if api.name == "BigQuery" and "jobs.create" in message:
        return "roles/bigquery.jobUser"
    if api.name == "BigQuery" and len(api.roles) > 1:
        return "roles/bigquery.dataViewer"
    lowered = message.lower()
    if api.name == "Pub/Sub" and "publish" in lowered:
        return "roles/pubsub.publisher"  # Publish needs pubsub.topics.publish
    if api.name == "Pub/Sub" and "seek" in lowered:
        return "roles/pubsub.subscriber"  # Seek needs pubsub.subscriptions.consume
    return api.roles[0]


def translate(api: Api, exc: BaseException) -> SourceError:
    """The `SourceError` an exception from a Google client library means."""
    from google.api_core import exceptions as core
    from google.auth import exceptions as auth

    where = f"{api.name} ({api.endpoint})" if api.endpoint != "default" else api.name
    if isinstance(exc, auth.DefaultCredentialsError):
        return CredentialsMissing(api.project)
    if isinstance(exc, auth.RefreshError):
        return SourceError(
            f"{api.name}: the credentials were refused ({_first_line(exc)}); run "
            "`gcloud auth application-default login` again"
        )
    if isinstance(exc, auth.TransportError):
        return SourceError(f"{where} unreachable: {_first_line(exc)}")
    if isinstance(exc, core.PermissionDenied | core.Forbidden):
        return _forbidden(api, exc)
    if isinstance(exc, core.Unauthenticated | core.Unauthorized):
        return SourceError(
            f"{api.name}: not authenticated ({_first_line(exc.message, 120)}); run "
            "`gcloud auth application-default login`"
        )
    if isinstance(exc, core.NotFound):
        return SourceError(f"{api.name}: not found: {_first_line(exc.message)}")
    if isinstance(exc, core.BadRequest | core.InvalidArgument):
        return SourceError(f"{api.name} rejected the request: {_first_line(exc.message)}")
    if isinstance(exc, core.TooManyRequests | core.ResourceExhausted):
        return SourceError(f"{api.name}: quota exceeded, backing off ({_first_line(exc.message)})")
    if isinstance(exc, core.DeadlineExceeded | core.GatewayTimeout):
        return SourceError(
            f"{where} timed out: it did not answer within the call's deadline "
            f"({_first_line(exc.message, 120)})"
        )
    if isinstance(exc, core.ServiceUnavailable | core.InternalServerError):
        return SourceError(f"{where} unavailable: {_first_line(exc.message)}")
    if isinstance(exc, core.RetryError):
        cause = exc.cause if exc.cause is not None else exc
        return SourceError(f"{where} unreachable after retries: {_first_line(cause)}")
    if isinstance(exc, core.GoogleAPICallError):
        return SourceError(f"{api.name}: {exc.code} {_first_line(exc.message)}")
    if isinstance(exc, ConnectionError | TimeoutError | OSError) or _is_requests_error(exc):
        return SourceError(f"{where} unreachable: {_first_line(exc)}")
    return SourceError(f"{api.name}: {type(exc).__name__}: {_first_line(exc)}")


# The project gcloud's own OAuth client bills to: an API "disabled" there means the user's
# credentials have no quota project, not that the API is off in theirs.
_GCLOUD_CLIENT_PROJECTS = frozenset({"764086051850", "32555940559"})


def _forbidden(api: Api, exc: Any) -> SourceError:
    """A 403 says why in its ErrorInfo (google.rpc.ErrorInfo): the API is disabled, the
    credentials have no quota project, or (the rest) a role is missing."""
    reason = str(getattr(exc, "reason", None) or "")
    metadata = dict(getattr(exc, "metadata", None) or {})
    message = str(exc.message)
    service = metadata.get("service") or f"the {api.name} API"
    consumer = str(metadata.get("consumer", "")).removeprefix("projects/")
    if "quota project" in message or (
        reason == "SERVICE_DISABLED" and consumer in _GCLOUD_CLIENT_PROJECTS
    ):
        return SourceError(
            f"{api.name}: the credentials have no quota project; run `gcloud auth "
            f"application-default set-quota-project {api.project}` ({_first_line(message, 120)})"
        )
    if reason == "SERVICE_DISABLED":
        return SourceError(
            f"{api.name}: {service} is not enabled in project {consumer or api.project}; run "
            f"`gcloud services enable {service} --project {consumer or api.project}`"
        )
    if reason == "ACCESS_TOKEN_SCOPE_INSUFFICIENT":
        return SourceError(
            f"{api.name}: the credentials' OAuth scopes do not cover {service} (a role would "
            "not help); log in again with the cloud-platform scope: `gcloud auth "
            "application-default login --scopes=https://www.googleapis.com/auth/cloud-platform`"
            " (on a VM: give it the cloud-platform access scope)"
        )
    if reason == "BILLING_DISABLED":
        return SourceError(
            f"{api.name}: billing is disabled for project {consumer or api.project} (a role "
            "would not help); link a billing account: `gcloud billing projects link "
            f"{consumer or api.project} --billing-account=ACCOUNT_ID`"
        )
    if reason == "USER_PROJECT_DENIED":
        return SourceError(
            f"{api.name}: the account may not use project {api.project} as its quota project "
            "(it needs roles/serviceusage.serviceUsageConsumer there)"
        )
    role = _missing_role(api, message)
    return SourceError(
        f"{api.name}: permission denied on project {api.project}; the account needs "
        f"{role} ({_first_line(message, 120)})"
    )


def _is_requests_error(exc: BaseException) -> bool:
    """The BigQuery client speaks HTTP through `requests`, whose errors are its own."""
    try:
        import requests
    except ImportError:  # pragma: no cover - google-cloud-bigquery depends on it
        return False
    return isinstance(exc, requests.exceptions.RequestException)


@contextmanager
def api_errors(api: Api) -> Iterator[None]:
    """Run client calls, turning any failure into a `SourceError` about `api`."""
    try:
        yield
    except SourceError:
        raise
    except Exception as exc:
        raise translate(api, exc) from exc
