"""Command line: parse arguments, build Config and sources, run the TUI or a headless verb.

Exit codes: 0 all good, 1 a command found a problem (validate, daily...),
2 usage or configuration errors. Users never see a traceback: unexpected
errors print one line (set ORCHWATCH_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import NoReturn, TypeVar

from orchwatch import __version__
from orchwatch.clock import FrozenClock
from orchwatch.config import (
    Config,
    ConfigError,
    NoSuchEnvironment,
    find_config_file,
    load_config,
    select_environment,
)
from orchwatch.dates import parse_duration, parse_instant, parse_seconds
from orchwatch.names import UnknownName, no_such
from orchwatch.plural import counted
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.factory import SourceOptions, build_sources, read_as_of

EXIT_OK, EXIT_FOUND, EXIT_USAGE = 0, 1, 2
EXIT_IO = 74
"""EX_IOERR: the output could not be written (a full disk)."""
T = TypeVar("T")


class UsageError(Exception):
    """Bad arguments; the message says what is expected."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad argument answered as every other usage error is: one line that
    starts with `orchwatch:`, made inert (an argument may hold anything), and exit 2."""

    def error(self, message: str) -> NoReturn:
        from orchwatch.sanitize import inert_line

        self.exit(
            EXIT_USAGE,
            f"orchwatch: {inert_line(message, 500)} (see: {self.prog} --help)\n",
        )


def _typed(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse `type=` from a parser of orchwatch.dates: its ValueError's message is
    the one the user sees."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _source_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command shares. Subcommands repeat them with SUPPRESS defaults so
    `orchwatch --demo daily` and `orchwatch daily --demo` mean the same."""
    default: object = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("data source")
    group.add_argument("--config", metavar="FILE", default=default, help="orchwatch.toml to use")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="the embedded live demo (no cloud credentials needed)",
    )
    exclusive.add_argument(
        "--source",
        metavar="PATH",
        default=default,
        help="a store file (snapshot) or a recording (orchwatch record) to open",
    )
    exclusive.add_argument(
        "--project", metavar="PROJECT", default=default, help="a Google Cloud project"
    )
    exclusive.add_argument(
        "--env",
        metavar="NAME",
        default=default,
        help="a Google Cloud environment of the config ([environments.NAME])",
    )
    group.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_typed(parse_seconds),
        default=default,
        help="headless verbs: give up after this long, exit 2 and say which source did not "
        "answer (default 60; snapshot 600; 0 for none)",
    )
    if suppress:  # the root parser has its own, with the dashboard's options
        parser.add_argument(
            "--as-of",
            metavar="TIME",
            type=_typed(parse_instant),
            default=argparse.SUPPRESS,
            help="judge dates, due times and ages as of this UTC time (2026-02-01T11:30)",
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `orchwatch` and its verbs."""
    parser = _Parser(
        prog="orchwatch",
        description="A terminal dashboard for the on-call engineers of an event-driven pipeline.",
    )
    parser.add_argument("--version", action="version", version=f"orchwatch {__version__}")
    _source_options(parser, suppress=False)
    parser.add_argument(
        "--date", metavar="DATE", help="open on this date (YYYY-MM-DD, yesterday, -3)"
    )
    parser.add_argument(
        "--allow-actions",
        action="store_true",
        help="enable the one-key actions (validate; see [actions] in orchwatch.toml)",
    )
    parser.add_argument("--viewer-log", metavar="FILE", help=argparse.SUPPRESS)  # serve's
    parser.add_argument(
        "--as-of",
        metavar="TIME",
        type=_typed(parse_instant),
        help="judge dates, due times and ages as of this UTC time (2026-02-01T11:30)",
    )
    parser.add_argument("--exit-after-first-data", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(command=None)
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND")

    validate = verbs.add_parser(
        "validate",
        help="find broken deployment packages before they deploy",
        description="Model each function's deployment package (its folder, and what each "
        "deploy script builds) and check that everything main.py imports is in it.",
    )
    validate.add_argument(
        "repo", nargs="?", help="the pipeline repo (default: config repo.path, or .)"
    )
    validate.add_argument("--function", metavar="NAME", help="only this function folder")
    validate.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    validate.add_argument("--no-cache", action="store_true", help="parse every file afresh")
    validate.add_argument(
        "--quiet-info", action="store_true", help="text format: leave out info findings"
    )
    validate.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="orchwatch.toml"
    )
    validate.set_defaults(command=run_validate)

    revisions = verbs.add_parser(
        "revisions",
        help="Cloud Run verdicts: serving, failed, stuck, rolled back",
        description="Print each watched service's verdict; exit 1 when a service serves an "
        "older revision than its latest created one, or its latest revision failed.",
    )
    _source_options(revisions, suppress=True)
    revisions.add_argument(
        "--service", action="append", metavar="S", help="only this service (repeatable)"
    )
    revisions.add_argument("--format", choices=("text", "json"), default="text")
    revisions.set_defaults(command=run_revisions)

    errors = verbs.add_parser(
        "errors",
        help="traceback groups from the logs (or a gcloud logging read file)",
        description="Reassemble split tracebacks and group them by fingerprint.",
    )
    _source_options(errors, suppress=True)
    errors.add_argument(
        "--since",
        type=_typed(parse_duration),
        default="1h",
        help="how far back: 90s, 30m, 1h, 2d (default 1h)",
    )
    errors.add_argument(
        "--service", action="append", metavar="S", help="only this service (repeatable)"
    )
    errors.add_argument(
        "--from-file",
        metavar="FILE",
        help="what `gcloud logging read --format=json` printed (or JSON lines); - for stdin",
    )
    errors.add_argument("--format", choices=("text", "json"), default="text")
    errors.add_argument(
        "--samples", action="store_true", help="text format: print each group's sample"
    )
    errors.set_defaults(command=run_errors)

    daily = verbs.add_parser(
        "daily",
        help="the morning walkthrough for a date (default: yesterday)",
        description="Run the morning checklist; exit 1 when a check fails.",
    )
    _dated_options(daily, "yesterday")
    daily.set_defaults(command=run_daily)

    explain = verbs.add_parser(
        "explain",
        help="why a cell, phase, service or error group is not healthy: the chain of evidence",
        description=(
            "Follow a failure across Firestore, BigQuery, Cloud Run, the logs, the package "
            "validator and git to its cause; exit 1 when something in the chain is broken."
        ),
    )
    _dated_options(explain, "today")
    explain.add_argument("--phase", metavar="PHASE", help="a phase (its header and trigger)")
    explain.add_argument("--processor", metavar="NAME", help="with --phase: one processor's cell")
    explain.add_argument("--service", metavar="SERVICE", help="a Cloud Run service")
    explain.add_argument("--group", metavar="FINGERPRINT", help="an error group (or a prefix)")
    explain.set_defaults(command=run_explain)

    timeline = verbs.add_parser(
        "timeline",
        help="the incident timeline of a date: every layer on one time axis",
        description=(
            "Revisions, error groups, completions as BigQuery and Firestore saw them, phase "
            "triggers and audited actions, in time order; the markdown is a postmortem's "
            "timeline section."
        ),
    )
    _dated_options(timeline, "today")
    timeline.add_argument(
        "--audit-file", metavar="PATH", help="the audit log (default: the user data dir)"
    )
    timeline.set_defaults(command=run_timeline)

    pubsub = verbs.add_parser(
        "pubsub",
        help="each phase's Pub/Sub hop: published, delivered, refused, waiting, dropped",
        description=(
            "Each phase's completion topic and the subscriptions that deliver it to the "
            "orchestrator, with their configuration and the date's counts from Cloud "
            "Monitoring; exit 1 when a hop failed or could not be judged."
        ),
    )
    _dated_options(pubsub, "today")
    pubsub.set_defaults(command=run_pubsub)

    replay = verbs.add_parser(
        "replay",
        help="republish the completions Firestore lacks (BigQuery has them) to their topic",
        description=(
            "Rebuild the untracked completions of a phase and date from their BigQuery rows "
            "as the processors publish them, show every message, publish them (or seek the "
            "subscription back) and watch Firestore reach N/N and the next phase trigger. "
            "Exit 0 done, 1 nothing to replay, refused or not recorded, 2 usage or source "
            "errors."
        ),
    )
    _dated_options(replay, "today")
    replay.add_argument("--phase", metavar="PHASE", required=True, help="the phase to replay")
    replay.add_argument("--dry-run", action="store_true", help="show the messages; publish nothing")
    replay.add_argument(
        "--allow-actions",
        action="store_true",
        help="allow the publish even if [actions] enabled is false",
    )
    replay.add_argument(
        "--watch",
        metavar="SECONDS",
        type=_typed(parse_seconds),
        default=None,
        help="how long to watch Firestore after publishing (default 120)",
    )
    replay.set_defaults(command=run_replay)

    audit = verbs.add_parser("audit", help="the actions audit log (who ran what, and how it ended)")
    audit.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    audit.add_argument("--file", metavar="PATH", help="the audit log (default: the user data dir)")
    audit.set_defaults(command=run_audit)

    snapshot = verbs.add_parser(
        "snapshot",
        help="capture what the panes show into a store file (open it with --source)",
        description="Capture completions, revisions, error groups and the raw error entries "
        "of the dates asked for into a store file, for handoffs and postmortems.",
    )
    _source_options(snapshot, suppress=True)
    snapshot.add_argument(
        "--date",
        metavar="DATE",
        default=argparse.SUPPRESS,
        help="the last date to capture: YYYY-MM-DD, today (default), yesterday or -N",
    )
    snapshot.add_argument(
        "--days", type=int, default=1, metavar="N", help="dates to capture, ending at --date"
    )
    snapshot.add_argument("-o", "--output", required=True, metavar="FILE", help="the store file")
    snapshot.add_argument("--force", action="store_true", help="replace FILE if it exists")
    snapshot.set_defaults(command=run_snapshot)

    record = verbs.add_parser(
        "record",
        help="poll the sources and append each poll to a recording (rewind it with --source)",
        description="Read the configured sources on the dashboard's schedule and append what "
        "was read to a recording: one poller for many viewers (orchwatch --source FILE, "
        "--as-of T to rewind) and postmortems (orchwatch postmortem). SIGTERM or Ctrl-C stops "
        "it after the poll in progress; a full disk stops it with exit 74.",
    )
    _source_options(record, suppress=True)
    record.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the recording (created or added to)"
    )
    record.add_argument(
        "--every",
        metavar="SECONDS",
        type=_typed(parse_seconds),
        default=None,
        help="between polls (default: [record] interval_seconds, else [ui] refresh_seconds)",
    )
    record.add_argument(
        "--polls", type=int, default=None, metavar="N", help="stop after N polls (default: never)"
    )
    record.set_defaults(command=run_record)

    postmortem = verbs.add_parser(
        "postmortem",
        help="an incident's record from a recording: what changed, why, what was done",
        description="From a recording (orchwatch record) alone: each change of the "
        "walkthrough's checks in the window, the sources the recorder could not read, the "
        "explain chain of everything that was red, each date's timeline, the actions taken.",
    )
    postmortem.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    postmortem.add_argument(
        "--source", metavar="PATH", required=True, help="the recording (orchwatch record -o)"
    )
    postmortem.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        type=_typed(parse_instant),
        required=True,
        help="the window's start (UTC, 2026-02-01T11:30)",
    )
    postmortem.add_argument(
        "--to",
        dest="end",
        metavar="TIME",
        type=_typed(parse_instant),
        required=True,
        help="the window's end (UTC)",
    )
    postmortem.add_argument("--format", choices=("text", "markdown", "json"), default="markdown")
    postmortem.set_defaults(command=run_postmortem)

    serve = verbs.add_parser(
        "serve",
        help="the dashboard of a recording in browsers (read-only; one process per browser)",
        description="Serve the dashboard of a recording (orchwatch record -o FILE) to "
        "browsers: every browser reads the file, so any number of viewers cost the project "
        "no read beyond the recorder's. Viewers follow the recorder, step back with [ ] and "
        "never act. Binds 127.0.0.1 unless --host says otherwise.",
    )
    serve.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS)
    serve.add_argument("--source", metavar="PATH", required=True, help="the recording")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="the port (default 8000)")
    serve.add_argument(
        "--viewer-log",
        metavar="FILE",
        default=None,
        help="append what each viewer does (opened, screens, refused actions) to FILE",
    )
    serve.set_defaults(command=run_serve)

    demo_deploy = verbs.add_parser("demo-deploy")
    demo_deploy.add_argument("--service", required=True)
    demo_deploy.add_argument("--function", required=True)
    demo_deploy.add_argument("--repo", default=".")
    demo_deploy.set_defaults(command=run_demo_deploy)
    demo_rollback = verbs.add_parser("demo-rollback")
    demo_rollback.add_argument("--service", required=True)
    demo_rollback.add_argument("--revision", required=True)
    demo_rollback.set_defaults(command=run_demo_rollback)

    demo_repo = verbs.add_parser(
        "demo-repo", help="write the demo pipeline repo (with its incidents) to PATH"
    )
    demo_repo.add_argument("path", help="an empty or new folder")
    demo_repo.set_defaults(command=run_demo_repo)
    # The demo's stand-ins for the deploy and rollback commands stay out of --help
    # (argparse lists a verb with help=SUPPRESS as "==SUPPRESS==").
    verbs._choices_actions = [
        a for a in verbs._choices_actions if a.dest not in ("demo-deploy", "demo-rollback")
    ]
    return parser


def run_validate(args: argparse.Namespace) -> int:
    """`orchwatch validate`: exit 0 clean, 1 when an error-severity finding exists."""
    from orchwatch.validate.cache import FactsCache
    from orchwatch.validate.engine import settings_from, validate_repo
    from orchwatch.validate.model import NoFunctionsFound
    from orchwatch.validate.report import to_json, to_sarif, to_text

    config = _load_config(args, reads_sources=False)
    repo = Path(args.repo) if args.repo else (config.repo_path or Path.cwd())
    if not repo.is_dir():
        raise UsageError(f"{repo}: no such repo folder")
    cache = FactsCache() if args.no_cache else FactsCache.default()
    try:
        report = validate_repo(
            repo, only=args.function, settings=settings_from(config.validate), cache=cache
        )
    except NoFunctionsFound as exc:  # nothing checked is not a pass
        raise UsageError(str(exc)) from None
    except LookupError:
        raise UsageError(f"--function {args.function}: no function folder of that name") from None
    if args.format == "json":
        print(to_json(report))
    elif args.format == "sarif":
        print(to_sarif(report))
    else:
        print(to_text(report, show_info=not args.quiet_info))
    return EXIT_FOUND if report.has_errors else EXIT_OK


def run_revisions(args: argparse.Namespace) -> int:
    """`orchwatch revisions`: exit 1 when a service is behind its latest revision."""
    from orchwatch.gather import gather_revisions, serving_behind
    from orchwatch.render import revisions_json, revisions_text

    config = _load_config(args)
    sources = _sources(args, config)
    view = gather_revisions(config, sources, args.service)
    for name in view.missing:  # a watched service that is gone is a finding; a typo is not
        if name not in config.services:
            raise UsageError(no_such("service", name, config.services, f"in {sources.where}"))
    if args.format == "json":
        print(revisions_json(view, config.shown_zone))
    else:
        print(revisions_text(view, config.shown_zone))
    behind = any(serving_behind(v) for v in view.verdicts)
    return EXIT_FOUND if behind or view.missing else EXIT_OK


def run_errors(args: argparse.Namespace) -> int:
    """`orchwatch errors`: exit 0 (informational; the groups are the answer)."""
    from orchwatch.gather import gather_errors
    from orchwatch.render import errors_json, errors_text

    since: timedelta = args.since
    config = _load_config(args, reads_sources=not args.from_file)
    if args.from_file:
        from orchwatch.gather import file_errors
        from orchwatch.sources.logfile import LogReader, open_log

        try:
            with open_log(args.from_file) as handle:
                view = file_errors(LogReader(handle.read), args.from_file, args.service)
        except OSError as exc:
            raise UsageError(f"--from-file {args.from_file}: {exc.strerror or exc}") from None
    else:
        sources = _sources(args, config)
        view = gather_errors(config, sources, since, args.service)
    if args.format == "json":
        print(errors_json(view))
    else:
        print(errors_text(view, config.shown_zone, samples=args.samples))
    return EXIT_OK


def run_daily(args: argparse.Namespace) -> int:
    """`orchwatch daily`: exit 1 when a check fails, else 2 when one could not be checked,
    else 0."""
    from orchwatch.analysis.daily import VERDICT_EXIT, evaluate, overall
    from orchwatch.gather import gather_daily
    from orchwatch.render import daily_json, daily_markdown, daily_text

    config, sources, day = _dated(args)
    inputs = gather_daily(config, sources, day)
    results = evaluate(inputs, config.timezone, config.shown_zone)
    if args.format == "json":
        print(daily_json(results, day, inputs.now))
    elif args.format == "markdown":
        print(
            daily_markdown(
                results,
                day,
                inputs.now,
                config.shown_zone,
                config.pipeline_name,
                sources.description,
            )
        )
    else:
        print(daily_text(results, day, inputs.now, config.shown_zone, config.pipeline_name))
    return VERDICT_EXIT.get(overall(results), EXIT_OK)


def run_explain(args: argparse.Namespace) -> int:
    """`orchwatch explain`: exit 1 when a link of the chain is broken, 0 when none is."""
    import json

    from orchwatch.analysis.explain import (
        explain,
        explanation_json,
        explanation_lines,
    )
    from orchwatch.gather import gather_explain
    from orchwatch.sanitize import inert_line

    if args.processor and not args.phase:
        raise UsageError("--processor needs --phase (the phase the processor belongs to)")
    if not (args.phase or args.service or args.group):
        raise UsageError("say what to explain: --phase (and --processor), --service or --group")
    config, sources, day = _dated(args)
    inputs = gather_explain(config, sources, day)
    explanation = explain(  # an unknown subject is an UnknownName: exit 2 (see _run)
        inputs,
        config.shown_zone,
        phase=args.phase,
        processor=args.processor,
        service=args.service,
        group=args.group,
    )
    if args.format == "json":
        print(json.dumps(explanation_json(explanation), indent=2))
    else:
        lines = explanation_lines(explanation, config.shown_zone, args.format == "markdown")
        print("\n".join(inert_line(line, 2000) for line in lines))
    return EXIT_FOUND if explanation.root_cause is not None else EXIT_OK


def run_timeline(args: argparse.Namespace) -> int:
    """`orchwatch timeline`: exit 0 (it reports; the other verbs judge)."""
    import json

    from orchwatch.actions.audit import default_audit_path
    from orchwatch.analysis.timeline import timeline, timeline_json, timeline_lines
    from orchwatch.gather import gather_timeline
    from orchwatch.sanitize import inert_line

    config, sources, day = _dated(args)
    audit = Path(args.audit_file) if args.audit_file else default_audit_path()
    if audit.is_dir():
        raise UsageError(f"{audit}: is a folder; --audit-file takes the audit log file")
    line = timeline(gather_timeline(config, sources, day, audit), config.shown_zone)
    if args.format == "json":
        print(json.dumps(timeline_json(line), indent=2))
    else:
        lines = timeline_lines(line, config.shown_zone, args.format == "markdown")
        print("\n".join(inert_line(text, 2000) for text in lines))
    return EXIT_OK


def run_pubsub(args: argparse.Namespace) -> int:
    """`orchwatch pubsub`: exit 1 when a hop failed or could not be judged."""
    import json

    from orchwatch.analysis.pubsub import HopLevel, hop_json, hop_lines
    from orchwatch.gather import gather_pubsub, read_hops
    from orchwatch.sanitize import inert_line

    config, sources, day = _dated(args)
    view = gather_pubsub(config, sources, day)
    if view.hops.value is None:
        read_hops(config, sources, day, view.window)  # raises the source's own error again
        raise SourceError(f"Pub/Sub: {view.hops.error}")
    hops = view.hops.value
    if args.format == "json":
        window = [t.isoformat() for t in view.window] if view.window else None
        print(
            json.dumps(
                {"date": day.isoformat(), "window": window, "hops": [hop_json(h) for h in hops]},
                indent=2,
            )
        )
    else:
        lines = hop_lines(hops, view.window, config.shown_zone, args.format == "markdown")
        print("\n".join(inert_line(line, 2000) for line in lines))
    bad = {HopLevel.FAIL, HopLevel.UNKNOWN}
    return EXIT_FOUND if any(h.level in bad for h in hops) else EXIT_OK


def run_replay(args: argparse.Namespace) -> int:
    """`orchwatch replay`: exit 0 done, 1 nothing to replay, refused or not recorded."""
    import json

    from orchwatch.actions.audit import AuditLog, default_audit_path
    from orchwatch.actions.manager import RunKey, RunManager
    from orchwatch.actions.replay import WATCH_FOR, replay_argv, run_replay
    from orchwatch.actions.runner import RunResult
    from orchwatch.analysis.replay import plan_replay, preview_lines
    from orchwatch.gather import gather_pubsub
    from orchwatch.sanitize import inert_line

    config, sources, day = _dated(args)
    if args.phase not in {p.name for p in config.phases}:
        raise UsageError(no_such("phase", args.phase, [p.name for p in config.phases]))
    view = gather_pubsub(config, sources, day, now_too=True)
    if view.status.value is None:
        sources.completions.fetch_completions([day])  # raises the source's own error again
        raise SourceError(f"completions: {view.status.error}")
    hop = view.hop(args.phase)
    plan = plan_replay(config, view.status.value, args.phase, hop, view.now, view.cannot_publish)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "phase": plan.phase,
                    "date": plan.game_date,
                    "topic": plan.topic,
                    "method": str(plan.method),
                    "why": plan.why,
                    "refused": plan.refused,
                    "processors": list(plan.processors),
                    "messages": [
                        {"data": m.data.decode("utf-8"), "attributes": dict(m.attributes)}
                        for m in plan.messages
                    ],
                },
                indent=2,
            )
        )
    else:
        for line in preview_lines(plan, config.shown_zone):
            print(inert_line(line, 4000))
    if not plan.runnable:
        return EXIT_FOUND
    if args.dry_run:
        return EXIT_OK
    if not (args.allow_actions or config.actions_enabled):
        print(
            "refused: actions are off ([actions] enabled = false); pass --allow-actions to "
            "publish, or --dry-run to only look",
            file=sys.stderr,
        )
        return EXIT_FOUND
    if view.hops.error and sources.pubsub is not None:
        print(
            f"note: Pub/Sub could not be read ({view.hops.error}); publishing anyway",
            file=sys.stderr,
        )
    manager = RunManager(AuditLog(default_audit_path()), timeout=config.action_timeout)
    watch = WATCH_FOR if args.watch is None else args.watch

    def job() -> tuple[RunResult, object]:
        outcome = run_replay(
            plan, config, sources, lambda line: print(inert_line(line, 4000)), watch_for=watch
        )
        return RunResult(0 if outcome.ok else 1, 0.0, outcome.lines[-20:]), outcome

    done = manager.call(
        RunKey("replay", f"{plan.phase} {plan.game_date}"), replay_argv(plan), Path.cwd(), job
    )
    if done is None:
        raise UsageError(f"a replay of {plan.phase} {plan.game_date} is already running")
    result, _ = done
    return EXIT_OK if result.ok else EXIT_FOUND


def run_audit(args: argparse.Namespace) -> int:
    """`orchwatch audit`: print the audit log."""
    import json

    from orchwatch.actions.audit import audit_markdown, default_audit_path, read_audit, shown_time
    from orchwatch.sanitize import inert_line

    zone = _load_config(args, reads_sources=False).shown_zone

    path = Path(args.file) if args.file else default_audit_path()
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; --file takes the audit log file")
    try:
        entries, bad = read_audit(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    if args.format == "json":
        print(
            json.dumps([{"started": e.started, "finished": e.finished} for e in entries], indent=2)
        )
    elif args.format == "markdown":
        print(inert_line(audit_markdown(entries, zone), 10**7).replace("⏎", "\n"))
    else:
        for entry in entries:
            started = entry.started
            command = " ".join(str(a) for a in started.get("command", []))
            print(
                inert_line(
                    f"{shown_time(started.get('time', ''), zone)}  {started.get('user')}@"
                    f"{started.get('host')}  {started.get('action')} "
                    f"{started.get('service', '')}  {command}  -> {entry.outcome}",
                    500,
                )
            )
        print(
            f"{counted(len(entries), 'run')} in {path}"
            + (f" ({counted(bad, 'unreadable line')})" if bad else "")
        )
    return EXIT_OK


def run_snapshot(args: argparse.Namespace) -> int:
    """`orchwatch snapshot`: exit 0 once the file is written."""
    from orchwatch.dates import business_date, date_range, parse_date
    from orchwatch.files import NotReplaceable, check_target
    from orchwatch.snapshot import capture

    out = Path(args.output)
    try:
        check_target(out, replace=args.force)
    except NotReplaceable as exc:
        raise UsageError(f"-o {exc}") from None
    _check_writable(out)
    if not 1 <= args.days <= 92:
        raise UsageError(f"--days {args.days}: expected a number of days from 1 to 92")
    config = _load_config(args)
    sources = _sources(args, config)
    try:
        today = business_date(sources.clock.now(), config.timezone)
        try:
            last = parse_date(getattr(args, "date", None) or "today", today)
        except ValueError as exc:
            raise UsageError(f"--date: {exc}") from None
        dates = date_range(last, args.days)
        try:
            summary = capture(config, sources, dates, out, _progress_bar(), replace=args.force)
        except NotReplaceable as exc:
            raise UsageError(f"-o {exc}") from None
        except OSError as exc:
            raise UsageError(f"-o {out}: cannot be written ({exc.strerror or exc})") from None
    finally:
        sources.close()
    print(
        f"{summary.path}: {counted(len(summary.dates), 'date')} "
        f"({summary.dates[0]} to {summary.dates[-1]}), "
        f"{counted(summary.documents, 'Firestore document')}, "
        f"{counted(summary.backup_rows, 'backup row')}, "
        f"{counted(summary.services, 'service')} with {counted(summary.revisions, 'revision')}, "
        f"{counted(summary.log_entries, 'error log entry', 'error log entries')}; "
        f"captured {summary.captured_at:%Y-%m-%d %H:%M} "
        f"UTC from {sources.description}. Open it with: orchwatch --source {summary.path}"
    )
    return EXIT_OK


def run_record(args: argparse.Namespace) -> int:
    """`orchwatch record`: poll until stopped; exit 0 when stopped by a signal or `--polls`,
    74 when the recording cannot be written (a full disk)."""
    from orchwatch.recorder import record_until_stopped

    out = Path(args.output)
    if args.polls is not None and args.polls < 1:
        raise UsageError(f"--polls {args.polls}: expected a positive number of polls")
    if out.exists() and not out.is_file():
        raise UsageError(f"-o {out}: is not a regular file")
    if not out.parent.is_dir():
        raise UsageError(f"-o {out}: the folder {out.parent} does not exist")
    config = _load_config(args)
    settings = config.record
    if args.every is not None:
        if not 0.05 <= args.every <= 86_400:
            raise UsageError(f"--every {args.every:g}: expected seconds from 0.05 to 86400")
        settings = replace(settings, interval=timedelta(seconds=args.every))
    sources = _sources(args, config)
    try:
        return record_until_stopped(
            config, sources, out, settings, args.polls, print_line=_err_line
        )
    finally:
        sources.close()


def run_postmortem(args: argparse.Namespace) -> int:
    """`orchwatch postmortem`: exit 0 once written (it reports; the other verbs judge)."""
    import json

    from orchwatch.postmortem import build, postmortem_json, postmortem_lines
    from orchwatch.sources.history import Recording

    if args.end <= args.start:
        raise UsageError(f"--to {args.end:%Y-%m-%dT%H:%M}: must be after --from")
    path = Path(args.source)
    if not path.is_file() or not Recording.is_recording(path):
        raise UsageError(f"--source {path}: not a recording (write one with orchwatch record)")
    config = _load_config(args, reads_sources=False)
    report = build(config, path, args.start, args.end)
    if args.format == "json":
        print(json.dumps(postmortem_json(report), indent=2))
    else:
        print("\n".join(postmortem_lines(report, config, args.format == "markdown")))
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    """`orchwatch serve`: serve until SIGTERM or Ctrl-C; exit 0."""
    import ipaddress
    import shlex

    from orchwatch.sources.history import Recording

    path = Path(args.source)
    if not path.is_file() or not Recording.is_recording(path):
        raise UsageError(
            f"--source {path}: not a recording; serve shows one: orchwatch record -o {path.name}"
        )
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected a port from 1 to 65535")
    config_path = getattr(args, "config", None)
    _load_config(args, reads_sources=False)  # a bad config is said here, not in each browser
    command = [sys.executable, "-m", "orchwatch", "--source", str(path.resolve())]
    if config_path:
        command += ["--config", str(Path(config_path).resolve())]
    if args.viewer_log:
        command += ["--viewer-log", str(Path(args.viewer_log).resolve())]
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    from orchwatch.tui.serve import ViewerServer

    if not loopback:
        print(
            f"orchwatch: {args.host} is reachable beyond this machine and the page asks for "
            "no password: put it behind your own proxy's sign-in",
            file=sys.stderr,
        )

    def announce(url: str) -> None:
        print(f"orchwatch: serving {path} at {url} (read-only; Ctrl-C stops it)", flush=True)

    try:
        ViewerServer(shlex.join(command), args.host, args.port, announce).serve()
    except OSError as exc:
        raise UsageError(f"--host {args.host} --port {args.port}: {exc.strerror or exc}") from None
    return EXIT_OK


def _err_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _check_writable(out: Path) -> None:
    """Before capturing anything: the file can be written where it is asked for."""
    folder = out.parent
    if not folder.is_dir():
        raise UsageError(f"-o {out}: the folder {folder} does not exist")
    probe = folder / f".{out.name}.probe"
    try:
        with probe.open("xb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"-o {out}: cannot write in {folder} ({exc.strerror or exc})") from None


def _progress_bar() -> Callable[[str, int, int], None]:
    """A progress bar on stderr (plain lines when stderr is not a terminal)."""
    if not sys.stderr.isatty():

        def plain(what: str, done: int, total: int) -> None:
            print(f"[{done}/{total}] {what}", file=sys.stderr)

        return plain
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from orchwatch.sanitize import inert_line

    bar = Progress(
        TextColumn("{task.description:<40}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        # The bar's own escape codes go to the terminal itself, past the verb's sanitizer;
        # its text is made inert here instead.
        console=Console(file=getattr(sys.stderr, "stream", sys.stderr)),
        transient=True,
    )
    task = bar.add_task("starting", total=1)

    def update(what: str, done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, description=inert_line(what, 80), completed=done, total=total)
        if done >= total:
            bar.stop()

    return update


def run_demo_rollback(args: argparse.Namespace) -> int:
    """What `b` runs inside orchwatch's demo instead of `gcloud run services
    update-traffic`: ask the demo (through its spool folder) to move the traffic."""
    import json
    import uuid

    spool = os.environ.get("ORCHWATCH_DEMO_SPOOL")
    if not spool:
        raise UsageError("demo-rollback runs only inside orchwatch's demo (ORCHWATCH_DEMO_SPOOL)")
    print(f"Updating traffic of {args.service}: 100% to {args.revision} (demo)")
    request = {"service": args.service, "revision": args.revision}
    path = Path(spool) / f"{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(request), encoding="utf-8")
    os.replace(tmp, path)
    print("Done: the traffic moves within the minute.")
    return EXIT_OK


def run_demo_deploy(args: argparse.Namespace) -> int:
    """What the demo repo's deploy scripts run inside orchwatch's demo: validate the
    function, then ask the demo (through its spool folder) for a new revision, which
    becomes Ready only when the package is clean, as on Cloud Run."""
    import json
    import uuid

    from orchwatch.validate.cache import FactsCache
    from orchwatch.validate.engine import validate_repo
    from orchwatch.validate.model import Severity

    spool = os.environ.get("ORCHWATCH_DEMO_SPOOL")
    if not spool:
        raise UsageError("demo-deploy runs only inside orchwatch's demo (ORCHWATCH_DEMO_SPOOL)")
    print(f"Deploying {args.service} from orchestration/cloud_functions/{args.function} (demo)")
    try:
        report = validate_repo(Path(args.repo), only=args.function, cache=FactsCache())
    except LookupError:
        raise UsageError(f"no function folder {args.function} in {args.repo}") from None
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    request = {"service": args.service, "function": args.function, "ok": not errors}
    path = Path(spool) / f"{uuid.uuid4().hex}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(request), encoding="utf-8")
    os.replace(tmp, path)
    print("Creating a new revision… (the demo decides readiness from the package)")
    if errors:
        for finding in errors[:5]:
            print(f"  {finding.rule}: {finding.message}")
        print(
            "ERROR: the revision will fail its health check: the container cannot import "
            "what main.py needs",
            file=sys.stderr,
        )
        return EXIT_FOUND
    print("Done: the new revision will take traffic once Ready.")
    return EXIT_OK


def run_demo_repo(args: argparse.Namespace) -> int:
    """`orchwatch demo-repo PATH`: write the demo pipeline repo."""
    from orchwatch.validate.demo_repo import HISTORY, commit_history, write_demo_repo

    root = Path(args.path)
    try:
        written = write_demo_repo(root)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {len(written)} files and links to {args.path}")
    if commit_history(root, _demo_deploys()):
        print(f"with a git history of {len(HISTORY)} commits, tagged with the demo's deploys")
    else:
        print("without a git history (git did not run): drift and 'would ship' will say so")
    print(f"try: orchwatch validate {args.path}")
    return EXIT_OK


def _demo_deploys() -> dict[str, int]:
    """The demo revisions' commit ids -> the demo repo commit each was built from."""
    from orchwatch.analysis.revisions import service_verdict
    from orchwatch.clock import FrozenClock
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.validate.demo_repo import deployed_from

    config = load_config(None)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
    assert sources.revisions is not None  # the demo has Cloud Run data
    deploys: dict[str, int] = {}
    for service in sources.revisions.fetch_services(list(config.services)):
        verdict = service_verdict(service, DEMO_START)
        serving = verdict.serving.name if verdict.serving is not None else None
        for revision in service.revisions:
            if revision.commit:
                deploys[revision.commit] = deployed_from(
                    service.name, revision.name, serving, service.latest_created_revision
                )
    for closer in sources.closers:
        closer.close()
    return deploys


def _options(args: argparse.Namespace) -> SourceOptions:
    return SourceOptions(
        demo=bool(getattr(args, "demo", False)),
        store_path=Path(args.source) if getattr(args, "source", None) else None,
        project=getattr(args, "project", None),
    )


def _dated_options(verb: argparse.ArgumentParser, default: str) -> None:
    """The options of a verb about one date: the sources, `--date` (else `default`), and
    `--format`."""
    _source_options(verb, suppress=True)
    verb.add_argument(
        "--date",
        metavar="DATE",
        default=argparse.SUPPRESS,
        help=f"YYYY-MM-DD, today, yesterday or -N (default: {default})",
    )
    verb.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    verb.set_defaults(default_date=default)


def _dated(args: argparse.Namespace) -> tuple[Config, Sources, date]:
    """The config, the sources and the `--date` (else the verb's default) of a dated verb.

    Raises:
        UsageError: the date cannot be read.
    """
    from orchwatch.dates import business_date, parse_date

    config = _load_config(args)
    sources = _sources(args, config)
    today = business_date(sources.clock.now(), config.timezone)
    try:
        day = parse_date(getattr(args, "date", None) or args.default_date, today)
    except ValueError as exc:
        raise UsageError(f"--date: {exc}") from None
    if sources.dates is not None and not sources.dates[0] <= day <= sources.dates[1]:
        first, last = sources.dates
        raise UsageError(
            f"--date {day}: {sources.description} holds no data for it (it holds {first} to {last})"
        )
    return config, sources, day


def _load_config(args: argparse.Namespace, reads_sources: bool = True) -> Config:
    """The config, reading the environment `--env` names (else its default) when the
    verb reads sources and they are Google Cloud's.

    Raises:
        UsageError: `--env` names no environment, or several could be meant.
    """
    config = load_config(find_config_file(getattr(args, "config", None)))
    if not reads_sources or getattr(args, "demo", False) or getattr(args, "source", None):
        return config
    try:
        return select_environment(
            config, getattr(args, "env", None), getattr(args, "project", None)
        )
    except NoSuchEnvironment as exc:
        raise UsageError(str(exc)) from None


def _sources(args: argparse.Namespace, config: Config) -> Sources:
    """The sources the options name, judged as of `--as-of` when given (every verb: the
    demo replays its scenario to that moment, a snapshot and Google Cloud are read as
    they are and judged at that time)."""
    sources = build_sources(_options(args), config, clock=_as_of(args.as_of))
    return read_as_of(sources) if args.as_of is not None else sources


def _as_of(moment: datetime | None) -> FrozenClock | None:
    return FrozenClock(moment) if moment is not None else None


def run_tui(args: argparse.Namespace) -> int:
    """Open the dashboard (only on a terminal: a file or a pipe gets a pointer to the
    headless verbs instead of escape codes)."""
    config = _load_config(args)
    served = os.environ.get("TEXTUAL_DRIVER", "").endswith(":WebDriver")  # orchwatch serve
    if not args.exit_after_first_data and not served:
        reason = (
            "stdout is not a terminal"
            if not sys.stdout.isatty()
            else "TERM is dumb"
            if os.environ.get("TERM", "") == "dumb"
            else None
        )
        if reason:
            raise UsageError(
                f"the dashboard needs a full-screen terminal ({reason}); for scripts and cron "
                "use a headless verb: orchwatch daily, revisions, errors, validate, audit"
            )
    sources = _sources(args, config)
    from orchwatch.dates import business_date, parse_date

    initial = None
    if args.date:
        try:
            initial = parse_date(args.date, business_date(sources.clock.now(), config.timezone))
        except ValueError as exc:
            raise UsageError(f"--date: {exc}") from None
    from orchwatch.tui.app import OrchwatchApp

    refresh = min(config.refresh_seconds, 2.0) if sources.kind == "demo" else None
    app = OrchwatchApp(
        config,
        sources,
        refresh_seconds=refresh,
        initial_date=initial,
        exit_after_first_data=args.exit_after_first_data,
        allow_actions=args.allow_actions,
        viewer_log=Path(args.viewer_log) if getattr(args, "viewer_log", None) else None,
    )
    import logging

    # A client library's warning ("Background thread did not exit.") must not be printed
    # over the screen, nor after the terminal is restored: the panes say what failed.
    logging.getLogger().addHandler(logging.NullHandler())
    try:
        app.run(headless=args.exit_after_first_data)
    finally:
        _close_within(sources, 0.5)
    return app.return_code or EXIT_OK


def _close_within(sources: Sources, seconds: float) -> None:
    """Close the sources, waiting at most `seconds` (a stream to a silent backend may take
    longer to close; the process is about to end and takes it with it)."""
    closing = threading.Thread(target=sources.close, name="close-sources", daemon=True)
    closing.start()
    closing.join(seconds)


_API_OF_MODULE = {
    "firestore.py": "Firestore",
    "bigquery.py": "BigQuery",
    "run.py": "Cloud Run",
    "logs.py": "Cloud Logging",
}
DEFAULT_DEADLINES = {
    "daily": 60.0,
    "revisions": 60.0,
    "errors": 60.0,
    "snapshot": 600.0,
    "postmortem": 600.0,
}
"""Seconds a headless verb may take before it gives up (a cron check must not hang)."""


def _waiting_on() -> str:
    """Which Google Cloud APIs the process is blocked in, read from its threads' stacks
    ("" when none is)."""
    apis: list[str] = []
    for frame in sys._current_frames().values():
        walk: FrameType | None = frame
        while walk is not None:
            path = walk.f_code.co_filename
            api = _API_OF_MODULE.get(os.path.basename(path))
            if api and f"{os.sep}sources{os.sep}gcp{os.sep}" in path and api not in apis:
                apis.append(api)
                break
            walk = walk.f_back
    return f" waiting for {' and '.join(sorted(apis))}" if apis else ""


def _start_deadline(seconds: float, verb: str) -> threading.Timer:
    """A watchdog: past the deadline, say what the verb was waiting for and exit 2 at once
    (a client library's retries or threads must not keep a cron job alive)."""

    def give_up() -> None:
        from orchwatch.files import remove_partials

        remove_partials()  # os._exit skips every `finally`: no half-written file is left
        waiting = _waiting_on()
        sys.stderr.write(
            f"orchwatch: {verb} timed out after {seconds:g} s{waiting}: the source is "
            "unreachable or does not answer (--timeout sets the limit)\n"
        )
        sys.stderr.flush()
        os._exit(EXIT_USAGE)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer


def entry() -> None:
    """The console script: run, flush, and exit at once with the verb's code, so that no
    background thread of a client library keeps a finished verb alive."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, AttributeError):  # closed, or never open
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `orchwatch` with these arguments; returns the exit code."""
    if sys.stdout is None:  # started with standard output closed (`orchwatch daily >&-`)
        if sys.stderr is not None:
            print("orchwatch: cannot write the output: standard output is closed", file=sys.stderr)
        return EXIT_IO
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already said
        return _flushed(done.code if isinstance(done.code, int) else EXIT_USAGE)
    handler: Callable[[argparse.Namespace], int] = args.command or run_tui
    if args.command is None:
        return _run(handler, args)  # the dashboard settles the collector at its first frame
    from orchwatch.startup import settle

    settle()  # a headless verb: its reads may make garbage worth collecting
    # A headless verb prints through one sanitizer: nothing it prints can be an escape.
    from orchwatch.sanitize import InertWriter

    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = InertWriter(stdout), InertWriter(stderr)
    terminate = _on_sigterm()
    try:
        return _run(handler, args)
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        if terminate is not None:
            signal.signal(signal.SIGTERM, terminate)


def _on_sigterm() -> signal.Handlers | Callable[[int, FrameType | None], object] | int | None:
    """Make SIGTERM (`timeout`, a CI job's end, `kill`) end a headless verb as Ctrl-C does,
    through every `finally`, so no half-written file is left; returns the handler it
    replaced (None off the main thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, terminated)


def _flushed(code: int) -> int:
    """`code`, once stdout is flushed; a reader that went away (`orchwatch --help | true`)
    ends the command quietly, as git and grep do."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null (its reader went away, or the disk is full), so the
    interpreter's last flush is silent."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a verb (or the dashboard) within its deadline; every failure is a message and
    an exit code."""
    verb = handler.__name__.removeprefix("run_")
    limit = getattr(args, "timeout", None)
    deadline = DEFAULT_DEADLINES.get(verb) if limit is None else limit
    timer = _start_deadline(deadline, verb) if deadline and args.command else None
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed reader or a full disk shows here, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`orchwatch daily | head -1`): end quietly, as git and grep do.
        _silence_stdout()
        return EXIT_OK
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG):
            return _internal_error(exc)
        _silence_stdout()
        print(f"orchwatch: cannot write the output: {exc.strerror}", file=sys.stderr)
        return EXIT_IO
    except ConfigError as exc:
        print(f"orchwatch: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (SourceError, UsageError, UnknownName) as exc:
        print(f"orchwatch: {exc}", file=sys.stderr)
        how_to = getattr(exc, "how_to", None)
        if how_to:
            print(f"\n{how_to}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (see _on_sigterm)
        return 130
    except Exception as exc:
        return _internal_error(exc)
    finally:
        if timer is not None:
            timer.cancel()


def _internal_error(exc: Exception) -> int:
    """One line for a bug; ORCHWATCH_DEBUG=1 shows the traceback instead."""
    if os.environ.get("ORCHWATCH_DEBUG"):
        raise exc
    print(
        f"orchwatch: internal error: {type(exc).__name__}: {exc} "
        "(set ORCHWATCH_DEBUG=1 to see the traceback)",
        file=sys.stderr,
    )
    return 70


if __name__ == "__main__":
    sys.exit(main())
