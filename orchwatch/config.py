"""orchwatch.toml -> typed, validated settings.

Every error names the file, the key and what was expected, so that
`orchwatch` can print one line and exit 2 instead of a traceback.

Lookup order: `--config PATH`, then `$ORCHWATCH_CONFIG`, then
`./orchwatch.toml`, then `<user config dir>/orchwatch.toml`. With none of
these, the built-in configuration of the pipeline in the example file is used.
"""

from __future__ import annotations

import errno
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from orchwatch.dates import parse_duration
from orchwatch.model import COMMIT_SOURCES

CONFIG_ENV = "ORCHWATCH_CONFIG"
CONFIG_NAME = "orchwatch.toml"
EXAMPLE_CONFIG = Path(__file__).parent / "examples" / "orchwatch.toml"


class ConfigError(Exception):
    """A configuration that cannot be used; the message names file, key and expectation."""

    def __init__(self, file: Path | str, key: str | None, expected: str) -> None:
        self.file = str(file)
        self.key = key
        self.expected = expected
        where = f"{self.file}: key `{key}`" if key else self.file
        super().__init__(f"{where}: {expected}")


# --- the file's schema -------------------------------------------------------------------------
# msgspec Structs mirror the TOML tables one to one; unknown keys are errors.


class _Table(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ProcessorTable(_Table, kw_only=True):
    name: str
    required: bool = True
    cadence: Literal["continuous", "once-daily"] = "continuous"
    due_after: str | None = None


class PhaseTable(_Table, kw_only=True):
    name: str
    label: str = ""
    firestore_collection: str | None = None
    orchestrator: str | None = None
    next_phase: str | None = None
    due_after: str = "00:00"
    completion_topic: str | None = None
    trigger_topic: str | None = None
    message_phase: str | None = None
    output_dataset: str | None = None
    keyed_by: Literal["game_date", "processing_date"] = "game_date"
    next_phase_offset_days: int = 0
    processors: list[ProcessorTable]


class PipelineTable(_Table, kw_only=True):
    name: str = "pipeline"
    timezone: str = "UTC"


class EndpointsTable(_Table, kw_only=True):
    firestore: str | None = None
    bigquery: str | None = None
    run: str | None = None
    logging: str | None = None
    pubsub: str | None = None
    monitoring: str | None = None
    scheduler: str | None = None
    cloudbuild: str | None = None
    storage: str | None = None


class LogAnalyticsTable(_Table, kw_only=True):
    dataset: str | None = None
    view: str = "_AllLogs"
    from_window: str = "6h"


class GcpTable(_Table, kw_only=True):
    project: str | None = None
    region: str = "us-central1"
    bigquery_dataset: str = "orchestration"
    completion_table: str = "phase_completions"
    maximum_bytes_billed: int = 1_000_000_000
    daily_scan_budget_bytes: int = 50_000_000_000
    log_filter: str = ""
    request_logs: bool = False
    log_scope: str = "project"
    log_list_calls_per_minute: int = 6
    log_read_max_entries: int = 5000
    run_concurrency: int = 4
    endpoints: EndpointsTable = msgspec.field(default_factory=EndpointsTable)
    log_analytics: LogAnalyticsTable = msgspec.field(default_factory=LogAnalyticsTable)


class RepoTable(_Table, kw_only=True):
    path: str | None = None


class UiTable(_Table, kw_only=True):
    timezone: str | None = None
    refresh_seconds: float = 10.0
    log_capacity: int = 20000
    overview_days: int = 14
    theme: str = "textual-dark"


class DemoTable(_Table, kw_only=True):
    seed: int = 7
    speed: float = 60.0


class ServicesTable(_Table, kw_only=True):
    extra: list[str] = []
    functions: dict[str, str] = {}
    cloud_run: dict[str, str] = {}
    drift_max_age_hours: float = 24.0
    commit_from: list[str] = msgspec.field(default_factory=lambda: list(COMMIT_SOURCES))


class ValidateTable(_Table, kw_only=True):
    runtime: str = "python311"
    function_globs: list[str] = msgspec.field(
        default_factory=lambda: ["orchestration/cloud_functions/*/"]
    )
    deploy_paths: dict[str, str] = {}
    interpreters: dict[str, str] = {}


DEFAULT_ROLLBACK = (
    "gcloud",
    "run",
    "services",
    "update-traffic",
    "{service}",
    "--to-revisions={revision}=100",
    "--region",
    "{region}",
)
"""`b`: all of a service's traffic to an older revision."""


class ActionsTable(_Table, kw_only=True):
    enabled: bool = False
    timeout_seconds: float = 900.0
    validate_commands: list[list[str]] = []
    deploy: dict[str, list[str]] = {}
    rollback: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_ROLLBACK))


class DailyCheckTable(_Table, kw_only=True):
    name: str
    sql: str
    expect: str
    warn: str | None = None
    fix: str | None = None
    due_after: str | None = None
    off_days: Literal["check", "skip"] = "check"
    off_day_expect: str | None = None
    phase: str | None = None


class ExportTable(_Table, kw_only=True):
    name: str
    bucket: str
    object: str
    due_after: str = "00:00"
    max_age_hours: float | None = None
    active_hours: list[str] | None = None
    off_days: Literal["check", "skip"] = "check"


class TiersTable(_Table, kw_only=True):
    queue_retries: list[int] = msgspec.field(default_factory=lambda: [5, 11])
    queue_stuck: list[int] = msgspec.field(default_factory=lambda: [1, 4])
    queue_open: list[int] = msgspec.field(default_factory=lambda: [5, 16])
    scheduler_failing: list[int] = msgspec.field(default_factory=lambda: [1, 4])
    silent_targets: list[int] = msgspec.field(default_factory=lambda: [1, 4])
    build_stale_days: int = 7


class DailyTable(_Table, kw_only=True):
    checks: list[DailyCheckTable] = []
    tiers: TiersTable = msgspec.field(default_factory=TiersTable)
    exports: list[ExportTable] = []
    game_day_sql: str | None = None
    execution_ok: list[str] = msgspec.field(default_factory=lambda: ["success", "complete"])
    queue_open: list[str] = msgspec.field(default_factory=lambda: ["pending", "retrying"])
    queue_handled: list[str] = msgspec.field(
        default_factory=lambda: ["failed_permanent", "succeeded", "resolved"]
    )


class EnvironmentTable(_Table, kw_only=True):
    project: str
    region: str | None = None
    colour: str = "blue"
    production: bool = False
    default: bool = False


