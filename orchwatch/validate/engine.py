"""The validator: find every function and every path that deploys it, judge each upload.

Deploy paths of a function:

- `source`: its folder as `gcloud functions deploy --source=<folder>` uploads it
  (tree.gcloud_upload), which the repository's runbooks do for any complete function
  folder;
- `script:<path>`: each shell script anywhere in the repository that runs `gcloud
  functions deploy` (or `gcloud run deploy --source`), directly or through its own
  functions and wrappers, evaluated path by path (shell.py). A script that builds the
  package in a scratch folder is judged on that folder; one that deploys the function
  folder itself is judged on the folder.

Each path's outcomes (one per way through the script) are checked (package.py). A
finding that holds on every way through a script keeps its severity; one that holds on
some becomes a warning naming the branches. A path stopped by a failing copy under
`set -e` is a `deploy-aborts` finding. With `[validate] deploy_paths` pinning a
function to one path, findings only the other paths have become warnings that say
which path ships it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from orchwatch.validate.cache import FactsCache, StoredReport
from orchwatch.validate.ci import CiFile, discover_ci_files, read_ci_file
from orchwatch.validate.imports import ModuleFacts, analyse_source
from orchwatch.validate.model import (
    Finding,
    FunctionResult,
    NoFunctionsFound,
    Rule,
    Severity,
    ValidationReport,
)
from orchwatch.validate.package import Package, check_package
from orchwatch.validate.prefetch import Prefetcher, likely_closure
from orchwatch.validate.runtime import (
    DEFAULT_RUNTIME,
    HOST,
    analyse_batch,
    find_interpreter,
    runtime_version,
)
from orchwatch.validate.shell import (
    Deploy,
    ScriptEvaluator,
    ScriptResult,
    Walk,
    evaluate_script,
)
from orchwatch.validate.tree import (
    SKIPPED_DIRS,
    Entry,
    PackageTree,
    Upload,
    gcloud_upload,
    resolve_copied_links,
)
from orchwatch.validate.triggers import (
    BuildTrigger,
    discover_trigger_files,
    parse_substitutions,
    read_trigger_file,
)
from orchwatch.validate.words import Unknown

if TYPE_CHECKING:
    from orchwatch.config import ValidateOptions

DEFAULT_FUNCTION_GLOBS = ("orchestration/cloud_functions/*/",)
BOOT_WORKER_AT = 10
"""With this many function folders a cold run will need the prefetch worker: start it first."""
RESULTS_VERSION = 2
"""Bump when the checks change, so cached package results are not reused."""


@dataclass(frozen=True)
class ValidateSettings:
    """Where to look and how to judge; defaults fit the pipeline's repository."""

    function_globs: Sequence[str] = DEFAULT_FUNCTION_GLOBS
    script_globs: Sequence[str] = ()
    """Scripts to evaluate besides those found by their text (any `*.sh` that deploys)."""
    runtime: str = DEFAULT_RUNTIME
    """The runtime of a function whose deploy does not say (`--runtime`)."""
    interpreters: Mapping[str, str] = field(default_factory=dict)
    """Runtime -> interpreter path, for runtimes newer than the Python orchwatch runs on."""
    deploy_paths: Mapping[str, str] = field(default_factory=dict)
    """Function folder name -> the one path that ships it (`source` or `script:<path>`)."""


@dataclass
class _Outcome:
    labels: tuple[str, ...]
    package: Package | None
    abort: tuple[int, str] | None = None
    incomplete: list[str] = field(default_factory=list)


@dataclass
class _DeployPath:
    name: str
    outcomes: list[_Outcome]
    notes: list[Finding] = field(default_factory=list)
    same_as_source: bool = False


def discover_functions(repo: Path, globs: Iterable[str]) -> list[Path]:
    """Function folders: glob matches that are folders holding a main.py."""
    found: dict[Path, None] = {}
    for pattern in globs:
        for path in sorted(repo.glob(pattern.rstrip("/"))):
            if path.is_dir() and (path / "main.py").is_file():
                found[path] = None
    return list(found)


