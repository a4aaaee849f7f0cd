"""One uploaded package: does it start? Follows main.py's import closure.

Python's own rules: importing a.b.c runs a/__init__.py and a/b/__init__.py first;
`from x import y` may import the submodule x.y; relative imports resolve against the
importing package. Each import resolves inside the package, to the standard library,
or to a distribution that requirements.txt declares or that a declared one brings
along. Each module is judged under the function's runtime (see runtime.py).
"""

from __future__ import annotations

import difflib
import heapq
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchwatch.validate.imports import Context, ImportSite, ModuleFacts
from orchwatch.validate.model import Finding, Rule, Severity
from orchwatch.validate.requirements import (
    RUNTIME_PROVIDES,
    distributions_for,
    fully_known,
    is_declared,
    normalize,
    parse_requirements,
    provided_by,
)
from orchwatch.validate.tree import Entry, PackageTree

STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


@dataclass
class Package:
    """A package as one deploy path uploads it."""

    function: str
    folder: Path
    """The function's folder in the repository (for hints)."""
    variant: str
    tree: PackageTree
    entry_point: str | None
    runtime: str
    built_by: Path | None = None
    """The script that assembled it; None when it is the folder as it stands."""
    dangling: list[tuple[str, str]] = field(default_factory=list)
    """Links that stop the upload: (path in the package, target)."""
    upload: str = "gcloud"
    """Whose behaviour the upload follows, for the messages."""


FactsFor = Callable[[Entry, str], "tuple[ModuleFacts | None, str | None]"]
"""(entry, runtime) -> (facts, why the runtime could not be judged or None)."""


def check_package(package: Package, repo: Path, facts_for: FactsFor) -> list[Finding]:
    """The findings of one package: upload failures, broken links, the import closure."""
    return _Check(package, repo, facts_for).run()