class RecordTable(_Table, kw_only=True):
    interval_seconds: float | None = None
    retention_days: float = 14.0
    max_megabytes: float = 1024.0
    days: int = 2
    slow_seconds: float = 300.0


class ConfigFile(_Table, kw_only=True):
    pipeline: PipelineTable = msgspec.field(default_factory=PipelineTable)
    environments: dict[str, EnvironmentTable] = {}
    gcp: GcpTable = msgspec.field(default_factory=GcpTable)
    repo: RepoTable = msgspec.field(default_factory=RepoTable)
    ui: UiTable = msgspec.field(default_factory=UiTable)
    demo: DemoTable = msgspec.field(default_factory=DemoTable)
    services: ServicesTable = msgspec.field(default_factory=ServicesTable)
    daily: DailyTable = msgspec.field(default_factory=DailyTable)
    actions: ActionsTable = msgspec.field(default_factory=ActionsTable)
    validate: ValidateTable = msgspec.field(default_factory=ValidateTable)
    record: RecordTable = msgspec.field(default_factory=RecordTable)
    phases: list[PhaseTable]


# --- the settings the rest of orchwatch uses ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Environment:
    """A named Google Cloud environment (`[environments.NAME]`): which project, and how
    loudly to say it. Picked with `--env NAME`, as a k9s context is."""

    name: str
    project: str
    region: str | None = None
    """Its Cloud Run region, where it is not `[gcp] region`."""
    colour: str = "blue"
    """The banner's colour: a colour name or `#rrggbb`."""
    production: bool = False
    """In production every action's typed confirmation is the project id."""
    default: bool = False
    """Picked when `--env` is not given (a single environment is picked anyway)."""


@dataclass(frozen=True, slots=True)
class RecordSettings:
    """`[record]`: how often `orchwatch record` polls, and how much it keeps."""

    interval: timedelta = timedelta(seconds=10)
    """Between polls; `[ui] refresh_seconds` unless set: the dashboard's own schedule."""
    retention: timedelta = timedelta(days=14)
    max_bytes: int = 1024 * 1_000_000
    days: int = 2
    """The dates each poll reads: today and the days before it, by the pipeline's zone."""
    slow_interval: timedelta = timedelta(minutes=5)
    """Between reads of the execution log and failed queue (each a billed query)."""


@dataclass(frozen=True, slots=True)
class ProcessorSpec:
    """A processor a phase expects."""

    name: str
    required: bool
    cadence: str
    due_after: timedelta
    """Offset from the start of the business date after which a missing completion alarms."""


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    """A phase: where its completions live and what it expects."""

    name: str
    label: str
    firestore_collection: str
    orchestrator: str | None
    next_phase: str | None
    processors: tuple[ProcessorSpec, ...]
    completion_topic: str | None = None
    """The Pub/Sub topic its processors publish their completions to (the orchestrator's
    trigger); None: orchwatch does not read or replay this hop."""
    trigger_topic: str | None = None
    """The topic its orchestrator publishes to trigger the next phase."""
    message_phase: str | None = None
    """The `phase` field of its processors' completion messages (`phase_3_analytics`)."""
    output_dataset: str | None = None
    """The `output_dataset` field of those messages (the processors' BigQuery dataset)."""
    date_offset: int = 0
    """Days from a game date to the date its records are keyed by: 0 when they are keyed
    by the game date, 1 when by the processing date (the runbook's PROCESSING_DATE, the day
    after the games: box scores arrive and the analytics run after midnight)."""

    next_offset: int = 0
    """Days from a game date to the game date of the next phase it triggers: 1 when phase
    3 of game date D triggers phase 4 of D+1 (the runbook's: tonight's predictions are
    built on last night's analytics)."""

    def keyed_date(self, game_date: date) -> date:
        """The date this phase's records of `game_date` are stored under (its Firestore
        document's id, its BigQuery rows' `game_date`, its due time's day)."""
        return game_date + timedelta(days=self.date_offset)


@dataclass(frozen=True, slots=True)
class LogAnalytics:
    """`[gcp.log_analytics]`: a log bucket upgraded to Log Analytics, read through its
    linked BigQuery dataset."""

    dataset: str
    """`project.dataset`: the bucket's linked dataset."""
    view: str = "_AllLogs"
    """The log view, a table of the linked dataset (`_AllLogs` is every log of the bucket)."""
    from_window: timedelta = timedelta(hours=6)
    """Windows at least this long are grouped there; shorter ones page the Logging API
    (fresher: Log Analytics shows an entry a little after the API does)."""

    @property
    def table(self) -> str:
        """The view's full id, as a query names it."""
        return f"{self.dataset}.{self.view}"


@dataclass(frozen=True, slots=True)
class GcpSettings:
    """`[gcp]` beyond the project: spending limits and where each API is."""

    maximum_bytes_billed: int = 1_000_000_000
    """BigQuery refuses (and orchwatch's dry run rejects) any query that would bill more."""
    daily_scan_budget: int = 50_000_000_000
    """Bytes the completion refreshes of one dashboard may scan in a day: an unpruned
    read is spaced out to stay under it."""
    log_filter: str = ""
    """Appended (AND) to the Cloud Logging filter orchwatch builds from the services."""
    request_logs: bool = False
    """Also tail Cloud Run request and system logs (left out by default: never tracebacks)."""
    log_scope: str = "project"
    """`project`: every Cloud Run service and function of the project (the processors'
    tracebacks are half of an incident); `watched`: only the services orchwatch watches."""
    log_list_calls_per_minute: int = 6
    """ListLogEntries budget of one dashboard (the project's quota is 60 a minute)."""
    log_read_max_entries: int = 5000
    """The most entries one read of a window (a headless verb, a backfill) lists, newest
    first: 5 pages, within a minute of the list budget."""
    run_concurrency: int = 4
    """Cloud Run services read in parallel."""
    log_analytics: LogAnalytics | None = None
    """Where wide windows of logs are grouped in SQL; None: always the Logging API."""
    endpoints: Mapping[str, str] = field(default_factory=dict)
    """API -> endpoint (`firestore`, `bigquery`, `run`, `logging`, `pubsub`, `monitoring`)
    for emulators and local servers; absent ones use Google's (FIRESTORE_EMULATOR_HOST and
    PUBSUB_EMULATOR_HOST are honoured too)."""


@dataclass(frozen=True, slots=True)
class ValidateOptions:
    """`[validate]`: how `orchwatch validate` finds and judges functions."""

    runtime: str = "python311"
    """The runtime of a function whose deploy does not name one."""
    function_globs: tuple[str, ...] = ("orchestration/cloud_functions/*/",)
    deploy_paths: Mapping[str, str] = field(default_factory=dict)
    """Function folder -> the one deploy path that ships it (`source`, `script:<path>`)."""
    interpreters: Mapping[str, str] = field(default_factory=dict)
    """Runtime -> a Python of that version, for runtimes newer than orchwatch's."""