def discover_scripts(repo: Path, extra_globs: Iterable[str] = ()) -> list[Path]:
    """Shell scripts that deploy: any `*.sh` whose text runs a gcloud deploy, plus globs."""
    found: dict[Path, None] = {}
    for root, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".sh"):
                continue
            path = Path(root, name)
            if path.is_symlink():
                continue
            try:
                data = path.read_bytes()[:2_000_000]
            except OSError:
                continue
            if (
                b"functions deploy" in data
                or (b"run deploy" in data and b"--source" in data)
                or b"builds triggers create" in data  # which function a Cloud Build file ships
            ):
                found[path] = None  # `run deploy --image` uploads no package: not a path
    for pattern in extra_globs:
        for path in sorted(repo.glob(pattern)):
            if path.is_file():
                found[path] = None
    return list(found)


class Validator:
    """One validation run over a repo; reuse a `FactsCache` across runs for warm speed."""

    def __init__(
        self, repo: Path, settings: ValidateSettings | None = None, cache: FactsCache | None = None
    ) -> None:
        self.repo = repo.resolve()
        self.settings = settings or ValidateSettings()
        self.cache = cache or FactsCache()
        self._facts_by_real: dict[tuple[str, str], ModuleFacts | None] = {}
        self._digest_by_real: dict[str, str] = {}
        self._interpreters: dict[str, str | None] = {}
        self._deployed: dict[int, tuple[Deploy, Path | None]] = {}
        self._reals: dict[Path, Path] = {}
        self._uploads: dict[Path, Upload] = {}
        self._prefetcher = Prefetcher()
        self._pins: dict[str, str] = {}
        self._import_lines: dict[object, list[tuple[bytes, bytes, bytes]]] = {}
        self.packages_cached = 0

    # --- the run -------------------------------------------------------------------------------

    def run(self, only: str | None = None) -> ValidationReport:
        """Validate every function (or only the one named `only`).

        Raises:
            NoFunctionsFound: the repository holds no function (the message says where
                orchwatch looked).
            LookupError: `only` names no function.
        """
        started = time.perf_counter()
        fingerprint = self._repo_fingerprint(only)
        stored = self.cache.get_report(fingerprint) if fingerprint else None
        if stored is not None:
            return ValidationReport(
                repo=self.repo,
                functions=tuple(stored.functions),
                findings=tuple(stored.findings),
                seconds=time.perf_counter() - started,
                cache_hits=1,
                packages_cached=sum(len(f.variants) for f in stored.functions),
            )
        try:
            self._start_prefetch()
            return self._run(only, fingerprint, started)
        finally:
            self._prefetcher.close()

    def _run(self, only: str | None, fingerprint: str | None, started: float) -> ValidationReport:
        walks: dict[tuple[str, bool], Walk] = {}
        scripts = [
            evaluate_script(path, self.repo, walks)
            for path in discover_scripts(self.repo, self.settings.script_globs)
        ]
        ci_files = [c for c in map(self._read_ci, discover_ci_files(self.repo)) if c is not None]
        scripts += [self._evaluate_ci(ci, walks) for ci in ci_files if ci.problem is None]
        scripts += [
            result
            for trigger in self._build_triggers(scripts)
            if (result := self._triggered_build(trigger, walks)) is not None
        ]
        functions = self._functions(scripts)
        self._pins = self._pinned(functions, scripts, ci_files)
        if not functions:
            raise NoFunctionsFound(
                f"no Cloud Function found in {self.repo}: looked for folders holding a main.py "
                f"matching {', '.join(self.settings.function_globs)}, and for the --source of "
                "every gcloud deploy in the repository's *.sh scripts "
                f"({len(scripts)} such scripts)"
            )
        if only is not None:
            functions = [f for f in functions if f.name == only]
            if not functions:
                raise LookupError(only)
        results: list[FunctionResult] = []
        findings: list[Finding] = []
        all_paths = [(folder, self._paths(folder, scripts)) for folder in functions]
        self._prefetch_packages(
            [o.package for _, paths in all_paths for p in paths for o in p.outcomes if o.package]
        )
        for folder, paths in all_paths:
            function_findings = self._judge(folder, paths)
            findings.extend(function_findings)
            results.append(
                FunctionResult(
                    name=folder.name,
                    path=self._rel(folder),
                    variants=tuple(p.name for p in paths),
                    ok=not any(f.severity is Severity.ERROR for f in function_findings),
                    same_upload_as_source=tuple(p.name for p in paths if p.same_as_source),
                )
            )
        if fingerprint:
            self.cache.put_report(fingerprint, StoredReport(results, findings))
        self.cache.save()
        return ValidationReport(
            repo=self.repo,
            functions=tuple(results),
            findings=tuple(findings),
            seconds=time.perf_counter() - started,
            cache_hits=self.cache.hits,
            files_parsed=self.cache.misses,
            packages_cached=self.packages_cached,
        )

    def _repo_fingerprint(self, only: str | None) -> str | None:
        """A hash of every path, type, size, mtime and link target in the repository (about
        20 ms for 4,000 files), with what else the findings depend on: the settings, the
        checks' version, and PATH (where interpreters for newer runtimes are found).
        None when the tree cannot be read in full."""
        digest = hashlib.sha256()
        digest.update(
            f"{RESULTS_VERSION}|{self.repo}|{only}|{self.settings!r}|"
            f"{os.environ.get('PATH', '')}\n".encode()
        )
        stack = [str(self.repo)]
        try:
            while stack:
                folder = stack.pop()
                for child in sorted(os.scandir(folder), key=lambda e: e.name):
                    if child.name in SKIPPED_DIRS:
                        continue
                    stat = child.stat(follow_symlinks=False)
                    link = os.readlink(child.path) if child.is_symlink() else ""
                    digest.update(
                        f"{child.path}\0{stat.st_mode}\0{stat.st_size}\0{stat.st_mtime_ns}"
                        f"\0{link}\n".encode()
                    )
                    if child.is_dir(follow_symlinks=False):
                        stack.append(child.path)
        except OSError:
            return None
        return digest.hexdigest()

    def _build_triggers(self, scripts: list[ScriptResult]) -> list[BuildTrigger]:
        """The Cloud Build triggers the repository defines, in its scripts (with known
        values) and in exported trigger files; each build file and substitutions once."""
        found: dict[tuple[str, tuple[tuple[str, str], ...]], BuildTrigger] = {}  # by build
        for result in scripts:
            for call in result.triggers:
                config, given = call.build_config, call.substitutions
                if not isinstance(config, str) or not isinstance(given, str):
                    continue  # a value the evaluator could not know: no trigger to follow
                substitutions = parse_substitutions(given)
                if substitutions is None:
                    continue
                where = f"{self._rel(result.script)}:{call.line}"
                name = call.name if isinstance(call.name, str) else where
                trigger = BuildTrigger(name, config, substitutions, where)
                found.setdefault(trigger.build, trigger)
        for path in discover_trigger_files(self.repo):
            for trigger in read_trigger_file(path, self._rel(path)):
                found.setdefault(trigger.build, trigger)
        return list(found.values())

    def _triggered_build(
        self, trigger: BuildTrigger, walks: dict[tuple[str, bool], Walk]
    ) -> ScriptResult | None:
        """The trigger's Cloud Build file evaluated with its substitutions (None when the
        file is outside the repository, missing, or deploys nothing)."""
        config = (self.repo / trigger.build_config.lstrip("/")).resolve()
        if not config.is_relative_to(self.repo) or not config.is_file():
            return None
        try:
            ci = read_ci_file(config, self.repo, trigger.substitutions)
        except Exception:  # a hostile file is read as no trigger, never a crash
            return None
        if ci is None or ci.problem is not None or ci.kind != "cloudbuild":
            return None
        result = self._evaluate_ci(ci, walks)
        result.via = f"trigger {trigger.name} ({trigger.where})"
        return result

    def _evaluate_ci(self, ci: CiFile, walks: dict[tuple[str, bool], Walk]) -> ScriptResult:
        """A CI file's steps evaluated as bash, `/workspace` being the repository."""
        return ScriptEvaluator(
            ci.path,
            self.repo,
            source_text=ci.script.encode(),
            walks=walks,
            kind=ci.kind,
            aliases={"/workspace": str(self.repo)},
            start_dir=self.repo,
        ).run()

    def _read_ci(self, path: Path) -> CiFile | None:
        try:
            return read_ci_file(path, self.repo)
        except Exception as exc:  # a hostile CI file is one note, never the whole report
            return CiFile(path, "cloudbuild", "", problem=f"cannot read it ({type(exc).__name__})")

    def _pinned(
        self, functions: list[Path], scripts: list[ScriptResult], ci_files: list[CiFile]
    ) -> dict[str, str]:
        """The one path that ships each function, where that can be known: `[validate]
        deploy_paths` first, then CI (a workflow that runs a deploy script, or a Cloud
        Build file that deploys the function). A function CI ships two ways is not pinned."""
        by_script = {s.script.resolve(): s for s in scripts if s.kind == "script"}
        shipped: dict[str, set[str]] = {}
        for folder in functions:
            real = folder.resolve()
            for ci in ci_files:
                for run in ci.runs_scripts:
                    result = by_script.get(run)
                    if result and any(self._ships(d, folder, real) for d in result.deploys):
                        shipped.setdefault(folder.name, set()).add(f"script:{self._rel(run)}")
            for result in scripts:
                if result.kind == "cloudbuild" and any(
                    self._ships(d, folder, real) for d in result.deploys
                ):
                    shipped.setdefault(folder.name, set()).add(self._path_name(result))
        pins = {name: next(iter(paths)) for name, paths in shipped.items() if len(paths) == 1}
        pins.update(self.settings.deploy_paths)
        return pins

    def _start_prefetch(self) -> None:
        """Send the modules the bare folders' uploads probably import to a worker, which
        analyses them while this process evaluates the deploy scripts (prefetch.py)."""
        version = runtime_version(self.settings.runtime)
        feature = version if version is not None and version < HOST else None
        tag = f"host{feature or HOST}"
        folders = discover_functions(self.repo, self.settings.function_globs)
        if len(folders) >= BOOT_WORKER_AT:
            self._prefetcher.boot()
        for folder in folders:
            self._want(self._upload(folder).tree, tag, feature)
        self._prefetcher.start()

    def _want(self, tree: PackageTree, tag: str, feature: tuple[int, int] | None) -> None:
        for path in likely_closure(tree, memo=self._import_lines):
            entry = tree.files[path]
            digest = self._digest(entry)
            if digest in ("unreadable",) or digest.startswith("broken:"):
                continue
            if self.cache.peek(digest, tag) is None:
                data = entry.read()
                if data is not None:
                    self._prefetcher.want(f"{tag}:{digest}", entry.shown, data, feature)

    def _prefetch_packages(self, packages: list[Package]) -> None:
        """The second wave: what the script-built packages probably import, queued from the
        last package to the first, so that the worker and this process, which checks from
        the first, meet in the middle."""
        for package in reversed(packages):
            version = runtime_version(package.runtime)
            feature = version if version is not None and version < HOST else None
            self._want(package.tree, f"host{feature or HOST}", feature)
        self._prefetcher.start(chunk_size=6)

    def _upload(self, folder: Path) -> Upload:
        if folder not in self._uploads:
            self._uploads[folder] = gcloud_upload(folder, self.repo)
        return self._uploads[folder]

    def _path_name(self, script: ScriptResult) -> str:
        """A deploy path's name: `script:bin/x.sh`, `cloudbuild:cloudbuild.yaml`, and a
        Cloud Build file read through a trigger names it (`... via trigger deploy-x (...)`)."""
        name = f"{script.kind}:{self._rel(script.script)}"
        return f"{name} via {script.via}" if script.via else name

    def _rel(self, path: Path | str) -> str:
        text = str(path)
        prefix = str(self.repo).rstrip("/") + "/"
        return text[len(prefix) :] if text.startswith(prefix) else text

    def _functions(self, scripts: list[ScriptResult]) -> list[Path]:
        """Folders matching the globs, and every real folder with a main.py a script deploys."""
        found = dict.fromkeys(discover_functions(self.repo, self.settings.function_globs))
        for script in scripts:
            for deploy in script.deploys:
                folder = self._deployed_folder(deploy)
                if folder is not None:
                    found.setdefault(folder)
        return sorted(found, key=lambda p: (p.name, str(p)))

    def _deployed_folder(self, deploy: Deploy) -> Path | None:
        """The repository folder whose code a deploy ships."""
        key = id(deploy)
        if key not in self._deployed:
            self._deployed[key] = (deploy, self._find_deployed_folder(deploy))
        return self._deployed[key][1]

    def _find_deployed_folder(self, deploy: Deploy) -> Path | None:
        if isinstance(deploy.source, Unknown):
            return None
        if deploy.package is None:
            folder = Path(deploy.source)
            real = folder.resolve()
            if (real == self.repo or self.repo in real.parents) and (folder / "main.py").is_file():
                return folder
            return None
        main = deploy.package.files.get("main.py") if deploy.package is not None else None
        if main is not None and main.real is not None:
            folder = Path(main.real).parent
            if self.repo in folder.parents:
                return self.repo / folder.relative_to(self.repo)
        return None

    # --- deploy paths --------------------------------------------------------------------------

    def _paths(self, folder: Path, scripts: list[ScriptResult]) -> list[_DeployPath]:
        real_folder = folder.resolve()
        scripted: list[tuple[ScriptResult, list[Deploy]]] = []
        for script in scripts:
            deploys = [d for d in script.deploys if self._ships(d, folder, real_folder)]
            if deploys or any(self._aborts_for(a.copied_from, real_folder) for a in script.aborts):
                scripted.append((script, deploys))
        entry_points = [
            d.entry_point for _, ds in scripted for d in ds if isinstance(d.entry_point, str)
        ]
        runtimes = [d.runtime for _, ds in scripted for d in ds if isinstance(d.runtime, str)]
        upload = self._upload(folder)
        source = _DeployPath(
            "source",
            [
                _Outcome(
                    (),
                    Package(
                        folder.name,
                        folder,
                        "source",
                        upload.tree,
                        entry_points[0] if entry_points else None,
                        runtimes[0] if runtimes else self.settings.runtime,
                        dangling=upload.dangling,
                    ),
                )
            ],
        )
        paths = [source]
        for script, deploys in scripted:
            paths.append(self._script_path(folder, real_folder, script, deploys))
        return paths

    def _ships(self, deploy: Deploy, folder: Path, real_folder: Path) -> bool:
        target = self._deployed_folder(deploy)
        if target is not None:
            return self._real(target) == real_folder
        if isinstance(deploy.source, Unknown) and isinstance(deploy.name, str):
            return _same_name(deploy.name, folder.name)
        return False

    def _real(self, path: Path) -> Path:
        known = self._reals.get(path)
        if known is None:
            known = self._reals[path] = path.resolve()
        return known

    @staticmethod
    def _aborts_for(copied_from: frozenset[str], real_folder: Path) -> bool:
        text = str(real_folder)
        return any(p == text or p.startswith(text + "/") for p in copied_from)

    def _script_path(
        self, folder: Path, real_folder: Path, script: ScriptResult, deploys: list[Deploy]
    ) -> _DeployPath:
        name = self._path_name(script)
        path = _DeployPath(name, [])
        for deploy in deploys:
            if isinstance(deploy.source, Unknown):
                path.notes.append(
                    self._note(
                        folder,
                        name,
                        script,
                        deploy.line,
                        f"the deploy at line {deploy.line} uploads a folder that depends on "
                        f"{deploy.source.why}; its package is not modelled",
                    )
                )
                continue
            runtime = deploy.runtime if isinstance(deploy.runtime, str) else self.settings.runtime
            entry = deploy.entry_point if isinstance(deploy.entry_point, str) else None
            if deploy.package is not None:
                tree, dangling = resolve_copied_links(deploy.package, self.repo)
                built_by: Path | None = script.script
                incomplete = list(deploy.package.incomplete)
            else:
                upload = self._upload(Path(deploy.source))
                tree, dangling, built_by, incomplete = upload.tree, upload.dangling, None, []
                path.same_as_source = Path(deploy.source).resolve() == real_folder
            package = Package(folder.name, folder, name, tree, entry, runtime, built_by, dangling)
            path.outcomes.append(_Outcome(deploy.labels, package, incomplete=incomplete))
        for abort in script.aborts:
            if self._aborts_for(abort.copied_from, real_folder) or (
                not abort.copied_from and deploys
            ):
                path.outcomes.append(_Outcome(abort.labels, None, abort=(abort.line, abort.reason)))
        for issue in script.issues:
            if issue.kind == "missing-source":
                silenced = " (its errors are silenced, so the deploy goes on without it)"
                path.notes.append(
                    Finding(  # whether the package starts is the import check's to say
                        Rule.DEPLOY_SOURCE_MISSING,
                        Severity.WARNING,
                        folder.name,
                        name,
                        self._rel(script.script),
                        issue.line,
                        None,
                        issue.message + (silenced if issue.silenced else ""),
                        self._moved_hint(issue.path),
                    )
                )
            elif issue.kind == "outside-repo":
                path.notes.append(
                    Finding(
                        Rule.OUTSIDE_REPO,
                        Severity.WARNING,
                        folder.name,
                        name,
                        self._rel(script.script),
                        issue.line,
                        None,
                        issue.message,
                        "ship files from the repository, so that what deploys is reviewed",
                    )
                )
            elif issue.kind == "failed-step":
                path.notes.append(
                    Finding(
                        Rule.BROKEN_SYMLINK
                        if "points nowhere" in issue.message
                        else Rule.DEPLOY_SOURCE_MISSING,
                        Severity.WARNING,
                        folder.name,
                        name,
                        self._rel(script.script),
                        issue.line,
                        None,
                        issue.message,
                        "fix the link or the copy" if "points nowhere" in issue.message else "",
                    )
                )
            else:
                path.notes.append(self._note(folder, name, script, issue.line, issue.message))
        return path

    def _note(
        self, folder: Path, variant: str, script: ScriptResult, line: int, message: str
    ) -> Finding:
        return Finding(
            Rule.NOT_EVALUATED,
            Severity.INFO,
            folder.name,
            variant,
            self._rel(script.script),
            line,
            None,
            message,
        )

    def _moved_hint(self, missing: str | None) -> str:
        if not missing:
            return ""
        name = Path(missing).name
        candidates = [
            self._rel(p) for p in (self.repo / "shared" / name, self.repo / name) if p.is_dir()
        ]
        if candidates:
            return f"copy {candidates[0]} instead (the path no longer exists)"
        return "remove the copy, or restore the path"

    # --- judging -------------------------------------------------------------------------------

    def _judge(self, folder: Path, paths: list[_DeployPath]) -> list[Finding]:
        findings: list[Finding] = []
        source_keys: set[tuple[object, ...]] = set()
        for deploy_path in paths:
            merged = self._merge_outcomes(deploy_path, folder.name)
            if deploy_path.name == "source":
                source_keys = {_key(f) for f in merged}
            elif deploy_path.same_as_source:
                merged = [f for f in merged if _key(f) not in source_keys]
            findings.extend(deploy_path.notes)
            findings.extend(merged)
        pinned = self._pins.get(folder.name)
        if pinned:
            shipped = {_key(f) for f in findings if f.variant == pinned}
            # A trigger says how CI ships the function; a deploy script still deploys it
            # when someone runs it, so only the bare folder's errors are not how it ships.
            by_trigger = " via trigger " in pinned
            findings = [
                f
                if f.variant == pinned
                or f.severity is not Severity.ERROR
                or _key(f) in shipped
                or (by_trigger and f.variant != "source")
                else replace(
                    f,
                    severity=Severity.WARNING,
                    message=f"{f.message} (not how it ships: {pinned} ships it"
                    + (
                        ", per [validate] deploy_paths)"
                        if folder.name in self.settings.deploy_paths
                        else ", per the repository's CI)"
                    ),
                )
                for f in findings
            ]
        return _dedupe(findings)

    def _merge_outcomes(self, deploy_path: _DeployPath, function: str) -> list[Finding]:
        """Findings that hold on every outcome keep their severity; the rest are warnings
        that name the branches taken to reach them. A script that stops before it deploys
        is a finding of `function`, the folder it ships (it built no package to name it)."""
        outcomes = deploy_path.outcomes
        if not outcomes:
            return []
        per_outcome: list[list[Finding]] = []
        for outcome in outcomes:
            if outcome.abort is not None:
                line, reason = outcome.abort
                per_outcome.append(
                    [
                        Finding(
                            Rule.DEPLOY_ABORTS,
                            Severity.ERROR,
                            function,
                            deploy_path.name,
                            deploy_path.name.removeprefix("script:"),
                            line,
                            None,
                            f"the script stops before it deploys: {reason}, and `set -e` "
                            "ends the script",
                            "fix the copy, or make the step tolerate it (|| true) if the "
                            "package does not need it",
                        )
                    ]
                )
                continue
            assert outcome.package is not None
            found = self._check(outcome.package)
            if outcome.incomplete:
                found = [
                    replace(f, severity=Severity.WARNING)
                    if f.rule in (Rule.MISSING_MODULE, Rule.MISSING_ENTRY_POINT)
                    and f.severity is Severity.ERROR
                    else f
                    for f in found
                ]
                found.append(
                    Finding(
                        Rule.NOT_EVALUATED,
                        Severity.INFO,
                        outcome.package.function,
                        deploy_path.name,
                        deploy_path.name.removeprefix("script:"),
                        None,
                        None,
                        "the package is not modelled in full, so missing modules are warnings: "
                        + "; ".join(dict.fromkeys(outcome.incomplete)),
                    )
                )
            per_outcome.append(found)
        function = next((o.package.function for o in outcomes if o.package), "")
        for findings in per_outcome:
            for index, finding in enumerate(findings):
                findings[index] = replace(finding, function=function or finding.function)
        if len(per_outcome) == 1:
            return per_outcome[0]
        common = set(outcomes[0].labels)
        for outcome in outcomes[1:]:
            common &= set(outcome.labels)
        merged: dict[tuple[object, ...], tuple[Finding, list[int]]] = {}
        for index, findings in enumerate(per_outcome):
            for finding in findings:
                key = _key(finding)
                if key not in merged:
                    merged[key] = (finding, [])
                if index not in merged[key][1]:
                    merged[key][1].append(index)
        out: list[Finding] = []
        for finding, where in merged.values():
            if len(where) == len(outcomes) or finding.severity is not Severity.ERROR:
                out.append(finding)
                continue
            labels = [
                " and ".join(label for label in outcomes[i].labels if label not in common)
                or "one way through the script"
                for i in where
            ]
            shown = "; or ".join(dict.fromkeys(labels[:3]))
            more = f" (and {len(labels) - 3} more)" if len(labels) > 3 else ""
            out.append(
                replace(
                    finding,
                    severity=Severity.WARNING,
                    message=f"{finding.message} [on {len(where)} of {len(outcomes)} paths "
                    f"through the script: when {shown}{more}]",
                )
            )
        return out

    # --- one package ---------------------------------------------------------------------------

    def _check(self, package: Package) -> list[Finding]:
        fingerprint = self._fingerprint(package)
        cached = self.cache.get_results(fingerprint)
        if cached is not None:
            self.packages_cached += 1
            return list(cached)
        findings = check_package(package, self.repo, self._facts)
        self.cache.put_results(fingerprint, findings)
        return findings

    def _fingerprint(self, package: Package) -> str:
        """Everything a package's findings depend on: paths, contents, entry point, runtime."""
        digest = hashlib.sha256()
        digest.update(f"{RESULTS_VERSION}|{self._rel(package.folder)}|{package.variant}|".encode())
        digest.update(f"{package.entry_point}|{package.runtime}|{package.built_by}|".encode())
        digest.update(repr(package.dangling).encode())
        for path in sorted(package.tree.files):
            entry = package.tree.files[path]
            digest.update(f"|{path}|{entry.shown}|{self._digest(entry)}".encode())
        return digest.hexdigest()

    def _digest(self, entry: Entry) -> str:
        if entry.broken is not None:
            return f"broken:{entry.broken}"
        if entry.real is not None and entry.real in self._digest_by_real:
            return self._digest_by_real[entry.real]
        data = entry.read()
        digest = hashlib.sha256(data).hexdigest() if data is not None else "unreadable"
        if entry.real is not None:
            self._digest_by_real[entry.real] = digest
        return digest

    def _facts(self, entry: Entry, runtime: str) -> tuple[ModuleFacts | None, str | None]:
        """A module's facts under a runtime, and why it could not be judged (or None).

        A module is analysed by this Python (with the runtime's feature version when the
        runtime is older). Python keeps its grammar backward compatible, so a module valid
        here is valid for a newer runtime too; only a module this Python rejects is judged
        again by an interpreter of the newer version (runtime.py), when one is found."""
        version = runtime_version(runtime)
        feature = version if version is not None and version < HOST else None
        key = (entry.real or "", str(feature))
        if entry.real is not None and key in self._facts_by_real:
            facts = self._facts_by_real[key]
        else:
            facts = self._analyse(entry, f"host{feature or HOST}", feature)
            if entry.real is not None:
                self._facts_by_real[key] = facts
        if facts is None or facts.syntax_error is None or version is None or version <= HOST:
            return facts, None
        if runtime not in self._interpreters:
            self._interpreters[runtime] = find_interpreter(version, self.settings.interpreters)
        interpreter = self._interpreters[runtime]
        if interpreter is None:
            return facts, f"no Python {version[0]}.{version[1]} was found"
        data = entry.read() or b""
        digest = hashlib.sha256(data).hexdigest()
        tag = f"py{version}"
        newer = self.cache.get(digest, tag)
        if newer is None:
            newer = analyse_batch(interpreter, {digest: (entry.shown, data)}).get(digest)
            if newer is None:
                return facts, f"Python {version[0]}.{version[1]} ({interpreter}) did not answer"
            self.cache.put(digest, newer, tag)
        return newer, None

    def _analyse(
        self, entry: Entry, tag: str, feature: tuple[int, int] | None
    ) -> ModuleFacts | None:
        digest = self._digest(entry)
        if digest == "unreadable" or digest.startswith("broken:"):
            return None
        facts = self.cache.get(digest, tag)
        if facts is None:
            facts = self._prefetcher.take(f"{tag}:{digest}")
            if facts is None:
                data = entry.read()
                if data is None:
                    return None
                facts = analyse_source(data, entry.shown, feature)
            self.cache.put(digest, facts, tag)
        return facts


def _same_name(deployed: str, folder: str) -> bool:
    """A function name as deployed (`phase3-to-phase4`) and its folder (`phase3_to_phase4`)."""
    return deployed.replace("-", "_").lower() == folder.replace("-", "_").lower()


def _key(finding: Finding) -> tuple[object, ...]:
    return (finding.rule, finding.path, finding.line, finding.module, finding.message)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[object, ...]] = set()
    unique = []
    for finding in findings:
        key = (finding.variant, *_key(finding))
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def settings_from(options: ValidateOptions) -> ValidateSettings:
    """ValidateSettings from the config's `[validate]` table."""
    return ValidateSettings(
        function_globs=tuple(options.function_globs),
        runtime=options.runtime,
        interpreters=dict(options.interpreters),
        deploy_paths=dict(options.deploy_paths),
    )


def validate_repo(
    repo: Path,
    only: str | None = None,
    settings: ValidateSettings | None = None,
    cache: FactsCache | None = None,
) -> ValidationReport:
    """Validate a repo's deployment packages (see module docstring)."""
    return Validator(repo, settings, cache).run(only)


__all__ = ["PackageTree", "ValidateSettings", "Validator", "validate_repo"]
