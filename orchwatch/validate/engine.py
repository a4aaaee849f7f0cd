"""The validator: discover functions, model each package variant, follow imports, report.

For each function folder (a folder matching the function globs that holds main.py):

- variant `source`: the folder with links followed, as `gcloud functions deploy
  --source=<folder>` uploads it;
- variant `script:<path>`: the package each deploy script that deploys the function
  builds (see `shell.py`).

Each variant's import closure is followed from main.py with Python's own rules
(importing a.b.c runs a/__init__.py and a/b/__init__.py first; `from x import y`
may import the submodule x.y; relative imports resolve against the importing
package), and each import resolves inside the package, to the standard library
or to a declared requirement.
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchwatch.validate.cache import FactsCache
from orchwatch.validate.imports import Context, ImportSite, ModuleFacts, analyse_source
from orchwatch.validate.model import Finding, FunctionResult, Rule, Severity, ValidationReport
from orchwatch.validate.requirements import (
    distributions_for,
    installed_signature,
    is_declared,
    normalize,
    parse_requirements,
)
from orchwatch.validate.shell import Deploy, ScriptResult, evaluate_script
from orchwatch.validate.tree import Entry, PackageTree, walk_folder

DEFAULT_FUNCTION_GLOBS = ("orchestration/cloud_functions/*/",)
DEFAULT_SCRIPT_GLOBS = ("bin/**/deploy*.sh",)
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
RESULTS_VERSION = 1
"""Bump when the checks change, so cached package results are not reused."""


@dataclass(frozen=True)
class ValidateSettings:
    """Where to look; defaults fit the pipeline's repo layout."""

    function_globs: Sequence[str] = DEFAULT_FUNCTION_GLOBS
    script_globs: Sequence[str] = DEFAULT_SCRIPT_GLOBS


@dataclass
class _Variant:
    name: str
    tree: PackageTree
    entry_point: str | None
    script: Path | None = None
    notes: list[Finding] = field(default_factory=list)


def discover_functions(repo: Path, globs: Iterable[str]) -> list[Path]:
    """Function folders: glob matches that are folders holding a main.py."""
    found: dict[Path, None] = {}
    for pattern in globs:
        for path in sorted(repo.glob(pattern.rstrip("/"))):
            if path.is_dir() and (path / "main.py").is_file():
                found[path] = None
    return list(found)