@dataclass(frozen=True, slots=True)
class DailyCheck:
    """A configured SQL check of the walkthrough: one number against its tiers, as the
    runbook's checks have them (pass / warn / critical, often different on off days)."""

    name: str
    sql: str
    expect: str
    """Pass when the number meets this (`"> 0"`)."""
    phase: str | None = None
    """The phase whose data it counts: not due before that phase is, blocked with it."""
    warn: str | None = None
    """Short of `expect`, a warning when the number meets this; else it fails (critical)."""
    fix: str = ""
    """What to do when it warns or fails (the runbook's fix)."""
    due_after: timedelta | None = None
    """Before this time of the date, the check is not due."""
    skip_off_days: bool = False
    """On a day without games (`[daily] game_day_sql` says 0) the check is skipped."""
    off_day_expect: str | None = None
    """The expectation on a day without games, when it differs (no warn tier then)."""


@dataclass(frozen=True)
class StatusWords:
    """What the pipeline's status values mean to the walkthrough (`[daily]`): the team's
    runbook writes `complete` in phase_execution_log, and sets `failed_permanent` on a
    queue item on purpose to stop its retries."""

    execution_ok: frozenset[str] = frozenset({"success", "complete"})
    """phase_execution_log statuses of a transition that ran."""
    queue_open: frozenset[str] = frozenset({"pending", "retrying"})
    """failed_processor_queue states still waiting on the auto-retry (a warning)."""
    queue_handled: frozenset[str] = frozenset({"failed_permanent", "succeeded", "resolved"})
    """Terminal states someone or the retry set (nothing to do); any other is a warning."""


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """A file the pipeline exports to Cloud Storage (`[[daily.exports]]`, the runbook's
    phase 6 exports): it must exist once due, and be fresh while the pipeline runs."""

    name: str
    bucket: str
    object: str
    """The object's name; `{date}` stands for the game date (`v1/picks/{date}.json`)."""
    due_after: timedelta = timedelta(0)
    """From the game date's midnight (pipeline zone): missing before this is not due."""
    max_age: timedelta | None = None
    """Older than this is stale (a warning); None: only its presence is judged."""
    active: tuple[timedelta, timedelta] | None = None
    """The times of day (pipeline zone) freshness is judged in; None: always."""
    skip_off_days: bool = False
    """Not expected on a day the game calendar says has no games (a dated file)."""

    def object_name(self, game_date: date) -> str:
        """The object's name for a game date."""
        return self.object.replace("{date}", game_date.isoformat())


@dataclass(frozen=True, slots=True)
class Tiers:
    """The built-in checks' tiers (`[daily.tiers]`): for each count, the value a warning
    starts at and the value it is critical from. The defaults are the runbook's."""

    queue_retries: tuple[int, int] = (5, 11)
    """The most retries of an open queue item: 5-10 warn, more than 10 is a loop (0.695)."""
    queue_stuck: tuple[int, int] = (1, 4)
    """Open items failing for more than 24 hours: 1-3 warn, 4 or more are stuck."""
    queue_open: tuple[int, int] = (5, 16)
    """Open items: 5-15 warn, more than 15 is systemic."""
    scheduler_failing: tuple[int, int] = (1, 4)
    """Enabled Cloud Scheduler jobs whose last attempt failed (0.67)."""
    silent_targets: tuple[int, int] = (1, 4)
    """Push targets that received no request on a game day (0.68)."""
    build_stale_days: int = 7
    """Days a Cloud Build trigger may leave commits to its files unbuilt before it is
    critical (0.69); fewer warn."""

    def level(self, name: str, count: float) -> int:
        """0 below the warning, 1 a warning, 2 critical, for the tier `name`."""
        warn, critical = getattr(self, name)
        return 2 if count >= critical else 1 if count >= warn else 0


@dataclass(frozen=True, slots=True)
class Config:
    """Validated settings for one pipeline."""

    path: Path | None
    """The file these settings came from; None for the built-in example."""
    pipeline_name: str
    timezone: ZoneInfo
    """The pipeline's zone: business dates and deadlines are reckoned in it."""
    shown_zone: ZoneInfo
    """The zone every time is shown in (`[ui] timezone`, else the pipeline's); stored
    times stay UTC."""
    phases: tuple[PhaseSpec, ...]
    gcp_project: str | None
    gcp_region: str
    bigquery_dataset: str
    completion_table: str
    repo_path: Path | None
    refresh_seconds: float
    log_capacity: int
    overview_days: int
    theme: str
    demo_seed: int
    demo_speed: float
    extra_services: tuple[str, ...]
    service_functions: Mapping[str, str] = field(default_factory=dict)
    """Cloud Run service -> function folder name (for drift and redeploys)."""
    drift_max_age: timedelta = timedelta(hours=24)
    commit_from: tuple[str, ...] = COMMIT_SOURCES
    """Where a revision's deployed commit is read (`label:NAME`, `env:NAME`, `image-tag`)."""
    daily_checks: tuple[DailyCheck, ...] = ()
    """The custom morning checks: SQL whose `@date` is the date, and their tiers."""
    game_day_sql: str | None = None
    """SQL counting the date's games (`[daily] game_day_sql`): 0 makes it an off day, on
    which checks may expect otherwise or be skipped; None: every day is a game day."""
    daily_words: StatusWords = StatusWords()
    daily_tiers: Tiers = Tiers()
    daily_exports: tuple[ExportSpec, ...] = ()
    """Which status values mean what, in phase_execution_log and failed_processor_queue."""
    actions_enabled: bool = False
    action_timeout: float = 900.0
    validate_commands: tuple[tuple[str, ...], ...] = ()
    deploy_commands: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Service -> the argument-list template that redeploys it."""
    cloud_run_names: Mapping[str, str] = field(default_factory=dict)
    """Watched name -> its Cloud Run service name, where it is not the name lowercased."""
    rollback_command: tuple[str, ...] = DEFAULT_ROLLBACK
    """The argument-list template that moves a service's traffic to `{revision}`."""
    gcp: GcpSettings = field(default_factory=GcpSettings)
    """How the Google Cloud sources reach and spend on Google Cloud."""
    validate: ValidateOptions = field(default_factory=ValidateOptions)
    environments: Mapping[str, Environment] = field(default_factory=dict)
    """The configured environments, by name."""
    environment: Environment | None = None
    """The environment the Google Cloud sources read (`select_environment`)."""
    record: RecordSettings = field(default_factory=RecordSettings)
    """`[record]`: the recorder's schedule and bounds."""

    def phase(self, name: str) -> PhaseSpec:
        """The phase called `name`.

        Raises:
            KeyError: no such phase.
        """
        for spec in self.phases:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def function_folder(self, service: str) -> Path | None:
        """The repo folder of a service's function: from `[services] functions`, else the
        service name with `-` as `_`, with or without its `-orchestrator` suffix."""
        if self.repo_path is None:
            return None
        root = self.repo_path / "orchestration" / "cloud_functions"
        if service in self.service_functions:
            return root / self.service_functions[service]
        base = service.replace("-", "_")
        for name in (base.removesuffix("_orchestrator"), base):
            if (root / name).is_dir():
                return root / name
        return None

    @property
    def services(self) -> tuple[str, ...]:
        """Every Cloud Run service to watch: the orchestrators, then the extra ones."""
        orchestrators = [p.orchestrator for p in self.phases if p.orchestrator]
        return tuple(dict.fromkeys([*orchestrators, *self.extra_services]))

    def run_service(self, name: str) -> str:
        """The Cloud Run service of a watched name: `[services] cloud_run`, else the name
        as Cloud Functions gen2 names a function's service: lowercased, underscores made
        hyphens (Cloud Run names are lowercase letters, digits and hyphens; a function's
        may hold capitals and underscores). Where Cloud Run's listing carries the
        service's `cloudfunctions.googleapis.com/function-id` annotation, that link wins
        (`sources.gcp.run`)."""
        return self.cloud_run_names.get(name, default_run_name(name))

    @property
    def run_aliases(self) -> dict[str, str]:
        """Cloud Run service name -> the watched name, where the two differ."""
        return {
            self.run_service(name): name for name in self.services if self.run_service(name) != name
        }


