"""Why a cell, a phase, a service or an error group is not healthy: the chain of evidence
across the layers orchwatch reads, from the symptom to its cause.

Each link says what one source shows, when, and what to do next. The chain follows the
pipeline's own causality: a processor's completion reaches Firestore through its phase's
orchestrator; an orchestrator that cannot start cannot record it; a function that cannot
start is missing something from its package; its package is what the commits since the
deploy made it. A source that could not be read is a link that says so, and the chain goes
on with what is known. A link that joins two facts by their times, rather than reads a
fact, says it is an inference.

Pure: `orchwatch.gather.gather_explain` reads what the chain needs; the dashboard passes
what it has loaded already.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from orchwatch.analysis.completion import blocked_phases, trigger_verdict
from orchwatch.analysis.fetched import Fetched
from orchwatch.analysis.pubsub import Hop, HopLevel
from orchwatch.analysis.revisions import Health, ServiceVerdict, short_name, short_names
from orchwatch.analysis.runtime import RollbackChoice
from orchwatch.model import CellState, CompletionCell, DateStatus, ErrorGroup, PhaseStatus
from orchwatch.names import UnknownName, no_such
from orchwatch.plural import counted
from orchwatch.sources.git import Commit
from orchwatch.validate.model import Finding, Severity

SCHEMA_VERSION = 1
_MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")


@dataclass(frozen=True)
class Link:
    """One step of the chain: what one source shows."""

    kind: str
    """completion, phase, trigger, blocked, pubsub, service, errors, package or commits."""
    at: datetime | None
    source: str
    summary: str
    evidence: tuple[str, ...] = ()
    next_step: str = ""
    broken: bool = True
    """This link is a failure (not a healthy fact, nor a source that could not be read)."""
    unavailable: bool = False
    """Its source could not be read: the link says why, and is no evidence either way."""
    inference: bool = False
    """It joins facts by their times rather than reading one."""


@dataclass(frozen=True)
class Explanation:
    """The chain for one subject, symptom first."""

    subject: str
    links: tuple[Link, ...]

    @property
    def root_cause(self) -> int | None:
        """The index of the deepest broken link: the cause the others follow from."""
        broken = [i for i, link in enumerate(self.links) if link.broken]
        return broken[-1] if broken else None


@dataclass(frozen=True)
class Package:
    """What the validator says about one function's package."""

    function: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Deployed:
    """A service's serving commit and the commits to its function since (newest first)."""

    commit: str
    commits: tuple[Commit, ...]


@dataclass(frozen=True)
class ExplainInputs:
    """What the chain reads; each part may have failed alone."""

    game_date: date
    now: datetime
    status: Fetched[DateStatus]
    verdicts: Fetched[list[ServiceVerdict]]
    groups: Fetched[list[ErrorGroup]]
    orchestrators: dict[str, str]
    """Phase -> the service that records its completions and triggers the next."""
    packages: dict[str, Fetched[Package]] = field(default_factory=dict)
    """Service -> its function's package as the validator sees it."""
    deployed: dict[str, Fetched[Deployed]] = field(default_factory=dict)
    """Service -> its serving commit and the commits since."""
    rollbacks: dict[str, RollbackChoice] = field(default_factory=dict)
    """Service -> where `b` would move its traffic, or why nowhere."""
    hops: Fetched[list[Hop]] | None = None
    """Each phase's Pub/Sub hop on the date; None where the source has no Pub/Sub."""


class UnknownSubject(UnknownName):
    """No such phase, processor, service or group: the message names what exists."""


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%m-%d %H:%M") if moment else "?"