def discover_scripts(repo: Path, globs: Iterable[str]) -> list[Path]:
    """Deploy scripts matching the globs."""
    found: dict[Path, None] = {}
    for pattern in globs:
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
        self._facts_by_real: dict[str, ModuleFacts | None] = {}
        self._digest_by_real: dict[str, str] = {}
        self.packages_cached = 0

    # --- the run -------------------------------------------------------------------------------

    def run(self, only: str | None = None) -> ValidationReport:
        """Validate every function (or only the one named `only`).

        Raises:
            LookupError: `only` names no function.
        """
        started = time.perf_counter()
        functions = discover_functions(self.repo, self.settings.function_globs)
        if only is not None:
            functions = [f for f in functions if f.name == only]
            if not functions:
                raise LookupError(only)
        scripts = [
            evaluate_script(path, self.repo)
            for path in discover_scripts(self.repo, self.settings.script_globs)
        ]
        results: list[FunctionResult] = []
        findings: list[Finding] = []
        for folder in functions:
            function_findings: list[Finding] = []
            variants = self._variants(folder, scripts)
            for variant in variants:
                function_findings.extend(variant.notes)
                function_findings.extend(self._check(folder, variant))
            function_findings = _dedupe(function_findings, variants)
            findings.extend(function_findings)
            results.append(
                FunctionResult(
                    name=folder.name,
                    path=self._rel(folder),
                    variants=tuple(v.name for v in variants),
                    ok=not any(f.severity is Severity.ERROR for f in function_findings),
                )
            )
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

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.repo).as_posix()
        except ValueError:
            return path.as_posix()

    # --- variants ------------------------------------------------------------------------------

    def _variants(self, folder: Path, scripts: list[ScriptResult]) -> list[_Variant]:
        name = folder.name
        source_tree = PackageTree()
        files, broken = walk_folder(folder, self.repo, follow_links=True)
        for rel, entry in files:
            source_tree.add(rel, entry)
        for rel, link, target in broken:
            source_tree.add(rel, Entry(self._rel(link), broken=target))
        entry_points: list[str] = []
        variants: list[_Variant] = []
        real_folder = folder.resolve()
        for script in scripts:
            for deploy in script.deploys:
                if not self._deploys(script, deploy, real_folder):
                    continue
                if deploy.entry_point:
                    entry_points.append(deploy.entry_point)
                variant = _Variant(
                    f"script:{self._rel(script.script)}",
                    script.package_for(deploy) or source_tree,
                    deploy.entry_point,
                    script.script,
                )
                variant.notes.extend(self._script_findings(name, variant.name, script))
                variants.append(variant)
        source = _Variant("source", source_tree, entry_points[0] if entry_points else None)
        return [source, *variants]

    def _deploys(self, script: ScriptResult, deploy: Deploy, folder: Path) -> bool:
        if deploy.source and not deploy.source.startswith("/__build__"):
            return Path(deploy.source).resolve() == folder
        return any(p == folder or folder in p.parents for p in script.copied_from)

    def _script_findings(self, function: str, variant: str, script: ScriptResult) -> list[Finding]:
        shown = self._rel(script.script)
        out: list[Finding] = []
        for issue in script.issues:
            if issue.kind == "missing-source":
                silenced = (
                    " (its errors are silenced, so the deploy goes on without it)"
                    if (issue.silenced)
                    else ""
                )
                out.append(
                    Finding(
                        Rule.DEPLOY_SOURCE_MISSING,
                        Severity.ERROR,
                        function,
                        variant,
                        shown,
                        issue.line,
                        None,
                        f"{issue.message}{silenced}",
                        self._moved_hint(issue.path),
                    )
                )
            elif issue.kind == "broken-link":
                out.append(
                    Finding(
                        Rule.BROKEN_SYMLINK,
                        Severity.ERROR,
                        function,
                        variant,
                        issue.path or shown,
                        None,
                        None,
                        issue.message,
                        "fix or remove the link",
                    )
                )
            else:
                out.append(
                    Finding(
                        Rule.NOT_EVALUATED,
                        Severity.INFO,
                        function,
                        variant,
                        shown,
                        issue.line,
                        None,
                        issue.message,
                    )
                )
        return out

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

    # --- checks --------------------------------------------------------------------------------

    def _facts(self, entry: Entry) -> ModuleFacts | None:
        if entry.real is not None and entry.real in self._facts_by_real:
            return self._facts_by_real[entry.real]
        data = entry.read()
        facts = None
        if data is not None:
            digest = hashlib.sha256(data).hexdigest()
            facts = self.cache.get(digest)
            if facts is None:
                facts = analyse_source(data, entry.shown)
                self.cache.put(digest, facts)
        if entry.real is not None:
            self._facts_by_real[entry.real] = facts
        return facts

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

    def _fingerprint(self, folder: Path, variant: _Variant) -> str:
        """A hash of everything a package's findings depend on: its files' paths and
        contents, the entry point, and which distributions are installed here."""
        digest = hashlib.sha256()
        digest.update(f"{RESULTS_VERSION}|{self._rel(folder)}|{variant.name}|".encode())
        digest.update(f"{variant.entry_point}|{installed_signature()}".encode())
        for path in sorted(variant.tree.files):
            entry = variant.tree.files[path]
            digest.update(f"|{path}|{entry.shown}|{self._digest(entry)}".encode())
        return digest.hexdigest()

    def _check(self, folder: Path, variant: _Variant) -> list[Finding]:
        fingerprint = self._fingerprint(folder, variant)
        cached = self.cache.get_results(fingerprint)
        if cached is not None:
            self.packages_cached += 1
            return cached
        findings = _PackageCheck(self, folder, variant).run()
        self.cache.put_results(fingerprint, findings)
        return findings