# --- loading -----------------------------------------------------------------------------------


def default_run_name(name: str) -> str:
    """A gen2 function's Cloud Run service name by Google's rule: lowercase, `_` -> `-`."""
    return name.lower().replace("_", "-")


def find_config_file(
    explicit: str | os.PathLike[str] | None,
    environ: Mapping[str, str] = os.environ,
    cwd: Path | None = None,
) -> Path | None:
    """Where the configuration comes from, following the documented lookup order.

    Args:
        explicit: the `--config` argument, if given; it must exist.
        environ: the environment to read `ORCHWATCH_CONFIG` from.
        cwd: the directory to look for `orchwatch.toml` in (default: the current one).

    Returns:
        The file to load, or None to use the built-in example configuration.

    Raises:
        ConfigError: an explicitly named file does not exist.
    """
    for named, origin in ((explicit, "--config"), (environ.get(CONFIG_ENV), CONFIG_ENV)):
        if named:
            path = Path(named).expanduser()
            if _is(path, os.path.isdir, origin):
                raise ConfigError(
                    path, None, f"is a directory, not a config file (named by {origin})"
                )
            if not _is(path, os.path.isfile, origin):
                raise ConfigError(path, None, f"no such file (named by {origin})")
            return path
    local = (cwd or Path.cwd()) / CONFIG_NAME
    if _is(local, os.path.isfile, "the current folder"):
        return local
    import platformdirs

    user = Path(platformdirs.user_config_dir("orchwatch")) / CONFIG_NAME
    return user if _is(user, os.path.isfile, "the user config folder") else None


def _is(path: Path, test: typing.Callable[[str], bool], origin: str) -> bool:
    """`test(path)`, where a folder on the way that cannot be entered is a config error
    naming the file (os.path's tests answer False only for a path that does not exist)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP):
            return False
        raise ConfigError(
            path, None, f"cannot be read ({exc.strerror or exc}; named by {origin})"
        ) from None
    return test(str(path))


def load_config(path: Path | None) -> Config:
    """Read and validate a configuration file (None: the built-in example).

    Raises:
        ConfigError: the file cannot be read, is not TOML, or does not fit the schema.
    """
    source = path or EXAMPLE_CONFIG
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, None, f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(source, None, "is not UTF-8 text") from None
    return parse_config(text, source if path else None, display=source)


def parse_config(text: str, path: Path | None, display: Path | str = "<config>") -> Config:
    """Validate TOML text; `display` names the file in error messages.

    Raises:
        ConfigError: the text is not TOML or does not fit the schema.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(display, None, f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(display, None, "is nested too deeply to be a config file") from None
    _check_integers(raw, display)
    try:
        table = msgspec.convert(raw, ConfigFile)
    except msgspec.ValidationError as exc:
        key, expected = _explain(str(exc))
        raise ConfigError(display, key, expected) from None
    except RecursionError:
        raise ConfigError(display, None, "is nested too deeply to be a config file") from None
    return _build(table, path, display)


_INT64 = (-(2**63), 2**63 - 1)


def _check_integers(raw: dict[str, object], display: Path | str) -> None:
    """TOML 1.0 integers are 64-bit; Python's reader accepts any size, so a larger one is
    refused here, naming its key (walked without recursion: nesting has no limit here)."""
    pending: list[tuple[str, object]] = [("", raw)]
    while pending:
        key, value = pending.pop()
        if isinstance(value, dict):
            pending.extend((f"{key}.{k}" if key else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            pending.extend((f"{key}[{i}]", v) for i, v in enumerate(value))
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and not _INT64[0] <= value <= _INT64[1]
        ):
            raise ConfigError(
                display, key, "expected an integer TOML can hold (64 bits); got a larger one"
            )


_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")


def _explain(message: str) -> tuple[str | None, str]:
    """Turn a msgspec validation message into (dotted key, what was expected)."""
    match = _AT.match(message)
    assert match is not None  # the pattern matches any string
    what, at = match["what"], (match["path"] or "").lstrip(".")
    if unknown := _UNKNOWN.match(what):
        field_name = unknown["field"]
        allowed = _fields_at(at)
        key = f"{at}.{field_name}" if at else field_name
        hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
        return key, f"unknown key{hint}"
    if missing := _MISSING.match(what):
        key = f"{at}.{missing['field']}" if at else missing["field"]
        return key, "is required but missing"
    if expected := _EXPECTED.match(what):
        return at or None, f"expected {_plain_type(expected['want'])}, got {expected['got']}"
    return at or None, what[:1].lower() + what[1:]


def _plain_type(name: str) -> str:
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "array": "an array",
        "object": "a table",
    }.get(name, name.replace("`", ""))


def _fields_at(path: str) -> list[str]:
    """The keys allowed in the table at a msgspec path such as `phases[0].processors[1]`."""
    kind: Any = ConfigFile
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            kind = typing.get_args(kind)[0]
            continue
        hints = typing.get_type_hints(kind)
        kind = hints.get(part)
        if isinstance(kind, types.UnionType):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return list(kind.__struct_fields__)
    return []


def _zone(display: Path | str, key: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            display, key, "expected an IANA time zone such as UTC or America/New_York"
        ) from None


_TOPIC_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.~+%-]{2,254}")
"""Pub/Sub's rule for a topic ID: a letter first, 3 to 255 of letters, digits and
`-_.~+%`, and never starting with `goog`."""


