"""The Google Cloud sources against real servers on loopback, seeded with the demo's data.

The Firestore emulator, the BigQuery emulator and the local gRPC server (Cloud Run,
Cloud Logging) are started once per run by the `loopback` fixture (conftest.py).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from conftest import Loopback
from gcp_helpers import Seeded, gcp_sources

from orchwatch.analysis.completion import reconcile_dates
from orchwatch.analysis.daily import evaluate
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import gather_daily, gather_errors, gather_revisions
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.demo import DEMO_START


def test_the_servers_hold_the_whole_demo(world: tuple[Config, Sources, Sources, Seeded]) -> None:
    _, _, _, seeded = world
    assert len(seeded.dates) == 14
    assert seeded.documents > 40
    assert seeded.rows["phase_completions"] > 5000
    assert seeded.services == 6
    assert seeded.entries > 1000


def test_completion_states_match_the_demo(world: tuple[Config, Sources, Sources, Seeded]) -> None:
    config, demo, gcp, seeded = world
    now = demo.clock.now()
    want = reconcile_dates(
        config, demo.completions.fetch_completions(seeded.dates), seeded.dates, now
    )
    got = reconcile_dates(
        config, gcp.completions.fetch_completions(seeded.dates), seeded.dates, now
    )
    assert got == want
    phase3 = got[DEMO_START.date()].phase("phase3")
    assert (phase3.firestore_count, phase3.bigquery_count, phase3.triggered) == (3, 5, False)


def test_one_aggregated_query_and_one_batch_read_per_refresh(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    _, _, gcp, seeded = world
    meter = gcp.meter
    before = meter.snapshot()  # type: ignore[attr-defined]
    gcp.completions.backup_min_interval = 0  # type: ignore[attr-defined]
    gcp.completions.firestore._settled.clear()  # type: ignore[attr-defined]
    gcp.completions.fetch_completions(seeded.dates)
    calls = meter.snapshot() - before  # type: ignore[attr-defined]
    assert calls[("bigquery", "jobs.insert")] == 1
    assert calls[("bigquery", "jobs.insert (dry run)")] == 1
    assert calls[("firestore", "BatchGetDocuments")] == 1


def test_queue_execution_log_and_custom_checks_match_the_demo(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    config, demo, gcp, _ = world
    day = DEMO_START.date() - timedelta(days=1)
    for d in (day, DEMO_START.date()):
        assert gcp.completions.fetch_failed_queue(d) == demo.completions.fetch_failed_queue(d)
        assert gcp.completions.fetch_execution_log(d) == demo.completions.fetch_execution_log(d)
    want = evaluate(gather_daily(config, demo, day), config.timezone)
    got = evaluate(gather_daily(config, gcp, day), config.timezone)
    assert got == want
    # The query ran in BigQuery (a failure would carry the error and no value); the check
    # itself waits with phase 5, which phase 3's missed trigger blocks.
    [custom] = gather_daily(config, gcp, day).custom
    assert (custom.name, custom.value, custom.error) == ("predictions generated", 0.0, "")
    assert next(r for r in got if r.title == "predictions generated").status.value == "blocked"


def test_revision_verdicts_match_the_demo(world: tuple[Config, Sources, Sources, Seeded]) -> None:
    config, demo, gcp, _ = world
    want, got = gather_revisions(config, demo), gather_revisions(config, gcp)
    assert got.verdicts == want.verdicts
    assert got.missing == want.missing == ()
    failing = next(v for v in got.verdicts if v.service == "phase3-to-phase4-orchestrator")
    assert "HealthCheckContainerError" in failing.reason


def test_error_groups_match_the_demo(world: tuple[Config, Sources, Sources, Seeded]) -> None:
    config, demo, gcp, _ = world
    want = gather_errors(config, demo, timedelta(hours=3))
    got = gather_errors(config, gcp, timedelta(hours=3))
    assert got.entries == want.entries
    assert [(g.fingerprint, g.count, g.new_since) for g in got.groups] == [
        (g.fingerprint, g.count, g.new_since) for g in want.groups
    ]
    assert "ModuleNotFoundError" in got.groups[0].exception_type


def test_a_service_that_does_not_exist_is_named_with_where_it_was_looked_for(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    from orchwatch.render import revisions_text

    config, _, gcp, _ = world
    view = gather_revisions(config, gcp, ["phase3-to-phase4-orchestrator", "no-such-service"])
    assert [v.service for v in view.verdicts] == ["phase3-to-phase4-orchestrator"]
    assert view.missing == ("no-such-service",)
    text = revisions_text(view, config.timezone)
    region = config.gcp_region
    # the crash loop is judged on Cloud Logging's warnings of the last hour, as on the demo
    assert view.verdicts[0].crashing and view.verdicts[0].text.startswith("CRASHING 00025 · ")
    [line] = [x for x in text.splitlines() if x.startswith("? no-such-service")]
    assert line.endswith(f"not found in Cloud Run {region} (project orchwatch-world)")


def test_revisions_are_paged(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    config, demo, _, _ = world
    project = "orchwatch-world"
    loopback.grpc.max_page_size = 3
    try:
        paged = gcp_sources(config, project, FrozenClock(DEMO_START))
        services = paged.revisions.fetch_services(config.services)  # type: ignore[union-attr]
        calls = paged.meter.snapshot()  # type: ignore[attr-defined]
        paged.close()
    finally:
        loopback.grpc.max_page_size = 1000
    assert services == demo.revisions.fetch_services(config.services)  # type: ignore[union-attr]
    revisions = sum(len(s.revisions) for s in services)
    assert calls[("run", "ListRevisions")] >= revisions // 3


def test_log_entries_are_paged_within_the_list_budget(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    config, demo, _, _ = world
    loopback.grpc.max_page_size = 500
    try:
        paged = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
        since = DEMO_START - timedelta(hours=3)
        got = paged.logs.fetch_log(since, None)  # type: ignore[union-attr]
        calls = paged.meter.snapshot()  # type: ignore[attr-defined]
        paged.close()
    finally:
        loopback.grpc.max_page_size = 1000
    want = demo.logs.fetch_log(since, None)  # type: ignore[union-attr]
    assert [(e.timestamp, e.text) for e in got] == [(e.timestamp, e.text) for e in want]
    assert calls[("logging", "ListLogEntries")] == -(-len(want) // 500)  # ceil: one per page
    assert calls[("logging", "ListLogEntries")] <= config.gcp.log_list_calls_per_minute


def test_permission_denied_names_the_missing_role(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    config, _, _, _ = world
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    loopback.grpc.deny = {"ListServices", "GetService", "ListLogEntries"}
    try:
        with pytest.raises(SourceError, match=r"permission denied .*roles/run\.viewer"):
            gcp.revisions.fetch_services(config.services)  # type: ignore[union-attr]
        with pytest.raises(SourceError, match=r"permission denied .*roles/logging\.viewer"):
            gcp.logs.fetch_log(DEMO_START, None)  # type: ignore[union-attr]
    finally:
        loopback.grpc.deny = set()
        gcp.close()


def test_a_disabled_api_says_how_to_enable_it(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    config, _, _, _ = world
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    loopback.grpc.deny = {"ListServices", "GetService"}
    loopback.grpc.deny_reason = (
        "SERVICE_DISABLED",
        {"service": "run.googleapis.com", "consumer": "projects/orchwatch-world"},
    )
    try:
        with pytest.raises(
            SourceError,
            match=r"run\.googleapis\.com is not enabled in project orchwatch-world; run "
            r"`gcloud services enable run\.googleapis\.com --project orchwatch-world`",
        ):
            gcp.revisions.fetch_services(config.services)  # type: ignore[union-attr]
    finally:
        loopback.grpc.deny, loopback.grpc.deny_reason = set(), None
        gcp.close()


def test_one_refresh_of_unchanged_services_is_one_cloud_run_call(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    """ListServices answers "did anything change" for every service at once; the revisions
    are listed again only for a service that changed."""
    config, demo, _, _ = world
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        first = gcp.revisions.fetch_services(config.services)  # type: ignore[union-attr]
        before = gcp.meter.snapshot()  # type: ignore[attr-defined]
        again = gcp.revisions.fetch_services(config.services)  # type: ignore[union-attr]
        calls = gcp.meter.snapshot() - before  # type: ignore[attr-defined]
    finally:
        gcp.close()
    assert again == first == demo.revisions.fetch_services(config.services)  # type: ignore[union-attr]
    assert dict(calls) == {("run", "ListServices"): 1}


def test_one_service_that_cannot_be_read_leaves_the_others(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    """A role on some services only: listing is denied, one service is too; the others
    are read, and that one's row says why, never healthy."""
    from orchwatch.analysis.revisions import Health

    config, _, _, _ = world
    path = f"projects/orchwatch-world/locations/{config.gcp_region}/services/self-heal"
    loopback.grpc.deny = {"ListServices"}
    loopback.grpc.deny_on = {("GetService", path)}
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        view = gather_revisions(config, gcp)
    finally:
        loopback.grpc.deny, loopback.grpc.deny_on = set(), set()
        gcp.close()
    verdicts = {v.service: v for v in view.verdicts}
    assert set(verdicts) == set(config.services) - set(view.missing)
    heal = verdicts["self-heal"]
    assert heal.health is Health.WARN
    assert heal.text.startswith("not read: Cloud Run: permission denied")
    assert "roles/run.viewer" in heal.text
    others = [v for name, v in verdicts.items() if name != "self-heal"]
    assert all(v.rows for v in others)  # read in full
    assert verdicts["phase3-to-phase4-orchestrator"].crashing


