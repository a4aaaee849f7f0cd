"""Google Cloud failures become states a user can act on; start-up loads no google library."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import date

import pytest
from google.api_core import exceptions as core

from orchwatch.cli import main
from orchwatch.config import Config, ConfigError, parse_config
from orchwatch.sources.base import SourceError
from orchwatch.sources.gcp import build_gcp_sources, resolve_project
from orchwatch.sources.gcp.bigquery import check_estimate, format_bytes
from orchwatch.sources.gcp.errors import Api, CredentialsMissing, translate

BIGQUERY = Api("BigQuery", "p", "default", ("roles/bigquery.jobUser", "roles/bigquery.dataViewer"))
FIRESTORE = Api("Firestore", "p", "default", ("roles/datastore.viewer",))


@pytest.mark.parametrize(
    ("api", "error", "expected"),
    [
        (
            BIGQUERY,
            core.Forbidden(
                "Access Denied: Project p: User does not have bigquery.jobs.create permission"
            ),
            "BigQuery: permission denied on project p; the account needs roles/bigquery.jobUser",
        ),
        (
            BIGQUERY,
            core.Forbidden(
                "Access Denied: Table p:ds.phase_completions: User does not have permission"
            ),
            "BigQuery: permission denied on project p; the account needs roles/bigquery.dataViewer",
        ),
        (
            FIRESTORE,
            core.PermissionDenied("Missing or insufficient permissions."),
            "Firestore: permission denied on project p; the account needs roles/datastore.viewer",
        ),
        (FIRESTORE, core.ServiceUnavailable("connection refused"), "Firestore unavailable"),
        (
            BIGQUERY,
            core.BadRequest("Syntax error: Unexpected keyword"),
            "BigQuery rejected the request",
        ),
    ],
)
def test_errors_name_what_to_do(api: Api, error: Exception, expected: str) -> None:
    assert str(translate(api, error)).startswith(expected)


def test_a_query_over_the_cap_is_refused_before_it_runs() -> None:
    check_estimate(999_000_000, 1_000_000_000)
    with pytest.raises(SourceError, match=r"would process 2\.5 GB, over the 1\.0 GB cap"):
        check_estimate(2_500_000_000, 1_000_000_000)
    assert format_bytes(10_485_760) == "10.5 MB"


def test_no_credentials_gives_the_how_to(
    config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    sources = build_gcp_sources(
        replace(config, gcp_project="orchwatch-nocreds"), "orchwatch-nocreds"
    )
    try:
        with pytest.raises(CredentialsMissing) as caught:
            sources.revisions.fetch_services(["phase3-to-phase4-orchestrator"])  # type: ignore[union-attr]
        assert "gcloud auth application-default login" in caught.value.how_to
        assert "roles/run.viewer" in caught.value.how_to
    finally:
        sources.close()


def test_the_cli_prints_the_how_to_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    assert main(["revisions", "--project", "orchwatch-nocreds"]) == 2
    err = capsys.readouterr().err
    assert "no Google Cloud credentials found" in err
    assert "gcloud auth application-default login" in err
    assert "Traceback" not in err


def test_the_project_comes_from_the_flag_the_config_or_the_environment(config: Config) -> None:
    assert (
        resolve_project("flag-project", config, {"GOOGLE_CLOUD_PROJECT": "env"}) == "flag-project"
    )
    assert resolve_project(None, config, {}) == "nba-props-platform"
    bare = replace(config, gcp_project=None)
    assert resolve_project(None, bare, {"GOOGLE_CLOUD_PROJECT": "env-project"}) == "env-project"
    assert resolve_project(None, bare, {}) is None


def test_a_bad_project_id_is_a_usage_error(config: Config) -> None:
    with pytest.raises(SourceError, match="expected a Google Cloud project id"):
        build_gcp_sources(config, "Not A Project")


def test_starting_on_gcp_imports_no_google_library() -> None:
    code = (
        "import sys\n"
        "from orchwatch.config import load_config\n"
        "from orchwatch.sources.factory import SourceOptions, build_sources\n"
        "import orchwatch.tui.app\n"
        "s = build_sources(SourceOptions(project='orchwatch-startup'), load_config(None))\n"
        "print(s.kind, sorted(m for m in sys.modules if m.startswith(('google', 'grpc'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "gcp []", result.stderr


@pytest.mark.parametrize(
    ("snippet", "key", "expected"),
    [
        ("[gcp]\nmaximum_bytes_billed = 5", "gcp.maximum_bytes_billed", "at least 10000000"),
        ("[gcp]\nlog_list_calls_per_minute = 100", "gcp.log_list_calls_per_minute", "from 1 to 60"),
        ('[gcp.endpoints]\nrun = "not an endpoint"', "gcp.endpoints.run", "host:port"),
        ('[gcp.endpoints]\nspanner = "127.0.0.1:1"', "gcp.endpoints.spanner", "unknown"),
    ],
)
def test_bad_gcp_settings_name_the_key(snippet: str, key: str, expected: str) -> None:
    text = snippet + '\n[[phases]]\nname = "p"\nprocessors = [{ name = "a" }]\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, None, display="orchwatch.toml")
    assert caught.value.key == key
    assert expected in str(caught.value)


def test_gcp_settings_are_read() -> None:
    text = (
        '[gcp]\nproject = "my-project"\nmaximum_bytes_billed = 20000000\n'
        '[gcp.endpoints]\nfirestore = "127.0.0.1:8080"\nbigquery = "http://127.0.0.1:9050"\n'
        '[[phases]]\nname = "p"\nprocessors = [{ name = "a" }]\n'
    )
    config = parse_config(text, None)
    assert config.gcp.maximum_bytes_billed == 20_000_000
    assert config.gcp.endpoints == {
        "firestore": "127.0.0.1:8080",
        "bigquery": "http://127.0.0.1:9050",
    }
    assert config.gcp.log_list_calls_per_minute == 6


def error_info(reason: str, **metadata: str) -> object:
    from google.rpc import error_details_pb2

    return error_details_pb2.ErrorInfo(reason=reason, domain="googleapis.com", metadata=metadata)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            core.Forbidden(
                "BigQuery API has not been used in project 123 before or it is disabled.",
                error_info=error_info(
                    "SERVICE_DISABLED", service="bigquery.googleapis.com", consumer="projects/123"
                ),
            ),
            "BigQuery: bigquery.googleapis.com is not enabled in project 123; run "
            "`gcloud services enable bigquery.googleapis.com --project 123`",
        ),
        (
            core.PermissionDenied(
                "Cloud Run Admin API has not been used in project 764086051850 before.",
                error_info=error_info(
                    "SERVICE_DISABLED",
                    service="run.googleapis.com",
                    consumer="projects/764086051850",
                ),
            ),
            "BigQuery: the credentials have no quota project; run `gcloud auth "
            "application-default set-quota-project p`",
        ),
        (
            core.Forbidden(
                "Your application is authenticating by using local Application Default "
                "Credentials. The bigquery.googleapis.com API requires a quota project, which "
                "is not set by default."
            ),
            "BigQuery: the credentials have no quota project",
        ),
        (
            core.Forbidden(
                "Caller does not have required permission to use project p.",
                error_info=error_info("USER_PROJECT_DENIED"),
            ),
            "BigQuery: the account may not use project p as its quota project",
        ),
        (
            core.Forbidden("Permission denied", error_info=error_info("IAM_PERMISSION_DENIED")),
            "BigQuery: permission denied on project p; the account needs roles/bigquery.dataViewer",
        ),
        (core.DeadlineExceeded("Deadline Exceeded"), "BigQuery timed out"),
        (core.GatewayTimeout("504"), "BigQuery timed out"),
    ],
)
def test_a_403_says_which_fix_and_a_timeout_is_a_timeout(error: Exception, expected: str) -> None:
    assert str(translate(BIGQUERY, error)).startswith(expected)


def test_reads_that_scan_a_whole_table_are_spaced_to_the_daily_budget() -> None:
    from orchwatch.sources.gcp import spaced_interval

    # 1 GB a read, 50 GB a day: 50 reads, one every 28.8 min.
    assert spaced_interval(1_000_000_000, 50_000_000_000, 5.0) == pytest.approx(1728.0)
    # A pruned read of a few MB: the refresh's own pace.
    assert spaced_interval(2_000_000, 50_000_000_000, 5.0) == 5.0
    assert spaced_interval(0, 50_000_000_000, 5.0) == 5.0
    # Other queries spending 40 GB a day leave 10 GB: the 1 GB read every 2.4 h.
    assert spaced_interval(1_000_000_000, 50_000_000_000, 5.0, 40_000_000_000) == 8640.0
    # Others past the budget: the read keeps a tenth of it (5 GB), not none.
    assert spaced_interval(1_000_000_000, 50_000_000_000, 5.0, 90_000_000_000) == 17280.0


def test_the_ledger_counts_the_last_hour_at_a_day_s_pace() -> None:
    from orchwatch.sources.gcp.bigquery import ScanLedger

    now = [0.0]
    ledger = ScanLedger(lambda: now[0])
    ledger.add(10_000_000)
    # Younger than 5 minutes: what it spent counts as spent in 5 minutes.
    assert ledger.per_day() == 10_000_000 * 288
    now[0] = 600.0  # 10 minutes in: 10 MB in 10 minutes
    assert ledger.per_day() == 10_000_000 * 144
    now[0] = 1800.0
    ledger.add(20_000_000)
    assert ledger.per_day() == 30_000_000 * 48
    now[0] = 3601.0  # the first has left the hour
    assert ledger.per_day() == 20_000_000 * 24
    now[0] = 5401.0
    assert ledger.per_day() == 0


def test_a_query_still_running_at_its_deadline_is_cancelled_and_said_so(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "unreachable", and not left running to bill: the job is cancelled."""
    from loopback.slow_bigquery import SlowBigQuery

    from orchwatch.config import GcpSettings
    from orchwatch.sources.gcp import bigquery as bq
    from orchwatch.sources.gcp.clients import GcpClients

    monkeypatch.setattr(bq, "CALL_DEADLINE", 1.0)  # the deadline, shortened for the test
    server = SlowBigQuery().start()
    try:
        clients = GcpClients(
            "orchwatch-slow", "us-west2", GcpSettings(endpoints={"bigquery": server.endpoint})
        )
        tables = bq.BigQueryTables(config, clients)
        with pytest.raises(SourceError) as raised:
            tables.summaries([date(2026, 2, 1)])
    finally:
        server.stop()
    said = str(raised.value)
    assert said.startswith("BigQuery: the query was still running after 1 s; job ")
    assert "was cancelled" in said and "unreachable" not in said
    assert len(server.cancelled) == 1 and server.cancelled[0] in said