def _topic(display: Path | str, key: str, name: str | None) -> str | None:
    """A topic ID as Pub/Sub allows it (not a path: the project is `[gcp] project`)."""
    if name is None:
        return None
    if not _TOPIC_ID.fullmatch(name) or name.lower().startswith("goog"):
        raise ConfigError(
            display,
            key,
            "expected a Pub/Sub topic ID (3-255 letters, digits or -_.~+%, starting with a "
            "letter, not `goog`), not a path",
        )
    return name


def _check_run_collisions(table: ConfigFile, display: Path | str) -> None:
    """Two watched names that reach one Cloud Run service (`foo_bar` and `foo-bar` both
    become `foo-bar`) would show one service's revisions twice under two names."""
    watched = [p.orchestrator for p in table.phases if p.orchestrator] + list(table.services.extra)
    seen: dict[str, str] = {}
    for name in dict.fromkeys(watched):
        run = table.services.cloud_run.get(name, default_run_name(name))
        if run in seen and seen[run] != name:
            raise ConfigError(
                display,
                "services",
                f"`{seen[run]}` and `{name}` are both the Cloud Run service `{run}` (Cloud "
                "Functions gen2 lowercases names and makes `_` a `-`); watch one, or map "
                'the other with [services.cloud_run] "NAME" = "service"',
            )
        seen[run] = name


def _build(table: ConfigFile, path: Path | None, display: Path | str) -> Config:
    """Cross-field checks that the schema alone cannot express."""
    zone = _zone(display, "pipeline.timezone", table.pipeline.timezone)
    shown = _zone(display, "ui.timezone", table.ui.timezone) if table.ui.timezone else zone
    if not table.phases:
        raise ConfigError(display, "phases", "expected at least one [[phases]] table")
    names = [p.name for p in table.phases]
    phases: list[PhaseSpec] = []
    for i, phase in enumerate(table.phases):
        key = f"phases[{i}]"
        if names.count(phase.name) > 1:
            raise ConfigError(display, f"{key}.name", f"phase `{phase.name}` is defined twice")
        if phase.next_phase is not None and phase.next_phase not in names:
            raise ConfigError(
                display,
                f"{key}.next_phase",
                f"unknown phase `{phase.next_phase}`; expected one of: {', '.join(names)}",
            )
        if not phase.processors:
            raise ConfigError(display, f"{key}.processors", "expected at least one processor")
        if not 0 <= phase.next_phase_offset_days <= 7:
            raise ConfigError(
                display, f"{key}.next_phase_offset_days", "expected an integer from 0 to 7"
            )
        if phase.next_phase_offset_days and (phase.orchestrator is None or not phase.next_phase):
            raise ConfigError(
                display,
                f"{key}.next_phase_offset_days",
                "expected 0 for a phase without an orchestrator and a next_phase (a direct "
                "subscription's trigger is read from the next phase's records of the same date)",
            )
        phase_due = _time_of_day(phase.due_after, display, f"{key}.due_after")
        processors = []
        seen: set[str] = set()
        for j, proc in enumerate(phase.processors):
            if proc.name in seen:
                raise ConfigError(
                    display,
                    f"{key}.processors[{j}].name",
                    f"processor `{proc.name}` is listed twice",
                )
            seen.add(proc.name)
            due = (
                _time_of_day(proc.due_after, display, f"{key}.processors[{j}].due_after")
                if proc.due_after is not None
                else phase_due
            )
            processors.append(ProcessorSpec(proc.name, proc.required, proc.cadence, due))
        phases.append(
            PhaseSpec(
                name=phase.name,
                label=phase.label,
                firestore_collection=phase.firestore_collection or f"{phase.name}_completion",
                orchestrator=phase.orchestrator,
                next_phase=phase.next_phase,
                processors=tuple(processors),
                completion_topic=_topic(display, f"{key}.completion_topic", phase.completion_topic),
                trigger_topic=_topic(display, f"{key}.trigger_topic", phase.trigger_topic),
                message_phase=phase.message_phase or phase.name,
                output_dataset=phase.output_dataset,
                date_offset=1 if phase.keyed_by == "processing_date" else 0,
                next_offset=phase.next_phase_offset_days,
            )
        )
    _check_cycles(table.phases, display)
    _check_one_phase_per_processor(table.phases, display)
    _number(display, "ui.refresh_seconds", table.ui.refresh_seconds, 0.5, 86_400)
    if not 100 <= table.ui.log_capacity <= 1_000_000:
        raise ConfigError(display, "ui.log_capacity", "expected an integer from 100 to 1000000")
    if not 1 <= table.ui.overview_days <= 366:
        raise ConfigError(display, "ui.overview_days", "expected an integer from 1 to 366")
    _number(display, "demo.speed", table.demo.speed, 0.01, 10_000)
    _number(
        display, "services.drift_max_age_hours", table.services.drift_max_age_hours, 0.01, 8_760
    )
    if table.ui.theme not in THEMES:
        raise ConfigError(
            display,
            "ui.theme",
            f"unknown theme `{table.ui.theme}`; expected one of: {', '.join(THEMES)}",
        )
    for i, check in enumerate(table.daily.checks):
        if not _EXPECTATION.match(check.expect):
            raise ConfigError(
                display,
                f"daily.checks[{i}].expect",
                f'expected an operator and a number, like "> 0" or "== 0", got "{check.expect}"',
            )
    _check_actions(table.actions, display)
    for watched, run in table.services.cloud_run.items():
        if not _RUN_NAME.match(run):
            raise ConfigError(
                display,
                f'services.cloud_run."{watched}"',
                "expected a Cloud Run service name (lowercase letters, digits and hyphens, "
                f"starting with a letter, at most 49), got {run!r}",
            )
    _check_run_collisions(table, display)
    _check_validate(table.validate, display)
    for i, source in enumerate(table.services.commit_from):
        if not re.fullmatch(r"(label|env):[\w.-]+|image-tag", source):
            raise ConfigError(
                display,
                f"services.commit_from[{i}]",
                f'expected "label:NAME", "env:NAME" or "image-tag", got "{source}"',
            )
    gcp = _gcp_settings(table.gcp, display)
    repo = Path(table.repo.path).expanduser() if table.repo.path else None
    if repo is not None and path is not None and not repo.is_absolute():
        repo = (path.parent / repo).resolve()
    return Config(
        path=path,
        pipeline_name=table.pipeline.name,
        timezone=zone,
        shown_zone=shown,
        phases=tuple(phases),
        gcp_project=table.gcp.project,
        gcp_region=table.gcp.region,
        bigquery_dataset=table.gcp.bigquery_dataset,
        completion_table=table.gcp.completion_table,
        repo_path=repo,
        refresh_seconds=table.ui.refresh_seconds,
        log_capacity=table.ui.log_capacity,
        overview_days=table.ui.overview_days,
        theme=table.ui.theme,
        demo_seed=table.demo.seed,
        demo_speed=table.demo.speed,
        extra_services=tuple(table.services.extra),
        service_functions=dict(table.services.functions),
        drift_max_age=timedelta(hours=table.services.drift_max_age_hours),
        commit_from=tuple(table.services.commit_from),
        daily_checks=_daily_checks(table.daily.checks, {p.name for p in phases}, display),
        game_day_sql=table.daily.game_day_sql,
        daily_words=StatusWords(
            execution_ok=frozenset(table.daily.execution_ok),
            queue_open=frozenset(table.daily.queue_open),
            queue_handled=frozenset(table.daily.queue_handled),
        ),
        daily_tiers=_tiers(table.daily.tiers, display),
        daily_exports=_exports(table.daily.exports, display),
        actions_enabled=table.actions.enabled,
        action_timeout=table.actions.timeout_seconds,
        validate_commands=tuple(tuple(c) for c in table.actions.validate_commands),
        deploy_commands={k: tuple(v) for k, v in table.actions.deploy.items()},
        rollback_command=tuple(table.actions.rollback),
        cloud_run_names=dict(table.services.cloud_run),
        gcp=gcp,
        environments=_environments(table.environments, display),
        record=_record_settings(table.record, table.ui.refresh_seconds, display),
        validate=ValidateOptions(
            runtime=table.validate.runtime,
            function_globs=tuple(table.validate.function_globs),
            deploy_paths=dict(table.validate.deploy_paths),
            interpreters={
                k: str(Path(v).expanduser()) for k, v in table.validate.interpreters.items()
            },
        ),
    )