class _Chain:
    """Builds the links of one explanation."""

    def __init__(self, inputs: ExplainInputs, zone: ZoneInfo) -> None:
        self.inputs = inputs
        self.zone = zone
        self.links: list[Link] = []

    def when(self, moment: datetime | None) -> str:
        return _when(moment, self.zone)

    def add(self, link: Link) -> None:
        self.links.append(link)

    # --- completions --------------------------------------------------------------------------

    def cell(self, phase: PhaseStatus, cell: CompletionCell) -> None:
        backup, record = cell.backup, cell.firestore
        name = cell.processor
        state = cell.state
        if state is CellState.UNTRACKED and backup is not None:
            self.add(
                Link(
                    "completion",
                    backup.first_completed_at,
                    "BigQuery phase_completions, Firestore",
                    f"BigQuery has {name}'s completion since "
                    f"{self.when(backup.first_completed_at)} but Firestore does not",
                    (
                        f"BigQuery: {counted(backup.runs, 'run')}, first "
                        f"{self.when(backup.first_completed_at)}, last "
                        f"{self.when(backup.last_completed_at)} ({backup.last_status})",
                        f"Firestore {phase.phase}/{phase.game_date}: no record of {name}",
                    ),
                    "once the orchestrator records again, replay the completion: "
                    f"`orchwatch replay --date {phase.game_date} --phase {phase.phase}` "
                    "(R in the grid); Firestore will not count a completion it missed",
                )
            )
            self.hop(phase.phase, (name,))
            self.orchestrator(phase.phase, backup.first_completed_at)
            return
        if state is CellState.FAILED:
            self.add(
                Link(
                    "completion",
                    record.completed_at if record else None,
                    "Firestore",
                    f"{name} recorded a failure: {cell.reason}",
                    (f"status {record.status}",) if record else (),
                    "read the processor's own logs for the date, then re-run it",
                )
            )
            return
        if state is CellState.UNBACKED:
            self.add(
                Link(
                    "completion",
                    record.completed_at if record else None,
                    "Firestore, BigQuery phase_completions",
                    f"Firestore has {name}'s completion but its BigQuery backup does not",
                    (cell.reason,),
                    "the processor's backup write failed: its logs say why; the run itself counted",
                )
            )
            return
        if state is CellState.MISSING:
            status = self.inputs.status.value
            blocker = (
                blocked_phases(status, self.inputs.now, self.zone).get(phase.phase)
                if status is not None
                else None
            )
            self.add(
                Link(
                    "completion",
                    cell.due_at,
                    "Firestore, BigQuery phase_completions",
                    f"neither store has {name}'s completion, due at {self.when(cell.due_at)}",
                    (cell.reason,),
                    "see why the phase did not run"
                    if blocker
                    else "read the processor's logs and the failed-processor queue",
                )
            )
            if blocker is not None:
                self.blocked(phase, blocker)
            return
        self.add(
            Link(
                "completion",
                (backup.last_completed_at if backup else None)
                or (record.completed_at if record else None),
                "Firestore, BigQuery phase_completions",
                f"{name} is {state.value}",
                (cell.reason,) if cell.reason else (),
                broken=False,
            )
        )

    def blocked(self, phase: PhaseStatus, blocker: PhaseStatus) -> None:
        self.add(
            Link(
                "blocked",
                None,
                "Firestore",
                f"{phase.phase} never ran: {blocker.phase} never triggered {blocker.next_phase}",
                (),
                f"explain {blocker.phase}: its failure is this one's cause",
            )
        )
        self.phase(blocker)

    def phase(self, phase: PhaseStatus) -> None:
        """A phase's header: its counts, then its trigger, then why."""
        untracked = [c for c in phase.cells if c.state is CellState.UNTRACKED]
        missing = [c for c in phase.cells if c.required and c.state is CellState.MISSING]
        failed = [c for c in phase.cells if c.state is CellState.FAILED]
        alarm, verdict = trigger_verdict(phase, self.inputs.now, self.zone)
        counts = f"Firestore {phase.firestore_count}/{phase.expected}, BigQuery "
        counts += f"{phase.bigquery_count}/{phase.expected}"
        if untracked:
            names = ", ".join(c.processor for c in untracked)
            seen = [c.backup.first_completed_at for c in untracked if c.backup]
            first = min((t for t in seen if t is not None), default=None)
            self.add(
                Link(
                    "phase",
                    first,
                    "Firestore, BigQuery phase_completions",
                    f"{phase.phase}: {counts}: {len(untracked)} completions BigQuery has and "
                    f"Firestore does not ({names})",
                    tuple(
                        f"{c.processor}: in BigQuery since {self.when(c.backup.first_completed_at)}"
                        for c in untracked
                        if c.backup
                    ),
                    "once the orchestrator is fixed, replay them: `orchwatch replay --date "
                    f"{phase.game_date} --phase {phase.phase}` (R in the grid)",
                )
            )
            if alarm:
                self.add(
                    Link(
                        "trigger",
                        None,
                        "Firestore",
                        f"{phase.phase} {verdict}: the orchestrator counts what Firestore has",
                        (),
                        f"once the completions are recorded, {phase.next_phase} is triggered",
                    )
                )
            self.hop(phase.phase, tuple(c.processor for c in untracked))
            self.orchestrator(phase.phase, first)
            return
        if missing or failed:
            names = ", ".join(c.processor for c in [*failed, *missing])
            self.add(
                Link(
                    "phase",
                    None,
                    "Firestore, BigQuery phase_completions",
                    f"{phase.phase}: {counts}: {names} did not complete",
                    tuple(f"{c.processor}: {c.state.value}, {c.reason}" for c in missing),
                    "explain each processor's cell",
                )
            )
            return
        self.add(
            Link(
                "phase",
                phase.document.last_update if phase.document else None,
                "Firestore, BigQuery phase_completions",
                f"{phase.phase}: {counts}; {verdict}",
                broken=alarm,
            )
        )

    # --- Pub/Sub: where the completions went ----------------------------------------------

    def hop(self, phase: str, lost: tuple[str, ...]) -> None:
        """The completion topic's delivery to the orchestrator: were the lost completions
        refused and dropped, are they waiting, or was nothing refused?"""
        hops = self.inputs.hops
        if hops is None:
            return  # the source has no Pub/Sub: the chain goes from Firestore to the service
        hop = next((h for h in hops.value or () if h.phase == phase), None)
        if hop is None:
            why = hops.error or f"{phase} has no completion_topic in the configuration"
            self.add(
                Link(
                    "pubsub",
                    None,
                    "Pub/Sub, Cloud Monitoring",
                    f"where {', '.join(lost)}'s completion went could not be read: {why}",
                    broken=False,
                    unavailable=True,
                )
            )
            return
        target = hop.orchestrator or "the orchestrator"
        if hop.refused and hop.dropped:
            what = "completions" if len(lost) > 1 else "completion"
            them = "them" if len(lost) > 1 else "it"
            summary = (
                f"{hop.topic} pushed the {what} of {', '.join(lost)} to {target}, which "
                f"refused {them}; {hop.verdict}"
            )
        elif hop.backlog:
            summary = f"{hop.topic}: the completions are waiting to be delivered; {hop.verdict}"
        else:
            summary = f"{hop.topic} → {target}: {hop.verdict}"
        broken = hop.level in (HopLevel.FAIL, HopLevel.WARN)
        self.add(
            Link(
                "pubsub",
                hop.refused_span[0] if hop.refused_span else None,
                "Pub/Sub, Cloud Monitoring",
                summary,
                hop.details,
                f"after the fix: `orchwatch replay --date {self.inputs.game_date} --phase "
                f"{phase}` republishes them"
                if hop.dropped
                else "",
                broken=broken,
                unavailable=hop.level is HopLevel.UNKNOWN,
            )
        )

    # --- the orchestrator and below -------------------------------------------------------

    def orchestrator(self, phase: str, at: datetime | None) -> None:
        service = self.inputs.orchestrators.get(phase)
        if service is None:
            self.add(
                Link(
                    "service",
                    None,
                    "orchwatch.toml",
                    f"no orchestrator is configured for {phase}: the chain ends here",
                    broken=False,
                    unavailable=True,
                )
            )
            return
        self.service(service, at, records=phase)

    def service(
        self, service: str, at: datetime | None, records: str | None = None, groups: bool = True
    ) -> None:
        """The service's verdict, then (with `groups`) its errors, package and commits."""
        verdicts = self.inputs.verdicts
        verdict = next((v for v in verdicts.value or () if v.service == service), None)
        role = f"{service} records {records}'s completions" if records else service
        if verdict is None:
            why = verdicts.error or "not found in Cloud Run"
            self.add(
                Link(
                    "service",
                    at,
                    "Cloud Run",
                    f"{role}; its revisions could not be read: {why}",
                    broken=False,
                    unavailable=True,
                )
            )
        else:
            evidence = [f"latest revision: {verdict.reason}"] if verdict.reason else []
            bad = verdict.health is Health.BAD
            self.add(
                Link(
                    "service",
                    at,
                    "Cloud Run",
                    f"{role}: {verdict.text}",
                    tuple(evidence),
                    self.remedy(service) if bad else "",
                    broken=bad,
                )
            )
        if groups:
            self.errors(service, at)

    def remedy(self, service: str) -> str:
        """A failing service's next step: roll back when the logs show the revision
        before served cleanly, then fix and redeploy."""
        choice = self.inputs.rollbacks.get(service)
        if choice is not None and choice.target is not None:
            return (
                f"roll back to {short_name(choice.target)} with b ({choice.why}); then fix "
                "its package and redeploy with d"
            )
        why = f" (no rollback: {choice.why})" if choice is not None else ""
        return f"fix its package, then redeploy with d{why}"

    def errors(self, service: str, at: datetime | None) -> None:
        groups = self.inputs.groups
        if groups.value is None:
            self.add(
                Link(
                    "errors",
                    at,
                    "Cloud Logging",
                    f"{service}'s logs could not be read: {groups.error}",
                    broken=False,
                    unavailable=True,
                )
            )
            self.package(service, None)
            return
        mine = sorted((g for g in groups.value if service in g.services), key=lambda g: -g.count)
        if not mine:
            self.add(
                Link(
                    "errors",
                    None,
                    "Cloud Logging",
                    f"{service} logged no tracebacks in the window read",
                    broken=False,
                )
            )
            self.package(service, None)
            return
        group = mine[0]
        self.group(group, at)
        self.package(service, group)

    def group(self, group: ErrorGroup, at: datetime | None) -> None:
        during = at is not None and group.first_seen <= at <= group.last_seen
        then = ""
        if at is not None:
            then = (
                f"; it was failing at {self.when(at)}"
                if during
                else f"; it began at {self.when(group.first_seen)}, not around {self.when(at)}"
            )
        revisions = short_names(group.revisions)
        self.add(
            Link(
                "errors",
                group.first_seen,
                "Cloud Logging",
                f"{', '.join(group.services)} logged {group.exception_type}: {group.message} "
                f"{counted(group.count, 'time')}{then}",
                (
                    f"first {self.when(group.first_seen)}, last {self.when(group.last_seen)}",
                    f"revisions {revisions}" if revisions else "revisions unknown",
                    f"group {group.fingerprint}",
                ),
                "open the group: 3, then Enter on it",
                inference=at is not None,
            )
        )

    def package(self, service: str, group: ErrorGroup | None) -> None:
        read = self.inputs.packages.get(service)
        if read is None or read.value is None:
            why = read.error if read is not None else "no repo configured ([repo] path)"
            self.add(
                Link(
                    "package",
                    None,
                    "orchwatch validate",
                    f"{service}'s package was not checked: {why}",
                    broken=False,
                    unavailable=True,
                )
            )
            self.commits(service)
            return
        package = read.value
        errors = [f for f in package.findings if f.severity is Severity.ERROR]
        wanted = _MISSING_MODULE.search(group.message) if group else None
        if wanted:  # the finding that names the module the logs miss, first
            errors.sort(key=lambda f: f.module != wanted[1])
        if not errors:
            self.add(
                Link(
                    "package",
                    None,
                    "orchwatch validate",
                    f"the validator finds no error in {package.function}'s package",
                    broken=False,
                )
            )
        else:
            finding = errors[0]
            where = f"{finding.path}:{finding.line}" if finding.line else finding.path
            what = (
                f"the module {finding.module} is missing from {package.function}'s package"
                if finding.module
                else f"{package.function}'s package: {finding.message}"
            )
            self.add(
                Link(
                    "package",
                    None,
                    "orchwatch validate",
                    what,
                    (
                        f"{finding.rule.value} at {where}: {finding.message}",
                        *(f"{f.rule.value} at {f.path}" for f in errors[1:4]),
                    ),
                    f"fix: {finding.hint}; then validate (v) and redeploy (d)"
                    if finding.hint
                    else "fix it; then validate (v) and redeploy (d)",
                )
            )
        self.commits(service)

    def commits(self, service: str) -> None:
        read = self.inputs.deployed.get(service)
        if read is None or read.value is None:
            why = read.error if read is not None else "no repo configured ([repo] path)"
            self.add(
                Link(
                    "commits",
                    None,
                    "git",
                    f"what changed since the deploy is unknown: {why}",
                    broken=False,
                    unavailable=True,
                )
            )
            return
        deployed = read.value
        commits = deployed.commits
        self.add(
            Link(
                "commits",
                commits[0].when if commits else None,
                "git",
                f"{len(commits)} commit{'s' if len(commits) > 1 else ''} to the function's "
                f"files since the deployed "
                f"commit {deployed.commit[:8]}"
                if commits
                else f"no commit to the function's files since the deployed commit "
                f"{deployed.commit[:8]}",
                tuple(
                    f"{c.sha[:8]} {self.when(c.when)} {c.author}: {c.subject}" for c in commits[:5]
                ),
                f"a redeploy (d) ships {'them' if len(commits) > 1 else 'it'}" if commits else "",
                broken=False,
            )
        )


