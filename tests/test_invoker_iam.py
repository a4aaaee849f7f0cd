"""The runbook's invoker IAM check (P0): every orchestrator a push subscription delivers to
grants `roles/run.invoker` to the identity the push authenticates as.

Read on the local servers as Google's APIs answer: the subscription's OIDC identity from
the Pub/Sub emulator, the service's IAM policy from `GetIamPolicy` with the official
`google.iam.v1` messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from conftest import Loopback
from gcp_helpers import Seeded, gcp_sources, walkthrough_check

from orchwatch.analysis.daily import Fetched, evaluate
from orchwatch.analysis.pubsub import Hop, HopLevel
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import gather_daily
from orchwatch.pubsub import Subscription
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.demo.pubsub import PUSH_IDENTITY

DAY = date(2026, 2, 1)
SA = "serviceAccount:pusher@p.iam.gserviceaccount.com"


def hop(service: str, identity: str = "pusher@p.iam.gserviceaccount.com") -> Hop:
    subscription = Subscription(
        f"eventarc-{service}", "t", f"https://{service}-x.a.run.app", push_identity=identity
    )
    return Hop("phase3", "t", service, HopLevel.OK, "", subscription=subscription, acked=1)


def judged(
    config: Config,
    demo: Sources,
    hops: list[Hop],
    invokers: Fetched[dict[str, frozenset[str]]] | None,
) -> tuple[str, str, str]:
    inputs = replace(
        gather_daily(config, demo, DAY, validation=lambda: (0, 0, [])),
        hops=Fetched(hops),
        invokers=invokers,
        region="us-west2",
    )
    [result] = [r for r in evaluate(inputs, config.timezone) if r.id == "invoker_iam"]
    return result.status.value, result.evidence, result.next_step


def test_a_push_identity_without_the_invoker_role_is_p0_with_its_fix(
    config: Config, demo: Sources
) -> None:
    granted = {"orch-a": frozenset({SA}), "orch-b": frozenset({"serviceAccount:other@p"})}
    status, evidence, fix = judged(config, demo, [hop("orch-a"), hop("orch-b")], Fetched(granted))
    assert status == "fail"
    assert evidence == (f"P0: orch-b does not grant roles/run.invoker to {SA} (eventarc-orch-b)")
    assert fix == (
        f"gcloud run services add-iam-policy-binding orch-b --region=us-west2 --member={SA} "
        "--role=roles/run.invoker"
    )
    assert judged(config, demo, [hop("orch-a")], Fetched(granted))[0] == "pass"


def test_a_push_without_a_token_needs_all_users(config: Config, demo: Sources) -> None:
    granted = {"orch-a": frozenset({SA})}
    status, evidence, _ = judged(config, demo, [hop("orch-a", identity="")], Fetched(granted))
    assert status == "fail" and "to allUsers" in evidence
    public = {"orch-a": frozenset({"allUsers"})}
    assert judged(config, demo, [hop("orch-a", identity="")], Fetched(public))[0] == "pass"


def test_what_cannot_be_read_is_never_a_pass(config: Config, demo: Sources) -> None:
    denied = Fetched(None, "Cloud Run: permission denied")
    assert judged(config, demo, [hop("orch-a")], denied)[0] == "unknown"
    missing = judged(config, demo, [hop("orch-a")], Fetched({}))
    assert missing[0] == "unknown" and "no such service in Cloud Run: orch-a" in missing[1]
    assert judged(config, demo, [hop("orch-a")], None)[:2] == (
        "skipped",
        "this source holds no IAM policies (a snapshot)",
    )


def test_the_demo_and_the_local_servers_agree(
    world: tuple[Config, Sources, Sources, Seeded],
) -> None:
    """The emulator returns the subscriptions' OIDC identity, GetIamPolicy the bindings:
    the walkthrough's check reads as on the demo."""
    config, demo, gcp, _ = world
    reading = gcp.pubsub.read_pubsub(["nba-phase3-analytics-complete"], DEMO_START, DEMO_START)  # type: ignore[union-attr]
    pushes = [s for t in reading.topics.values() for s in t.subscriptions if s.push_endpoint]
    assert pushes and {s.push_identity for s in pushes} == {PUSH_IDENTITY}
    want = [r for r in evaluate(gather_daily(config, demo, DAY), config.timezone)]
    got = [r for r in evaluate(gather_daily(config, gcp, DAY), config.timezone)]
    [want_iam] = [r for r in want if r.id == "invoker_iam"]
    [got_iam] = [r for r in got if r.id == "invoker_iam"]
    assert got_iam.status.value == want_iam.status.value == "pass"
    assert got_iam.evidence == want_iam.evidence


def test_a_binding_removed_on_the_server_fails_and_a_denied_policy_is_unknown(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    config, _, _, _ = world
    path = (
        f"projects/orchwatch-world/locations/{config.gcp_region}/services/"
        "phase3-to-phase4-orchestrator"
    )
    kept = loopback.grpc.iam[path]
    loopback.grpc.iam[path] = {"roles/run.invoker": {"serviceAccount:someone-else@p"}}
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        result = walkthrough_check(config, gcp, DAY, "invoker_iam")
        loopback.grpc.deny_on = {("GetIamPolicy", path)}
        denied = walkthrough_check(config, gcp, DAY, "invoker_iam")
    finally:
        loopback.grpc.iam[path] = kept
        loopback.grpc.deny_on = set()
        gcp.close()
    assert result.status.value == "fail"
    assert result.evidence.startswith(
        "P0: phase3-to-phase4-orchestrator does not grant roles/run.invoker to "
        f"serviceAccount:{PUSH_IDENTITY}"
    )
    assert f"--region={config.gcp_region}" in result.next_step
    assert denied.status.value == "unknown" and "permission denied" in denied.evidence