def _record_settings(table: RecordTable, refresh: float, display: Path | str) -> RecordSettings:
    interval = table.interval_seconds if table.interval_seconds is not None else max(refresh, 1)
    _number(display, "record.interval_seconds", interval, 1, 86_400)
    _number(display, "record.retention_days", table.retention_days, 0.01, 3_650)
    _number(display, "record.max_megabytes", table.max_megabytes, 1, 10_000_000)
    _number(display, "record.slow_seconds", table.slow_seconds, 1, 86_400)
    if not 1 <= table.days <= 31:
        raise ConfigError(display, "record.days", "expected an integer from 1 to 31")
    return RecordSettings(
        interval=timedelta(seconds=interval),
        retention=timedelta(days=table.retention_days),
        max_bytes=int(table.max_megabytes * 1_000_000),
        days=table.days,
        slow_interval=timedelta(seconds=table.slow_seconds),
    )


THEMES = (
    "textual-dark",
    "textual-light",
    "nord",
    "gruvbox",
    "catppuccin-mocha",
    "catppuccin-latte",
    "catppuccin-frappe",
    "catppuccin-macchiato",
    "dracula",
    "tokyo-night",
    "monokai",
    "flexoki",
    "solarized-light",
    "solarized-dark",
    "rose-pine",
    "rose-pine-moon",
    "rose-pine-dawn",
    "atom-one-dark",
    "atom-one-light",
    "ansi-dark",
    "ansi-light",
)
"""The UI's built-in themes (a test keeps this in step with Textual's; config.py does
not import Textual)."""


def _number(display: Path | str, key: str, value: float, low: float, high: float) -> None:
    """A finite number within [low, high]: NaN, infinities and huge values would make
    timers spin or date arithmetic overflow further on."""
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(display, key, f"expected a number from {low:g} to {high:g}, got {value}")


def _daily_checks(
    checks: list[DailyCheckTable], phases: set[str], display: Path | str
) -> tuple[DailyCheck, ...]:
    for i, check in enumerate(checks):
        if check.phase is not None and check.phase not in phases:
            raise ConfigError(
                display,
                f"daily.checks[{i}].phase",
                f"unknown phase `{check.phase}`; expected one of: {', '.join(sorted(phases))}",
            )
    found = []
    for i, check in enumerate(checks):
        key = f"daily.checks[{i}]"
        for field_name in ("expect", "warn", "off_day_expect"):
            text = getattr(check, field_name)
            if text is not None and not EXPECTATION.match(text):
                raise ConfigError(
                    display,
                    f"{key}.{field_name}",
                    f"expected an operator and a number, like '> 0' or '== 0', got {text!r}",
                )
        if check.off_days == "skip" and check.off_day_expect is not None:
            raise ConfigError(
                display,
                f"{key}.off_day_expect",
                'an off day cannot both skip the check (off_days = "skip") and expect a number',
            )
        due = (
            _time_of_day(check.due_after, display, f"{key}.due_after")
            if check.due_after is not None
            else None
        )
        found.append(
            DailyCheck(
                check.name,
                check.sql,
                check.expect,
                check.phase,
                warn=check.warn,
                fix=check.fix or "",
                due_after=due,
                skip_off_days=check.off_days == "skip",
                off_day_expect=check.off_day_expect,
            )
        )
    return tuple(found)


EXPECTATION = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
"""A check's expectation: an operator and a number (`"> 0"`, `">= 90.5"`)."""


def parse_expectation(text: str) -> tuple[str, float]:
    """`"> 0"` -> (">", 0.0).

    Raises:
        ValueError: not an operator and a number.
    """
    match = EXPECTATION.match(text)
    if not match:
        raise ValueError(f"expected an operator and a number, like '> 0' or '== 0', got {text!r}")
    return match[1], float(match[2])


_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
"""A Cloud Storage bucket name (its naming rules: lowercase letters, digits, -, _ and .)."""


