"""requirements.txt, and which distribution provides an import.

Import names differ from distribution names (`yaml` is PyYAML, `google.cloud.firestore`
is google-cloud-firestore). Both answers here come from tables kept in this module,
never from what is installed where orchwatch runs, so a repository gets the same
findings on every machine: which distribution provides an import, and what each
distribution brings along when pip installs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
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
    "google.cloud.exceptions": "google-cloud-core",
    "google.cloud.client": "google-cloud-core",
    "google.cloud._helpers": "google-cloud-core",
    "google.cloud.aiplatform": "google-cloud-aiplatform",
    "vertexai": "google-cloud-aiplatform",
    "google.genai": "google-genai",
    "google.resumable_media": "google-resumable-media",
    "google.iam": "grpc-google-iam-v1",
    "google.cloud.resourcemanager": "google-cloud-resource-manager",
    "google_crc32c": "google-crc32c",
    "pandas_gbq": "pandas-gbq",
    "boto3": "boto3",
    "botocore": "botocore",
    "six": "six",
    "packaging": "packaging",
    "jinja2": "Jinja2",
    "markupsafe": "MarkupSafe",
    "click": "click",
    "scipy": "scipy",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "joblib": "joblib",
    "matplotlib": "matplotlib",
    "plotly": "plotly",
    "httpx": "httpx",
    "aiohttp": "aiohttp",
    "pydantic_core": "pydantic-core",
    "typing_extensions": "typing-extensions",
    "charset_normalizer": "charset-normalizer",
    "idna": "idna",
    "cachetools": "cachetools",
    "rsa": "rsa",
    "pyasn1_modules": "pyasn1-modules",
    "httplib2": "httplib2",
    "gunicorn": "gunicorn",
    "watchdog": "watchdog",
    "itsdangerous": "itsdangerous",
    "blinker": "blinker",
    "tzdata": "tzdata",
    "opentelemetry": "opentelemetry-api",
    "jmespath": "jmespath",
    "s3transfer": "s3transfer",
    "soupsieve": "soupsieve",
    "lxml": "lxml",
    "pdfplumber": "pdfplumber",
    "tabulate": "tabulate",
    "pymysql": "PyMySQL",
    "psycopg2": "psycopg2-binary",
    "openai": "openai",
    "anthropic": "anthropic",
    "structlog": "structlog",
    "orjson": "orjson",
    "zstandard": "zstandard",
}

# What installing a distribution brings along (its Requires-Dist, without extras, as the
# current releases declare them): importing one of these is not a missing requirement,
# since pip installs them with the declared package. The closure is taken, so
# google-cloud-bigquery provides google-cloud-core, which provides google-api-core.
# The table is offline on purpose: the answer must not depend on what happens to be
# installed where orchwatch runs. A distribution it does not know provides only itself.
DEPENDS_ON: dict[str, frozenset[str]] = {
    name: frozenset(deps.split())
    for name, deps in {
        "google-api-core": "googleapis-common-protos protobuf proto-plus google-auth requests",
        "google-auth": "cachetools pyasn1-modules rsa",
        "google-cloud-core": "google-api-core google-auth",
        "google-cloud-bigquery": "google-api-core google-auth google-cloud-core "
        "google-resumable-media packaging python-dateutil requests grpcio proto-plus protobuf",
        "google-cloud-bigquery-storage": "google-api-core google-auth proto-plus protobuf",
        "google-cloud-storage": "google-auth google-api-core google-cloud-core "
        "google-resumable-media requests google-crc32c",
        "google-resumable-media": "google-crc32c",
        "google-cloud-firestore": "google-api-core google-auth google-cloud-core proto-plus "
        "protobuf grpcio",
        "google-cloud-pubsub": "grpcio google-auth google-api-core proto-plus protobuf "
        "grpc-google-iam-v1 grpcio-status opentelemetry-api opentelemetry-sdk",
        "google-cloud-logging": "google-api-core google-auth google-cloud-appengine-logging "
        "google-cloud-audit-log google-cloud-core grpc-google-iam-v1 opentelemetry-api "
        "proto-plus protobuf",
        "google-cloud-secret-manager": "google-api-core google-auth proto-plus protobuf "
        "grpc-google-iam-v1",
        "google-cloud-tasks": "google-api-core google-auth proto-plus protobuf grpc-google-iam-v1",
        "google-cloud-scheduler": "google-api-core google-auth proto-plus protobuf",
        "google-cloud-monitoring": "google-api-core google-auth proto-plus protobuf",
        "google-cloud-error-reporting": "google-cloud-logging google-api-core proto-plus protobuf",
        "google-cloud-run": "google-api-core google-auth proto-plus protobuf grpc-google-iam-v1",
        "google-cloud-functions": "google-api-core google-auth proto-plus protobuf "
        "grpc-google-iam-v1",
        "google-cloud-aiplatform": "google-api-core google-auth proto-plus protobuf packaging "
        "google-cloud-storage google-cloud-bigquery google-cloud-resource-manager shapely "
        "pydantic typing-extensions docstring-parser google-genai",
        "grpc-google-iam-v1": "grpcio googleapis-common-protos protobuf",
        "grpcio-status": "protobuf grpcio googleapis-common-protos",
        "googleapis-common-protos": "protobuf",
        "proto-plus": "protobuf",
        "google-api-python-client": "httplib2 google-auth google-auth-httplib2 google-api-core "
        "uritemplate",
        "functions-framework": "flask click watchdog gunicorn cloudevents werkzeug",
        "flask": "werkzeug jinja2 itsdangerous click blinker markupsafe",
        "jinja2": "markupsafe",
        "werkzeug": "markupsafe",
        "requests": "charset-normalizer idna urllib3 certifi",
        "pandas": "numpy python-dateutil pytz tzdata",
        "python-dateutil": "six",
        "db-dtypes": "packaging pandas pyarrow numpy",
        "pyarrow": "",
        "pandas-gbq": "setuptools db-dtypes numpy pandas pyarrow pydata-google-auth "
        "google-api-core google-auth google-auth-oauthlib google-cloud-bigquery packaging",
        "scikit-learn": "numpy scipy joblib threadpoolctl",
        "scipy": "numpy",
        "xgboost": "numpy scipy",
        "lightgbm": "numpy scipy",
        "catboost": "graphviz matplotlib numpy pandas scipy plotly six",
        "boto3": "botocore jmespath s3transfer",
        "botocore": "jmespath python-dateutil urllib3",
        "s3transfer": "botocore",
        "sentry-sdk": "urllib3 certifi",
        "slack-sdk": "",
        "pydantic": "annotated-types pydantic-core typing-extensions typing-inspection",
        "aiohttp": "aiohappyeyeballs aiosignal attrs frozenlist multidict propcache yarl",
        "httpx": "anyio certifi httpcore idna",
        "beautifulsoup4": "soupsieve typing-extensions",
        "cloudevents": "deprecation",
        "tenacity": "",
        "psutil": "",
        "pyyaml": "",
    }.items()
}


# Distributions without dependencies that change what can be imported: with these, the
# closure of a requirements file can be known in full.
LEAVES = frozenset(
    {
        "certifi",
        "charset-normalizer",
        "idna",
        "urllib3",
        "six",
        "pytz",
        "tzdata",
        "numpy",
        "protobuf",
        "packaging",
        "cachetools",
        "pyasn1",
        "grpcio",
        "google-crc32c",
        "markupsafe",
        "itsdangerous",
        "click",
        "blinker",
        "watchdog",
        "gunicorn",
        "deprecation",
        "jmespath",
        "typing-extensions",
        "annotated-types",
        "pydantic-core",
        "typing-inspection",
        "pyparsing",
        "uritemplate",
        "joblib",
        "threadpoolctl",
        "setuptools",
        "pyarrow",
        "psutil",
        "pyyaml",
        "tenacity",
        "slack-sdk",
        "google-auth-httplib2",
        "httplib2",
        "rsa",
        "pyasn1-modules",
        "google-cloud-appengine-logging",
        "google-cloud-audit-log",
        "opentelemetry-api",
        "opentelemetry-sdk",
        "importlib-metadata",
        "zipp",
        "soupsieve",
    }
)
RUNTIME_PROVIDES = frozenset({"functions-framework"})
"""The Python runtime installs the Functions Framework when requirements.txt does not."""


def fully_known(declared: set[str]) -> bool:
    """Whether every distribution installed with the declared ones is in the tables, so
    that an import none of them provides is certainly missing."""
    return all(d in DEPENDS_ON or d in LEAVES for d in provided_by(declared))


def provided_by(declared: set[str]) -> frozenset[str]:
    """Every distribution installed with the declared ones (the transitive closure)."""
    return _closure(frozenset(declared))


@cache
def _closure(declared: frozenset[str]) -> frozenset[str]:
    provided: set[str] = set()
    pending = list(declared)
    while pending:
        name = pending.pop()
        if name in provided:
            continue
        provided.add(name)
        pending.extend(DEPENDS_ON.get(name, ()))
    return frozenset(provided)


_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503 normalisation: case-insensitive, `-`, `_` and `.` alike."""
    return re.sub(r"[-_.]+", "-", name).lower()