class _Check:
    def __init__(self, package: Package, repo: Path, facts_for: FactsFor) -> None:
        self.p = package
        self.repo = repo
        self.tree = package.tree
        self.facts_for = facts_for
        self.outside_includes: list[str] = []
        """Requirement includes that lead out of the repository (not read)."""
        self.declared = self._declared() | RUNTIME_PROVIDES
        self.findings: list[Finding] = []
        self.absent_tops: set[str] = set()

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.repo).as_posix()
        except ValueError:
            return path.as_posix()

    def _declared(self) -> set[str]:
        entry = self.tree.files.get("requirements.txt")
        if entry is not None and entry.content is not None:
            names = set()
            for line in entry.content.decode(errors="replace").splitlines():
                token = line.split("#", 1)[0].strip().split(";")[0]
                for sep in "<>=!~[ @":
                    token = token.split(sep, 1)[0]
                if token and not token.startswith("-"):
                    names.add(normalize(token))
            return names
        if entry is not None and entry.real is not None:
            return parse_requirements(Path(entry.real), self.repo, self.outside_includes)
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
                rule, severity, self.p.function, self.p.variant, path, line, module, message, hint
            )
        )

    def run(self) -> list[Finding]:
        if self.p.dangling:
            path, target = self.p.dangling[0]
            entry = self.tree.files.get(path)
            more = f" (and {len(self.p.dangling) - 1} more)" if len(self.p.dangling) > 1 else ""
            self.finding(
                Rule.BROKEN_SYMLINK,
                Severity.ERROR,
                entry.shown if entry is not None else path,
                None,
                None,
                f"link {path} -> {target} points nowhere{more}: gcloud's upload stops on it "
                "(it reads every file it zips), so nothing deploys",
                self._link_hint(entry) if entry is not None else "fix or remove the link",
            )
        for path, entry in sorted(self.tree.files.items()):
            if entry.outside is not None:
                self.finding(
                    Rule.OUTSIDE_REPO,
                    Severity.WARNING,
                    entry.shown,
                    None,
                    None,
                    f"{path} leads to {entry.outside}, outside the repository: the upload "
                    "carries it, the validator does not read it",
                    "ship files from the repository, so that what deploys is reviewed",
                )
        for include in self.outside_includes:
            entry = self.tree.files["requirements.txt"]
            self.finding(
                Rule.OUTSIDE_REPO,
                Severity.WARNING,
                entry.shown,
                None,
                None,
                f"requirements.txt includes {include}, outside the repository: not read, so "
                "nothing it lists counts as declared (the deploy's pip cannot read it either)",
                "list the requirements in the function's own requirements.txt",
            )
        main = self.tree.files.get("main.py")
        if main is None or main.broken is not None:
            self.finding(
                Rule.MISSING_ENTRY_POINT,
                Severity.ERROR,
                self._rel(self.p.folder),
                None,
                None,
                "main.py is not in the package",
                "copy main.py into the package root",
            )
            return self.findings
        self._follow(main)
        return self.findings

    def _link_hint(self, entry: Entry) -> str:
        link = self.repo / entry.shown
        target_dir = (link.parent / entry.broken).parent if entry.broken else link.parent
        try:
            if target_dir.is_dir() and (
                target_dir.resolve() == self.repo or self.repo in target_dir.resolve().parents
            ):
                names = [p.name for p in target_dir.iterdir()]
                close = difflib.get_close_matches(Path(entry.broken or "").name, names, n=1)
                if close:
                    return f"did you mean {close[0]}? fix the link or remove it"
        except OSError:
            pass
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
            facts, unjudged = self.facts_for(entry, self.p.runtime)
            if facts is None:
                continue
            if facts.syntax_error is not None:
                line, message = facts.syntax_error
                if unjudged:
                    self.finding(
                        Rule.SYNTAX_ERROR,
                        Severity.WARNING,
                        entry.shown,
                        line,
                        _module_name(path),
                        f"cannot judge {_module_name(path)} for {self.p.runtime}: {unjudged}; "
                        f"the Python orchwatch runs on reports: {message}",
                        f"install python{self.p.runtime[6:7]}.{self.p.runtime[7:]} or set "
                        f"[validate.interpreters] {self.p.runtime}",
                    )
                else:
                    self.finding(
                        Rule.SYNTAX_ERROR,
                        _severity(context),
                        entry.shown,
                        line,
                        _module_name(path),
                        f"{_module_name(path)} does not compile under {self.p.runtime}: {message}",
                        "fix the syntax error",
                    )
                continue
            entry_point = self.p.entry_point
            if path == "main.py" and entry_point and entry_point not in facts.functions:
                defined = "*" in facts.defines or entry_point in facts.defines
                if not defined:
                    self.finding(
                        Rule.MISSING_ENTRY_POINT,
                        Severity.ERROR,
                        entry.shown,
                        None,
                        None,
                        f"entry point {entry_point!r} is not defined at the top level of main.py",
                        f"define def {entry_point}(...) at the top level of main.py, "
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
        init_facts = self.facts_for(init, self.p.runtime)[0] if init is not None else None
        for name in site.names:
            if name == "*":
                continue
            sub = self.tree.module_file(f"{absolute}.{name}")
            if sub is not None:
                if not sub.endswith("/"):
                    files.append(sub)
                continue
            defined = init_facts.defines if init_facts is not None else ()
            if init is None:  # a namespace package defines nothing but its submodules
                self.finding(
                    Rule.MISSING_MODULE,
                    _severity(context),
                    entry.shown,
                    site.line,
                    f"{absolute}.{name}",
                    f"cannot import name {name!r} from {absolute} ({_how(context)}): the "
                    f"package's {package_dir}/ has no __init__.py and no {name}.py",
                    self._module_hint(absolute),
                )
            elif (
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

    def _first_party(self, top: str) -> bool:
        """Whether the repository has a top-level package or module of this name."""
        folder = self.repo / top
        return (
            (folder / "__init__.py").is_file()
            or (self.repo / f"{top}.py").is_file()
            or (folder.is_dir() and any(folder.glob("*.py")))
        )

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
                if top != "google" and self._first_party(top):
                    self._absent_package(entry, site, context, top)
                    return
                if fully_known(self.declared):
                    self._missing(
                        entry,
                        site,
                        context,
                        candidate if top == "google" else top,
                        "not in the package, not the standard library, and no declared "
                        "requirement installs it",
                    )
                    return
                self.finding(
                    Rule.MISSING_REQUIREMENT,
                    Severity.WARNING,
                    entry.shown,
                    site.line,
                    candidate,
                    f"cannot tell which distribution provides {candidate} ({_how(context)}); "
                    "it is not in the package, not the standard library, and no table entry "
                    "names it",
                    f"if no requirement installs it, add its distribution to "
                    f"{self._rel(self.p.folder / 'requirements.txt')}",
                )
                return
            if is_declared(distributions, self.declared) or distributions[0] in reported:
                continue
            reported.add(distributions[0])
            requirement = self._rel(self.p.folder / "requirements.txt")
            self.finding(
                Rule.MISSING_REQUIREMENT,
                _severity(context),
                entry.shown,
                site.line,
                candidate,
                f"imports {candidate} ({_how(context)}), but {distributions[0]} is not in "
                "requirements.txt nor installed by a requirement",
                f"add {distributions[0]} to {requirement}",
            )

    def _declared_by_name(self, top: str) -> bool:
        """An import whose name a declared distribution carries is trusted."""
        if top == "google":  # a namespace shared by dozens of distributions: never guess
            return False
        name = normalize(top)
        installed = provided_by(self.declared)
        return name in installed or any(
            d.startswith(f"{name}-") or d.endswith(f"-{name}") for d in installed
        )

    def _absent_package(self, entry: Entry, site: ImportSite, context: Context, top: str) -> None:
        """A first-party top-level package the upload lacks: said once, with what to ship."""
        if top in self.absent_tops:
            return
        self.absent_tops.add(top)
        where = f"{top}/" if (self.repo / top).is_dir() else f"{top}.py"
        if self.p.built_by is None:
            hint = (
                f"the upload has no {where}: link or copy {where} into "
                f"{self._rel(self.p.folder)}/ (folder links are not uploaded by gcloud)"
            )
        else:
            hint = f'copy it in the script: rsync -aL {where} "$BUILD_DIR/{where}"'
        self.finding(
            Rule.MISSING_MODULE,
            _severity(context),
            entry.shown,
            site.line,
            top,
            f"No module named {top!r} ({_how(context)}): the package does not contain the "
            f"repository's {where}",
            hint,
        )

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
            in_repo = self.repo / candidate
            if not in_repo.is_file():
                continue
            if self.p.built_by is None:
                link = self.p.folder / candidate
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