@pytest.mark.parametrize(
    ("reason", "says", "not_said"),
    [
        (
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "--scopes=https://www.googleapis.com/auth/cloud-platform",
            "roles/",
        ),
        ("BILLING_DISABLED", "gcloud billing projects link orchwatch-world", "roles/"),
    ],
)
def test_denials_a_role_would_not_fix_are_advised_as_what_they_are(
    loopback: Loopback,
    world: tuple[Config, Sources, Sources, Seeded],
    reason: str,
    says: str,
    not_said: str,
) -> None:
    """Google's ErrorInfo reasons (google.rpc.ErrorInfo, in the status details): a token
    without the scope, a project without billing. Advising an IAM role would not help."""
    config, _, _, _ = world
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    loopback.grpc.deny = {"ListServices", "GetService"}
    loopback.grpc.deny_reason = (
        reason,
        {"service": "run.googleapis.com", "consumer": "projects/orchwatch-world"},
    )
    try:
        with pytest.raises(SourceError) as raised:
            gcp.revisions.fetch_services(config.services)  # type: ignore[union-attr]
    finally:
        loopback.grpc.deny, loopback.grpc.deny_reason = set(), None
        gcp.close()
    assert says in str(raised.value) and not_said not in str(raised.value)


def test_an_unreachable_server_is_a_source_error(config: Config) -> None:
    from loopback.emulators import free_port

    from orchwatch.config import GcpSettings
    from orchwatch.sources.gcp import build_gcp_sources

    port = free_port()  # nothing listens there
    settings = GcpSettings(endpoints={"run": f"127.0.0.1:{port}"})
    from dataclasses import replace

    sources = build_gcp_sources(replace(config, gcp=settings), "orchwatch-nobody")
    started = time.monotonic()
    with pytest.raises(
        SourceError, match=rf"Cloud Run \(127\.0\.0\.1:{port}\) (unreachable|unavailable)"
    ):
        sources.revisions.fetch_services(["phase3-to-phase4-orchestrator"])  # type: ignore[union-attr]
    assert time.monotonic() - started < 60
    sources.close()