def _phase(status: DateStatus, phase: str) -> PhaseStatus:
    try:
        return status.phase(phase)
    except KeyError:
        raise UnknownSubject(no_such("phase", phase, (p.phase for p in status.phases))) from None


def _cell(status: DateStatus, phase: str, processor: str) -> tuple[PhaseStatus, CompletionCell]:
    found = _phase(status, phase)
    cell = next((c for c in found.cells if c.processor == processor), None)
    if cell is None:
        names = (c.processor for c in found.cells)
        raise UnknownSubject(no_such("processor", processor, names, f"in {phase}"))
    return found, cell


def _known_service(inputs: ExplainInputs, service: str) -> None:
    """A service to explain exists: watched, read from Cloud Run, or in the logs read.

    Raises:
        UnknownSubject: it is none of these (where Cloud Run could be read: when it could
            not, the chain says so at its link).
    """
    verdicts = inputs.verdicts.value
    known = set(inputs.orchestrators.values()) | {
        name for group in inputs.groups.value or [] for name in group.services
    }
    known |= {v.service for v in verdicts or []}
    if service not in known and verdicts is not None:
        raise UnknownSubject(no_such("service", service, known))


def _status(inputs: ExplainInputs) -> DateStatus:
    if inputs.status.value is None:
        raise UnknownSubject(f"the completions could not be read: {inputs.status.error}")
    return inputs.status.value


