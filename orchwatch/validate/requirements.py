"""requirements.txt, and which distribution provides an import.

Import names differ from distribution names (`yaml` is PyYAML, `google.cloud.firestore`
is google-cloud-firestore). The answer comes from a maintained table first (it
knows the pipeline's usual libraries even when they are not installed here),
then from the metadata of the packages installed where orchwatch runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

# Longest dotted prefix wins: google.cloud.firestore_v1.base -> google.cloud.firestore_v1.
IMPORT_TO_DISTRIBUTION: dict[str, str] = {
    "google.cloud.firestore": "google-cloud-firestore",
    "google.cloud.firestore_v1": "google-cloud-firestore",
    "google.cloud.firestore_admin_v1": "google-cloud-firestore",
    "google.cloud.bigquery": "google-cloud-bigquery",
    "google.cloud.bigquery_storage": "google-cloud-bigquery-storage",
    "google.cloud.bigquery_storage_v1": "google-cloud-bigquery-storage",
    "google.cloud.storage": "google-cloud-storage",
    "google.cloud.pubsub": "google-cloud-pubsub",
    "google.cloud.pubsub_v1": "google-cloud-pubsub",
    "google.cloud.logging": "google-cloud-logging",
    "google.cloud.logging_v2": "google-cloud-logging",
    "google.cloud.run_v2": "google-cloud-run",
    "google.cloud.secretmanager": "google-cloud-secret-manager",
    "google.cloud.secretmanager_v1": "google-cloud-secret-manager",
    "google.cloud.tasks": "google-cloud-tasks",
    "google.cloud.tasks_v2": "google-cloud-tasks",
    "google.cloud.scheduler": "google-cloud-scheduler",
    "google.cloud.error_reporting": "google-cloud-error-reporting",
    "google.cloud.monitoring": "google-cloud-monitoring",
    "google.cloud.monitoring_v3": "google-cloud-monitoring",
    "google.cloud.functions_v2": "google-cloud-functions",
    "google.api_core": "google-api-core",
    "google.auth": "google-auth",
    "google.oauth2": "google-auth",
    "google.protobuf": "protobuf",
    "google.rpc": "googleapis-common-protos",
    "google.type": "googleapis-common-protos",
    "googleapiclient": "google-api-python-client",
    "functions_framework": "functions-framework",
    "yaml": "PyYAML",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "bs4": "beautifulsoup4",
    "PIL": "Pillow",
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "jwt": "PyJWT",
    "attr": "attrs",
    "grpc": "grpcio",
    "sentry_sdk": "sentry-sdk",
    "slack_sdk": "slack-sdk",
    "db_dtypes": "db-dtypes",
    "sqlalchemy": "SQLAlchemy",
    "flask": "Flask",
    "pandas": "pandas",
    "numpy": "numpy",
    "psutil": "psutil",
    "requests": "requests",
    "pytz": "pytz",
    "pydantic": "pydantic",
    "pyarrow": "pyarrow",
    "tenacity": "tenacity",
    "cloudevents": "cloudevents",
    "redis": "redis",
    "urllib3": "urllib3",
    "certifi": "certifi",
    "werkzeug": "Werkzeug",
    "proto": "proto-plus",
}

# What a declared distribution reliably brings along: importing these is not a
# missing requirement (pinning them is the declared package's job).
BRINGS_ALONG: dict[str, frozenset[str]] = {
    "google-cloud": frozenset(
        {
            "google-api-core",
            "google-auth",
            "protobuf",
            "proto-plus",
            "googleapis-common-protos",
            "grpcio",
        }
    ),
    "functions-framework": frozenset({"flask", "werkzeug", "cloudevents"}),
    "requests": frozenset({"urllib3", "certifi", "idna", "charset-normalizer"}),
    "pandas": frozenset({"numpy", "python-dateutil", "pytz"}),
    "google-cloud-bigquery": frozenset({"google-cloud-core", "google-resumable-media"}),
    "google-cloud-storage": frozenset({"google-cloud-core", "google-resumable-media"}),
    "google-cloud-firestore": frozenset({"google-cloud-core"}),
}

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503 normalisation: case-insensitive, `-`, `_` and `.` alike."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(path: Path, _seen: frozenset[Path] = frozenset()) -> set[str]:
    """Normalised distribution names declared in a requirements file (following `-r`).

    A missing file declares nothing.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    names: set[str] = set()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            included = (path.parent / line.split(None, 1)[1].strip()).resolve()
            if included not in _seen:
                names |= parse_requirements(included, _seen | {path.resolve()})
            continue
        if line.startswith("-"):
            continue
        if match := _NAME.match(line):
            names.add(normalize(match[1]))
    return names


@functools.cache
def _installed_map() -> dict[str, tuple[str, ...]]:
    try:
        return {k: tuple(v) for k, v in metadata.packages_distributions().items()}
    except Exception:  # broken metadata of an unrelated package must not stop validation
        return {}


@functools.cache
def installed_signature() -> str:
    """A short hash of which import names map to which installed distributions."""
    import hashlib

    items = sorted((k, tuple(sorted(v))) for k, v in _installed_map().items())
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def distributions_for(module: str) -> tuple[str, ...]:
    """Normalised distributions that provide a dotted module, or () when unknown."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in IMPORT_TO_DISTRIBUTION:
            return (normalize(IMPORT_TO_DISTRIBUTION[prefix]),)
    top = parts[0]
    if top == "google":  # a namespace: only the table can tell which google-* package
        return ()
    return tuple(normalize(d) for d in _installed_map().get(top, ()))


def is_declared(distributions: Iterable[str], declared: set[str]) -> bool:
    """Whether one of `distributions` is declared, or comes with a declared one."""
    wanted = set(distributions)
    if wanted & declared:
        return True
    for name in declared:
        along = BRINGS_ALONG.get(name, frozenset())
        if name.startswith("google-cloud-"):
            along = along | BRINGS_ALONG["google-cloud"]
        if wanted & {normalize(n) for n in along}:
            return True
    return False