def test_traffic_to_latest_without_a_name_is_the_latest_ready_revision(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    """A gen2 function routes 100% to "latest": Cloud Run reports a LATEST-type traffic
    status, and run_v2.TrafficTargetStatus does not promise a revision name in it."""
    from google.cloud import run_v2
    from loopback.seed import revision_proto, service_proto

    config, demo, _, _ = world
    project = "orchwatch-latest"
    name = "phase2-to-phase3-orchestrator"
    [state] = [s for s in demo.revisions.fetch_services([name])]  # type: ignore[union-attr]
    path = f"projects/{project}/locations/{config.gcp_region}/services/{name}"
    service = service_proto(state, path)
    del service.traffic_statuses[:]
    service.traffic_statuses.append(
        run_v2.TrafficTargetStatus(
            type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST,
            percent=100,
        )
    )
    loopback.grpc.put_service(service, [revision_proto(r, path) for r in state.revisions])
    sources = gcp_sources(config, project, FrozenClock(DEMO_START))
    try:
        view = gather_revisions(config, sources, [name])
    finally:
        sources.close()
    [verdict] = view.verdicts
    assert verdict.serving is not None and verdict.serving.name == state.latest_ready_revision
    assert verdict.health.value == "ok"
    assert "no revision takes traffic" not in verdict.text and "healthy" in verdict.text
    assert "as the latest Ready revision" in verdict.text  # traffic follows "latest"


def test_a_service_pinned_by_update_traffic_is_read_as_pinned(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    """`gcloud run services update-traffic --to-revisions=R=100` leaves Service.traffic with
    a REVISION-type target: the service stays pinned; `gcloud functions deploy` sets LATEST."""
    from dataclasses import replace as with_fields

    from loopback.seed import revision_proto, service_proto

    config, demo, _, _ = world
    project = "orchwatch-pinned"
    name = "phase2-to-phase3-orchestrator"
    [state] = demo.revisions.fetch_services([name])  # type: ignore[union-attr]
    pinned = with_fields(state, pinned_to=(state.latest_ready_revision,))
    path = f"projects/{project}/locations/{config.gcp_region}/services/{name}"
    loopback.grpc.put_service(
        service_proto(pinned, path), [revision_proto(r, path) for r in state.revisions]
    )
    sources = gcp_sources(config, project, FrozenClock(DEMO_START))
    try:
        [read] = sources.revisions.fetch_services([name])  # type: ignore[union-attr]
        view = gather_revisions(config, sources, [name])
    finally:
        sources.close()
    assert read.pinned_to == (state.latest_ready_revision,)
    assert "new deploys will get no traffic" in view.verdicts[0].text
    [following] = demo.revisions.fetch_services([name])  # type: ignore[union-attr]
    assert following.pinned_to == ()


def test_a_watched_name_reaches_its_cloud_run_service_as_gen2_names_it(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    """A gen2 function's service is its name lowercased; `[services] cloud_run` maps the
    rest. Revisions and logs come back under the watched name, never dropped."""
    from dataclasses import replace

    config, _, _, _ = world
    watched = replace(
        config,
        extra_services=("Self-Heal", "backfill"),
        cloud_run_names={"backfill": "auto-backfill-orchestrator"},
    )
    gcp = gcp_sources(watched, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        view = gather_revisions(watched, gcp, ["Self-Heal", "backfill", "Nope"])
        names = {v.service: v for v in view.verdicts}
        assert set(names) == {"Self-Heal", "backfill"}
        assert view.missing == ("Nope",)  # looked for as "nope", and said so
        assert names["Self-Heal"].text.startswith("serving 00017")
        assert names["backfill"].serving is not None
        assert names["backfill"].serving.name.startswith("auto-backfill-orchestrator-00016-")
        errors = gather_errors(watched, gcp, timedelta(hours=3), ["backfill"])
        assert errors.groups and all(g.services == ("backfill",) for g in errors.groups)
        assert errors.groups[0].exception_type == "RuntimeError"
    finally:
        gcp.close()


def test_function_names_with_underscores_and_the_function_id_annotation(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    """Gen2 makes `_` a `-` in the service name; a service named otherwise is found by its
    `cloudfunctions.googleapis.com/function-id` annotation, as Cloud Functions writes it."""
    from dataclasses import replace

    from loopback.seed import revision_proto, service_proto

    config, demo, _, _ = world
    project = "orchwatch-names"
    [state] = demo.revisions.fetch_services(["self-heal"])  # type: ignore[union-attr]
    for run_name, function in (("daily-health-check", None), ("svc-7f3a", "Nightly_Export")):
        path = f"projects/{project}/locations/{config.gcp_region}/services/{run_name}"
        proto = service_proto(state, path)
        if function:
            proto.annotations["cloudfunctions.googleapis.com/function-id"] = function
        loopback.grpc.put_service(proto, [revision_proto(r, path) for r in state.revisions])
        loopback.grpc.iam[path] = {"roles/run.invoker": {f"serviceAccount:{run_name}@p"}}
    watched = replace(config, extra_services=("daily_health_check", "Nightly_Export"))
    gcp = gcp_sources(watched, project, FrozenClock(DEMO_START))
    try:
        found = gcp.revisions.fetch_services(["daily_health_check", "Nightly_Export"])  # type: ignore[union-attr]
        # Its IAM policy is asked of the service found, whatever it is called.
        invokers = gcp.invokers.fetch_invokers(["daily_health_check", "Nightly_Export"])  # type: ignore[union-attr]
    finally:
        gcp.close()
    assert [s.name for s in found] == ["daily_health_check", "Nightly_Export"]
    assert all(len(s.revisions) == len(state.revisions) for s in found)
    assert invokers == {
        "daily_health_check": frozenset({"serviceAccount:daily-health-check@p"}),
        "Nightly_Export": frozenset({"serviceAccount:svc-7f3a@p"}),
    }


def test_two_names_of_one_service_are_a_config_error() -> None:
    from orchwatch.config import ConfigError, parse_config

    text = (
        '[services]\nextra = ["foo_bar", "foo-bar"]\n'
        '[[phases]]\nname = "p"\nprocessors = [{ name = "x" }]\n'
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, None)
    assert "`foo_bar` and `foo-bar` are both the Cloud Run service `foo-bar`" in str(raised.value)


def test_the_watched_scope_matches_a_functions_own_log_lines() -> None:
    """CloudLoggingHandler in a gen2 function writes `cloud_function` entries named like
    its Cloud Run service: the filter of a watched `Nightly_Export` takes both names."""
    from orchwatch.sources.gcp.logs import build_filter

    text = build_filter(["Nightly_Export"], run_names=["nightly-export"])
    assert 'resource.labels.function_name=("Nightly_Export" OR "nightly-export")' in text
    assert 'resource.labels.service_name=("nightly-export")' in text


def test_an_unpartitioned_backup_says_what_a_read_scans_and_is_spaced_to_its_budget(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    """The partitioning comes from the table's metadata. A table that cannot prune to
    the dates asked for scans all of it on every read: the pane says how much, and the
    reads are spaced to stay under `[gcp] daily_scan_budget_bytes`."""
    from dataclasses import replace

    from google.cloud import bigquery
    from loopback.seed import SCHEMAS

    config, _, gcp, seeded = world
    client = gcp.completions.bigquery.clients.bigquery()  # type: ignore[attr-defined]
    dataset = f"{client.project}.{config.bigquery_dataset}"
    flat = bigquery.Table(f"{dataset}.flat_completions", schema=SCHEMAS["phase_completions"])
    client.create_table(flat, exists_ok=True)
    rows = [dict(r) for r in client.list_rows(f"{dataset}.{config.completion_table}")]
    for row in rows:
        for key, value in row.items():
            if hasattr(value, "isoformat"):
                row[key] = value.isoformat()
    assert not client.insert_rows_json(f"{dataset}.flat_completions", rows)
    tight = replace(
        config,
        completion_table="flat_completions",
        gcp=replace(config.gcp, daily_scan_budget=10_000_000),
    )
    sources = gcp_sources(tight, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        completions = sources.completions
        completions.fetch_completions(seeded.dates)
        [line] = [n for n in completions.notes() if n.startswith("BigQuery")]  # type: ignore[attr-defined]
        # The emulator's dry run estimates 0 B (real BigQuery counts the columns read), and
        # bills nothing; BigQuery bills at least 10 MB a query and a table, which is what
        # the budget counts: a 10 MB budget allows one read a day.
        assert line == (
            "BigQuery flat_completions unpartitioned: 0 B a read (billed as 10.0 MB), "
            "read every 1440 min to stay under 10.0 MB a day"
        )
        partitioned = gcp.completions  # the seeded table is partitioned by game_date
        partitioned.fetch_completions(seeded.dates)
        assert partitioned.bigquery.partitioning(config.completion_table) == "by game_date"  # type: ignore[attr-defined]
        # Pruned to the dates, yet billed 10 MB a read: at the 5 s floor that would be
        # 173 GB a day against the 50 GB budget, so reads are spaced to every 17 s (too
        # little to be worth a note in the pane).
        assert partitioned.backup_interval() == pytest.approx(17.28)  # type: ignore[attr-defined]
        assert not [n for n in partitioned.notes() if n.startswith("BigQuery")]  # type: ignore[attr-defined]
    finally:
        sources.close()


def test_a_date_among_the_grid_s_is_answered_by_the_grid_s_last_read(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    """The Pub/Sub view and the walkthrough read one date of the grid's: while the grid's
    read is fresh they get its rows, without a query of their own (each is billed at
    least 10 MB); once it is stale, the grid's dates are read again for them."""
    from orchwatch.sources.gcp import GcpCompletions

    config, _, _, seeded = world
    sources = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    now = [0.0]
    clients = sources.completions.firestore.clients  # type: ignore[attr-defined]
    completions = GcpCompletions(config, clients, lambda: seeded.dates[-1], lambda: now[0])
    try:

        def queries() -> int:
            return sources.meter.snapshot()[("bigquery", "jobs.insert")]  # type: ignore[attr-defined,no-any-return]

        grid = completions.fetch_completions(seeded.dates)
        assert queries() == 1
        day = seeded.dates[-1]
        one = completions.fetch_completions([day])
        assert queries() == 1
        assert one[day].bigquery == grid[day].bigquery
        assert one[day].bigquery  # the date has backup rows: not a comparison of nothing
        now[0] += 60.0  # the grid's read is stale
        completions.fetch_completions([day])
        completions.fetch_completions(seeded.dates)
        assert queries() == 2
        outside = min(seeded.dates) - timedelta(days=30)
        completions.fetch_completions([outside])
        assert queries() == 3
    finally:
        completions.close()
        sources.close()


def test_the_other_queries_spend_the_same_daily_budget_as_the_summary(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    """The recorder's slow tables, the walkthrough's checks: every query the process
    runs is billed from `[gcp] daily_scan_budget_bytes`, so the completion summary's
    reads are spaced by what the others leave (and keep a tenth of it whatever they
    spend)."""
    from dataclasses import replace

    config, _, _, seeded = world
    tight = replace(config, gcp=replace(config.gcp, daily_scan_budget=20_000_000_000))
    sources = gcp_sources(tight, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        completions = sources.completions
        completions.fetch_completions(seeded.dates)
        # 10 MB a read (BigQuery's minimum), 20 GB a day: one read every 43.2 s.
        assert completions.backup_interval() == pytest.approx(43.2)  # type: ignore[attr-defined]
        day = seeded.dates[-1]
        completions.fetch_execution_log(day)
        completions.fetch_failed_queue(day)
        # Two 10 MB queries within the process's first 5 minutes: at that pace 5.76 GB a
        # day, which leaves the summary 14.24 GB.
        assert completions.backup_interval() == pytest.approx(10e6 * 86_400 / 14.24e9)  # type: ignore[attr-defined]
        for _ in range(5):
            completions.scalar_query("SELECT COUNT(*) FROM {dataset}phase_completions", day)
        # 20.16 GB a day: more than the budget; the summary keeps a tenth of it.
        assert completions.backup_interval() == pytest.approx(432.0)  # type: ignore[attr-defined]
    finally:
        sources.close()


def test_a_read_larger_than_its_budget_keeps_the_newest_and_says_what_it_left(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    """`[gcp] log_read_max_entries` bounds a headless read (and its wait on the list
    budget): it lists newest first, stops there, and the output names what it left."""
    from dataclasses import replace

    from orchwatch.render import errors_json, errors_text

    config, demo, _, _ = world
    small = replace(config, gcp=replace(config.gcp, log_read_max_entries=500))
    loopback.grpc.max_page_size = 200
    try:
        paged = gcp_sources(small, "orchwatch-world", FrozenClock(DEMO_START))
        since = DEMO_START - timedelta(hours=3)
        view = gather_errors(small, paged, timedelta(hours=3))
        calls = paged.meter.snapshot()  # type: ignore[attr-defined]
        paged.close()
    finally:
        loopback.grpc.max_page_size = 1000
    want = demo.logs.fetch_log(since, None)  # type: ignore[union-attr]
    assert len(want) > 500 and view.entries == 500
    assert calls[("logging", "ListLogEntries")] == 3  # 200 + 200 + 100
    newest = want[-500:]
    assert view.unread.startswith("read the newest 500 entries (gcp.log_read_max_entries)")
    assert newest[0].timestamp.strftime("%Y-%m-%dT%H:%M:%S") in view.unread
    assert errors_text(view, config.shown_zone).splitlines()[-1] == f"not read: {view.unread}"
    assert '"unread": "read the newest 500' in errors_json(view)


def test_a_crash_loop_logged_without_severity_is_counted(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    """Cloud Run writes a container's stderr with no severity: the tracebacks of the crash
    loop arrive as DEFAULT, one line per entry, and are still its evidence (the read's
    filter asks Cloud Logging for them by their text, `EVIDENCE_FILTER`)."""
    import re

    from orchwatch.gather import RUNTIME_WINDOW

    config, demo, gcp, _ = world
    assert demo.logs is not None and gcp.logs is not None
    now = demo.clock.now()
    seeded = demo.logs.fetch_log(now - RUNTIME_WINDOW, ["phase3-to-phase4-orchestrator"])
    last_lines = [e for e in seeded if e.text.startswith("ModuleNotFoundError")]
    assert last_lines and {e.severity for e in last_lines} == {"DEFAULT"}
    evidence = gcp.logs.fetch_log(
        now - RUNTIME_WINDOW, ["phase3-to-phase4-orchestrator"], evidence_only=True
    )
    assert {e.insert_id for e in last_lines} <= {e.insert_id for e in evidence}
    assert len(evidence) < len(seeded)  # the traceback's other lines are not paged
    view = gather_revisions(config, gcp, ["phase3-to-phase4-orchestrator"])
    counted = re.search(r"(\d+) ModuleNotFoundError in the last 1 h", view.verdicts[0].text)
    assert view.verdicts[0].crashing and counted and int(counted[1]) == len(last_lines)