def explain(
    inputs: ExplainInputs,
    zone: ZoneInfo,
    *,
    phase: str | None = None,
    processor: str | None = None,
    service: str | None = None,
    group: str | None = None,
) -> Explanation:
    """The chain for one subject: a processor's cell (`phase` and `processor`), a phase's
    header (`phase`), a service, or an error group (its fingerprint, or a prefix of it).

    Raises:
        UnknownSubject: the subject does not exist in what was read.
    """
    chain = _Chain(inputs, zone)
    day = inputs.game_date
    subject: str
    if processor is not None and phase is not None:
        found, cell = _cell(_status(inputs), phase, processor)
        subject = f"{day} {phase} {processor}: {cell.state.value}"
        chain.cell(found, cell)
    elif phase is not None:
        status = _status(inputs)
        found = _phase(status, phase)
        subject = f"{day} {phase}"
        blocker = blocked_phases(status, inputs.now, zone).get(phase)
        if blocker is not None:
            chain.blocked(found, blocker)
        else:
            chain.phase(found)
    elif service is not None:
        _known_service(inputs, service)
        subject = service
        chain.service(service, None)
    elif group is not None:
        groups = inputs.groups.value or []
        match = [g for g in groups if g.fingerprint.startswith(group)]
        if len(match) != 1:
            known = ", ".join(g.fingerprint[:12] for g in groups[:10])
            raise UnknownSubject(
                f"{'no' if not match else 'more than one'} error group {group!r}"
                + (f"; known: {known}" if known else "")
            )
        found_group = match[0]
        subject = f"{found_group.exception_type}: {found_group.message}"
        chain.group(found_group, None)
        for name in found_group.services:
            chain.service(name, None, groups=False)
        if found_group.services:  # a group read without service labels ends at its logs
            chain.package(found_group.services[0], found_group)
    else:
        raise UnknownSubject("say what to explain: --phase (and --processor), --service or --group")
    return Explanation(subject, tuple(chain.links))