def _exports(tables: list[ExportTable], display: Path | str) -> tuple[ExportSpec, ...]:
    """`[[daily.exports]]`: bucket names, object names and times checked."""
    specs = []
    for i, table in enumerate(tables):
        key = f"daily.exports[{i}]"
        if not _BUCKET.fullmatch(table.bucket):
            raise ConfigError(
                display, f"{key}.bucket", f'expected a bucket name, got "{table.bucket}"'
            )
        if (
            not table.object
            or table.object.startswith("/")
            or "{" in table.object.replace("{date}", "")
        ):
            raise ConfigError(
                display,
                f"{key}.object",
                f'expected an object name, {{date}} for the game date, got "{table.object}"',
            )
        max_age = None
        if table.max_age_hours is not None:
            _number(display, f"{key}.max_age_hours", table.max_age_hours, 0.01, 8_760)
            max_age = timedelta(hours=table.max_age_hours)
        active = None
        if table.active_hours is not None:
            if len(table.active_hours) != 2:
                raise ConfigError(display, f"{key}.active_hours", 'expected ["HH:MM", "HH:MM"]')
            start, end = (
                _time_of_day(t, display, f"{key}.active_hours") for t in table.active_hours
            )
            active = (start, end)
        specs.append(
            ExportSpec(
                table.name,
                table.bucket,
                table.object,
                _time_of_day(table.due_after, display, f"{key}.due_after"),
                max_age,
                active,
                table.off_days == "skip",
            )
        )
    return tuple(specs)


def _tiers(table: TiersTable, display: Path | str) -> Tiers:
    """`[daily.tiers]`, each pair a warning's start and a critical's, 0 <= warn <= critical."""
    pairs: dict[str, tuple[int, int]] = {}
    for name in (
        "queue_retries",
        "queue_stuck",
        "queue_open",
        "scheduler_failing",
        "silent_targets",
    ):
        value = getattr(table, name)
        if len(value) != 2 or not 0 <= value[0] <= value[1]:
            raise ConfigError(
                display,
                f"daily.tiers.{name}",
                f"expected [warn, critical]: two integers, 0 <= warn <= critical, got {value}",
            )
        pairs[name] = (value[0], value[1])
    if not 1 <= table.build_stale_days <= 365:
        raise ConfigError(
            display, "daily.tiers.build_stale_days", "expected an integer from 1 to 365"
        )
    return Tiers(**pairs, build_stale_days=table.build_stale_days)


def _check_cycles(phases: list[PhaseTable], display: Path | str) -> None:
    """No chain of next_phase comes back on itself (each phase is walked once: linear in
    the number of phases)."""
    following = {p.name: p.next_phase for p in phases}
    index = {p.name: i for i, p in enumerate(phases)}
    done: set[str] = set()
    for phase in phases:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = phase.name
        while current is not None and current in following and current not in done:
            if current in on_path:
                chain = " → ".join([*path[path.index(current) :], current])
                raise ConfigError(
                    display,
                    f"phases[{index[current]}].next_phase",
                    f"the phases form a cycle ({chain}); the last phase has no next_phase",
                )
            path.append(current)
            on_path.add(current)
            current = following[current]
        done.update(path)


def _check_one_phase_per_processor(phases: list[PhaseTable], display: Path | str) -> None:
    owner: dict[str, str] = {}
    for i, phase in enumerate(phases):
        for j, proc in enumerate(phase.processors):
            if proc.name in owner and owner[proc.name] != phase.name:
                raise ConfigError(
                    display,
                    f"phases[{i}].processors[{j}].name",
                    f"processor `{proc.name}` is already in phase `{owner[proc.name]}`; a "
                    "processor belongs to one phase (its completions are counted there)",
                )
            owner[proc.name] = phase.name


def _gcp_settings(gcp: GcpTable, display: Path | str) -> GcpSettings:
    if gcp.maximum_bytes_billed < 10_000_000:
        raise ConfigError(
            display,
            "gcp.maximum_bytes_billed",
            "expected at least 10000000 (BigQuery bills every query at least 10 MB)",
        )
    if not 1 <= gcp.log_list_calls_per_minute <= 60:
        raise ConfigError(
            display,
            "gcp.log_list_calls_per_minute",
            "expected an integer from 1 to 60 (the project's quota is 60 a minute)",
        )
    if gcp.log_scope not in ("project", "watched"):
        raise ConfigError(
            display, "gcp.log_scope", f'expected "project" or "watched", got "{gcp.log_scope}"'
        )
    if not 100 <= gcp.log_read_max_entries <= 1_000_000:
        raise ConfigError(
            display, "gcp.log_read_max_entries", "expected an integer from 100 to 1000000"
        )
    if not 1 <= gcp.run_concurrency <= 32:
        raise ConfigError(display, "gcp.run_concurrency", "expected an integer from 1 to 32")
    endpoints: dict[str, str] = {}
    for api in (
        "firestore",
        "bigquery",
        "run",
        "logging",
        "pubsub",
        "monitoring",
        "scheduler",
        "cloudbuild",
        "storage",
    ):
        value = getattr(gcp.endpoints, api)
        if value is None:
            continue
        if not _ENDPOINT.match(value):
            raise ConfigError(
                display,
                f"gcp.endpoints.{api}",
                f'expected host:port (or http://host:port for bigquery), got "{value}"',
            )
        endpoints[api] = value
    analytics = _log_analytics(gcp.log_analytics, display)
    if gcp.daily_scan_budget_bytes < 10_000_000:
        raise ConfigError(
            display,
            "gcp.daily_scan_budget_bytes",
            "expected at least 10000000 (one query bills at least 10 MB)",
        )
    return GcpSettings(
        maximum_bytes_billed=gcp.maximum_bytes_billed,
        daily_scan_budget=gcp.daily_scan_budget_bytes,
        log_filter=gcp.log_filter,
        request_logs=gcp.request_logs,
        log_scope=gcp.log_scope,
        log_list_calls_per_minute=gcp.log_list_calls_per_minute,
        log_read_max_entries=gcp.log_read_max_entries,
        run_concurrency=gcp.run_concurrency,
        log_analytics=analytics,
        endpoints=endpoints,
    )


_COLOUR = re.compile(r"^(#[0-9a-fA-F]{6}|[a-z][a-z0-9_]*)$")
"""A colour name as Rich spells them (`red`, `dark_orange`, `grey50`), or `#rrggbb`."""
_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_PROJECT = re.compile(r"([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")


def valid_project(project: str) -> bool:
    """Whether `project` is a Google Cloud project id: 6-30 lowercase letters, digits and
    hyphens (domain-scoped ids, `example.com:proj`, are legacy but still valid)."""
    return _PROJECT.fullmatch(project) is not None