class _PackageCheck:
    """Follows one package variant's import closure from main.py."""

    def __init__(self, validator: Validator, folder: Path, variant: _Variant) -> None:
        self.v = validator
        self.folder = folder
        self.variant = variant
        self.tree = variant.tree
        self.function = folder.name
        self.declared = self._declared()
        self.findings: list[Finding] = []

    def _declared(self) -> set[str]:
        entry = self.tree.files.get("requirements.txt")
        if entry is not None and entry.content is not None:
            names = set()
            for line in entry.content.decode(errors="replace").splitlines():
                token = line.split("#", 1)[0].strip().split(";")[0]
                for sep in "<>=!~[ @":
                    token = token.split(sep, 1)[0]
                if token:
                    names.add(normalize(token))
            return names
        if entry is not None and entry.real is not None:
            return parse_requirements(Path(entry.real))
        return set()

    def finding(
        self,
        rule: Rule,
        severity: Severity,
        path: str,
        line: int | None,
        module: str | None,
        message: str,
        hint: str = "",
    ) -> None:
        self.findings.append(
            Finding(
                rule, severity, self.function, self.variant.name, path, line, module, message, hint
            )
        )

    def run(self) -> list[Finding]:
        for path, entry in self.tree.files.items():
            if entry.broken is not None:
                self.finding(
                    Rule.BROKEN_SYMLINK,
                    Severity.ERROR,
                    entry.shown,
                    None,
                    None,
                    f"link {path} -> {entry.broken} points nowhere",
                    self._link_hint(entry),
                )
        main = self.tree.files.get("main.py")
        if main is None or main.broken is not None:
            self.finding(
                Rule.MISSING_ENTRY_POINT,
                Severity.ERROR,
                self.v._rel(self.folder),
                None,
                None,
                "main.py is not in the package",
                "copy main.py into the package root",
            )
            return self.findings
        self._follow(main)
        return self.findings

    def _link_hint(self, entry: Entry) -> str:
        link = self.v.repo / entry.shown
        target_dir = (link.parent / entry.broken).parent if entry.broken else link.parent
        if target_dir.is_dir():
            names = [p.name for p in target_dir.iterdir()]
            close = difflib.get_close_matches(Path(entry.broken or "").name, names, n=1)
            if close:
                return f"did you mean {close[0]}? fix the link or remove it"
        return "fix the link's target or remove the link"

    def _follow(self, main: Entry) -> None:
        best: dict[str, Context] = {}
        # Eager imports first, so a module reached both eagerly and lazily is judged eager.
        queue: list[tuple[Context, int, str]] = [(Context.EAGER, 0, "main.py")]
        pushed = 0
        while queue:
            context, _, path = heapq.heappop(queue)
            if path in best and best[path] <= context:
                continue
            best[path] = context
            entry = self.tree.files[path]
            facts = self.v._facts(entry)
            if facts is None:
                continue
            if facts.syntax_error is not None:
                line, message = facts.syntax_error
                self.finding(
                    Rule.SYNTAX_ERROR,
                    _severity(context),
                    entry.shown,
                    line,
                    _module_name(path),
                    f"{_module_name(path)} does not parse: {message}",
                    "fix the syntax error",
                )
                continue
            entry_point = self.variant.entry_point
            if path == "main.py" and entry_point and entry_point not in facts.functions:
                self.finding(
                    Rule.MISSING_ENTRY_POINT,
                    Severity.ERROR,
                    entry.shown,
                    None,
                    None,
                    f"entry point {self.variant.entry_point!r} is not a top-level function "
                    "of main.py",
                    f"define def {self.variant.entry_point}(...) at the top level of main.py, "
                    "or fix --entry-point",
                )
            for site in facts.imports:
                effective = Context(max(context, site.context))
                for target in self._resolve(path, entry, site, effective):
                    if target not in best or best[target] > effective:
                        pushed += 1
                        heapq.heappush(queue, (effective, pushed, target))

    def _resolve(self, path: str, entry: Entry, site: ImportSite, context: Context) -> list[str]:
        """Files the import runs (to follow), reporting what does not resolve."""
        if site.level:
            package = _package_of(path).split(".") if _package_of(path) else []
            drop = site.level - 1
            if drop > len(package):
                self._missing(
                    entry,
                    site,
                    context,
                    "." * site.level + site.module,
                    "relative import beyond the top-level package",
                )
                return []
            base = package[: len(package) - drop]
            absolute = ".".join([*base, *([site.module] if site.module else [])])
        else:
            absolute = site.module
        if not absolute:
            return []
        top = absolute.split(".")[0]
        if site.level == 0 and self.tree.module_file(top) is None:
            self._external(entry, site, context, absolute)
            return []
        files: list[str] = []
        parts = absolute.split(".")
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            found = self.tree.module_file(prefix)
            if found is None:
                self._missing(entry, site, context, prefix, None)
                return files
            if not found.endswith("/"):
                files.append(found)
            if found.endswith(".py") and not found.endswith("__init__.py") and end < len(parts):
                self._missing(
                    entry,
                    site,
                    context,
                    ".".join(parts[: end + 1]),
                    f"{prefix} is a module, not a package",
                )
                return files
        package_dir = absolute.replace(".", "/")
        if not self.tree.is_dir(package_dir):
            return files
        init = self.tree.files.get(f"{package_dir}/__init__.py")
        init_facts = self.v._facts(init) if init is not None else None
        for name in site.names:
            if name == "*":
                continue
            sub = self.tree.module_file(f"{absolute}.{name}")
            if sub is not None:
                if not sub.endswith("/"):
                    files.append(sub)
                continue
            defined = init_facts.defines if init_facts is not None else ()
            if (
                init_facts is not None
                and init_facts.syntax_error is None
                and ("*" not in defined and name not in defined)
            ):
                self._missing(
                    entry,
                    site,
                    context,
                    f"{absolute}.{name}",
                    f"{name!r} is neither a submodule nor defined in {absolute}",
                )
        return files

    def _external(self, entry: Entry, site: ImportSite, context: Context, module: str) -> None:
        top = module.split(".")[0]
        if top in STDLIB:
            return
        # `from google.cloud import storage` imports google.cloud.storage: judge each name.
        candidates = [f"{module}.{name}" for name in site.names if name != "*"] or [module]
        reported: set[str] = set()
        for candidate in candidates:
            distributions = distributions_for(candidate)
            if not distributions:
                if self._declared_by_name(top):
                    continue
                self._missing(
                    entry,
                    site,
                    context,
                    candidate,
                    "not in the package, not the "
                    "standard library, and no declared requirement provides it",
                )
                return
            if is_declared(distributions, self.declared) or distributions[0] in reported:
                continue
            reported.add(distributions[0])
            requirement = self.v._rel(self.folder / "requirements.txt")
            self.finding(
                Rule.MISSING_REQUIREMENT,
                _severity(context),
                entry.shown,
                site.line,
                candidate,
                f"imports {candidate} ({_how(context)}), but {distributions[0]} is not in "
                "requirements.txt",
                f"add {distributions[0]} to {requirement}",
            )

    def _declared_by_name(self, top: str) -> bool:
        """An unknown import is trusted when a declared distribution carries its name."""
        if top == "google":  # a namespace shared by dozens of distributions: never guess
            return False
        name = normalize(top)
        return name in self.declared or any(d.startswith(f"{name}-") for d in self.declared)

    def _missing(
        self, entry: Entry, site: ImportSite, context: Context, module: str, why: str | None
    ) -> None:
        self.finding(
            Rule.MISSING_MODULE,
            _severity(context),
            entry.shown,
            site.line,
            module,
            f"No module named {module!r} ({_how(context)}" + (f"; {why})" if why else ")"),
            self._module_hint(module),
        )

    def _module_hint(self, module: str) -> str:
        rel = module.replace(".", "/")
        for candidate in (f"{rel}.py", f"{rel}/__init__.py"):
            in_repo = self.v.repo / candidate
            if not in_repo.is_file():
                continue
            if self.variant.script is None:
                link = self.folder / candidate
                target = os.path.relpath(in_repo, link.parent)
                return f"add a symlink {candidate} -> {target}"
            parent = Path(candidate).parent.as_posix()
            return f'copy {candidate} into the package: rsync -aL {parent}/ "$BUILD_DIR/{parent}/"'
        return f"add {rel}.py to the package, or remove the import"