_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=[^\s=-]))(\S.*)$")
"""`-r file`, `-rfile`, `--requirement file`, `--requirement=file` (and `-c` likewise)."""


def parse_requirements(
    path: Path, root: Path, outside: list[str] | None = None, _seen: frozenset[Path] = frozenset()
) -> set[str]:
    """Normalised distribution names declared in a requirements file (following `-r`).

    Nothing outside `root` (the repository) is opened: an include that leads out of it is
    appended to `outside` as written, and declares nothing. Constraint files (`-c`) declare
    nothing and are never opened. A missing file declares nothing.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    names: set[str] = set()
    top = root.resolve()
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if include := _INCLUDE.match(line):
            if include[1] in ("-c", "--constraint"):
                continue
            included = (path.parent / include[2].strip()).resolve()
            if not included.is_relative_to(top):
                if outside is not None:
                    outside.append(include[2].strip())
                continue
            if included not in _seen:
                names |= parse_requirements(included, root, outside, _seen | {path.resolve()})
            continue
        if line.startswith("-"):
            continue
        if match := _NAME.match(line):
            names.add(normalize(match[1]))
    return names


def distributions_for(module: str) -> tuple[str, ...]:
    """Normalised distributions that provide a dotted module, or () when the table does not
    know it (a `cannot tell`, never a guess from what is installed here)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in IMPORT_TO_DISTRIBUTION:
            return (normalize(IMPORT_TO_DISTRIBUTION[prefix]),)
    return ()


def is_declared(distributions: Iterable[str], declared: set[str]) -> bool:
    """Whether one of `distributions` is declared, or is installed with a declared one."""
    return bool(set(distributions) & provided_by(declared))