def _environments(
    tables: Mapping[str, EnvironmentTable], display: Path | str
) -> dict[str, Environment]:
    found: dict[str, Environment] = {}
    for name, table in tables.items():
        key = f"environments.{name}"
        if not _ENVIRONMENT_NAME.match(name):
            raise ConfigError(
                display, key, "expected a name of letters, digits, '.', '_' and '-' (40 at most)"
            )
        if not valid_project(table.project):
            raise ConfigError(
                display,
                f"{key}.project",
                f'expected a Google Cloud project id, got "{table.project}"',
            )
        if not _COLOUR.match(table.colour) or not _known_colour(table.colour):
            raise ConfigError(
                display,
                f"{key}.colour",
                f'expected a colour name ("red", "dark_orange") or "#rrggbb", got "{table.colour}"',
            )
        found[name] = Environment(
            name, table.project, table.region, table.colour, table.production, table.default
        )
    defaults = [e.name for e in found.values() if e.default]
    if len(defaults) > 1:
        raise ConfigError(
            display,
            f"environments.{defaults[1]}.default",
            f"only one environment may be the default; {defaults[0]} already is",
        )
    return found


def _known_colour(name: str) -> bool:
    """Whether the terminal can paint `name` (a colour name Rich knows, or `#rrggbb`)."""
    from rich.color import Color, ColorParseError

    try:
        Color.parse(name)
    except ColorParseError:
        return False
    return True


class NoSuchEnvironment(ValueError):
    """`--env` names no configured environment, or several could be meant."""


def select_environment(config: Config, name: str | None, project: str | None = None) -> Config:
    """`config` reading the environment `name` (else the default one, else the only one):
    its project and region. An explicit `project` (`--project`) wins, and the environment
    is the one of that project, if any.

    Raises:
        NoSuchEnvironment: `name` is not configured, or none is given and several are,
            without a default; the message lists them.
    """
    environments = config.environments
    known = ", ".join(sorted(environments)) or "none configured"
    if name is not None:
        chosen = environments.get(name)
        if chosen is None:
            raise NoSuchEnvironment(f"no environment {name!r} (configured: {known})")
    elif project is not None:
        chosen = next((e for e in environments.values() if e.project == project), None)
    else:
        defaults = [e for e in environments.values() if e.default]
        if defaults:
            chosen = defaults[0]
        elif len(environments) == 1:
            chosen = next(iter(environments.values()))
        elif config.gcp_project is not None:  # `[gcp] project` names the one meant
            chosen = next(
                (e for e in environments.values() if e.project == config.gcp_project), None
            )
        elif environments:
            raise NoSuchEnvironment(
                f"several environments are configured ({known}) and none is the default: "
                "choose one with --env"
            )
        else:
            return config
    if chosen is None:
        return config
    if project is not None and project != chosen.project:
        raise NoSuchEnvironment(
            f"--project {project} is not environment {chosen.name}'s project ({chosen.project})"
        )
    return replace(
        config,
        gcp_project=chosen.project,
        gcp_region=chosen.region or config.gcp_region,
        environment=chosen,
    )


_DATASET = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z_][A-Za-z0-9_]{0,1023}$")
_VIEW = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def _log_analytics(table: LogAnalyticsTable, display: Path | str) -> LogAnalytics | None:
    if table.dataset is None:
        return None
    if not _DATASET.match(table.dataset):
        raise ConfigError(
            display,
            "gcp.log_analytics.dataset",
            f'expected "project.dataset" (the log bucket\'s linked BigQuery dataset), got '
            f'"{table.dataset}"',
        )
    if not _VIEW.match(table.view):
        raise ConfigError(
            display,
            "gcp.log_analytics.view",
            f'expected a log view\'s id (letters, digits, underscores), got "{table.view}"',
        )
    try:
        from_window = parse_duration(table.from_window)
    except ValueError:
        raise ConfigError(
            display,
            "gcp.log_analytics.from_window",
            f'expected a duration like "6h" or "2d", got "{table.from_window}"',
        ) from None
    return LogAnalytics(table.dataset, table.view, from_window)


_ENDPOINT = re.compile(r"^(https?://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}/?$")


_RUNTIME = re.compile(r"^python3\d{1,2}$")
_DEPLOY_PATH = re.compile(r"^(source|script:\S.*)$")


def _check_validate(table: ValidateTable, display: Path | str) -> None:
    if not _RUNTIME.match(table.runtime):
        raise ConfigError(
            display,
            "validate.runtime",
            f'expected a Python runtime like "python311", got "{table.runtime}"',
        )
    for name in table.interpreters:
        if not _RUNTIME.match(name):
            raise ConfigError(
                display, f"validate.interpreters.{name}", 'expected a runtime name like "python312"'
            )
    for function, deploy_path in table.deploy_paths.items():
        if not _DEPLOY_PATH.match(deploy_path):
            raise ConfigError(
                display,
                f"validate.deploy_paths.{function}",
                f'expected "source" or "script:<path of a deploy script>", got "{deploy_path}"',
            )
    if not table.function_globs or not all(g.strip() for g in table.function_globs):
        raise ConfigError(display, "validate.function_globs", "expected a list of folder globs")


def _check_actions(actions: ActionsTable, display: Path | str) -> None:
    from orchwatch.actions.template import TemplateError, check_template

    _number(display, "actions.timeout_seconds", actions.timeout_seconds, 1, 86_400)
    commands = [
        (f"actions.validate_commands[{i}]", c) for i, c in enumerate(actions.validate_commands)
    ]
    commands += [(f'actions.deploy."{service}"', c) for service, c in actions.deploy.items()]
    commands.append(("actions.rollback", actions.rollback))
    for key, command in commands:
        try:
            check_template(command)
        except TemplateError as exc:
            raise ConfigError(display, key, f"expected an argument list: {exc}") from None


_RUN_NAME = re.compile(r"\A[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?\Z")
"""A Cloud Run service name."""
_EXPECTATION = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*-?\d+(?:\.\d+)?\s*$")
_CLOCK = re.compile(r"^(\d{1,2}):([0-5]\d)$")


def _time_of_day(value: str, display: Path | str, key: str) -> timedelta:
    match = _CLOCK.match(value)
    if not match or int(match[1]) > 47:
        raise ConfigError(
            display,
            key,
            f'expected a time of day "HH:MM" (up to 47:59 for the next day), got "{value}"',
        )
    return timedelta(hours=int(match[1]), minutes=int(match[2]))


def format_time_of_day(offset: timedelta) -> str:
    """Render a due offset as the "HH:MM" the config uses."""
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