LINK_MARK = {"broken": "✗", "unavailable": "?", "holds": "✓"}
"""A link's mark by its state, as the text and the screen show it."""


def link_state(link: Link) -> str:
    """`broken`, `unavailable` (its source could not be read) or `holds`."""
    return "broken" if link.broken else ("unavailable" if link.unavailable else "holds")


def link_when(link: Link, zone: ZoneInfo) -> str:
    """A link's time in `zone` (`02-01 05:23`), or "" when it has none."""
    return _when(link.at, zone) if link.at else ""


def explanation_json(explanation: Explanation) -> dict[str, object]:
    """The stable JSON shape (`version` 1): see the README."""
    root = explanation.root_cause
    return {
        "version": SCHEMA_VERSION,
        "subject": explanation.subject,
        "links": [
            {
                "kind": link.kind,
                "at": link.at.isoformat() if link.at else None,
                "source": link.source,
                "summary": link.summary,
                "evidence": list(link.evidence),
                "next_step": link.next_step,
                "broken": link.broken,
                "unavailable": link.unavailable,
                "inference": link.inference,
            }
            for link in explanation.links
        ],
        "root_cause": (
            {"link": root, "summary": explanation.links[root].summary} if root is not None else None
        ),
    }


def explanation_lines(
    explanation: Explanation, zone: ZoneInfo, markdown: bool = False
) -> list[str]:
    """The chain as text (or markdown), one numbered link per block, the root cause last."""
    lines = [f"## Why: {explanation.subject}" if markdown else f"Why: {explanation.subject}"]
    root = explanation.root_cause
    for i, link in enumerate(explanation.links):
        mark = LINK_MARK[link_state(link)]
        when = f"{link_when(link, zone)} · " if link.at else ""
        note = " (inference: joined by time)" if link.inference else ""
        head = f"{i + 1}. {mark} {when}{link.source}{note}"
        lines.append(head)
        indent = "   "
        lines.append(f"{indent}{link.summary}")
        for item in link.evidence:
            lines.append(f"{indent}- {item}" if markdown else f"{indent}  {item}")
        if link.next_step:
            lines.append(f"{indent}next: {link.next_step}")
    if root is not None:
        lines.append(f"Root cause (link {root + 1}): {explanation.links[root].summary}")
    else:
        lines.append("Nothing broken in what was read.")
    lines.append(f"times in {zone.key}")
    return lines


__all__: Sequence[str] = (
    "LINK_MARK",
    "SCHEMA_VERSION",
    "Deployed",
    "ExplainInputs",
    "Explanation",
    "Link",
    "Package",
    "UnknownSubject",
    "explain",
    "explanation_json",
    "explanation_lines",
    "link_state",
    "link_when",
)