def _package_of(path: str) -> str:
    """The package a module file belongs to: a/b/c.py -> a.b, a/b/__init__.py -> a.b."""
    return ".".join(path.split("/")[:-1])


def _module_name(path: str) -> str:
    name = path[:-3] if path.endswith(".py") else path
    return name.removesuffix("/__init__").replace("/", ".")


def _severity(context: Context) -> Severity:
    return Severity.ERROR if context is Context.EAGER else Severity.WARNING


def _how(context: Context) -> str:
    return {
        Context.EAGER: "imported at start-up",
        Context.OPTIONAL: "optional: inside try/except ImportError",
        Context.LAZY: "lazy: inside a function",
    }[context]


def _dedupe(findings: list[Finding], variants: list[_Variant]) -> list[Finding]:
    """Drop repeats; a script that uploads the function folder itself repeats the source
    variant's findings, which are reported once, under `source`."""
    same_tree = {v.name: "source" for v in variants if v.tree is variants[0].tree}
    seen: set[tuple[object, ...]] = set()
    unique = []
    for finding in findings:
        tree = same_tree.get(finding.variant, finding.variant)
        key = (tree, finding.rule, finding.path, finding.line, finding.module, finding.message)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


def validate_repo(
    repo: Path,
    only: str | None = None,
    settings: ValidateSettings | None = None,
    cache: FactsCache | None = None,
) -> ValidationReport:
    """Validate a repo's deployment packages (see module docstring)."""
    return Validator(repo, settings, cache).run(only)
