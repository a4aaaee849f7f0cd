"""Evaluate the simple shell of a deploy script into the package it uploads.

Modelled, because the pipeline's deploy scripts use them:
- `VAR=value`, `export`/`local`/`readonly VAR=value`; `$VAR`, `${VAR}`, `${VAR:-default}`,
  `$0`, `${BASH_SOURCE[0]}`; single quotes stay literal;
- command substitutions `$(mktemp -d)` (a new build root), `$(dirname X)`, `$(basename X)`,
  `$(pwd)`, `$(cd X && pwd)`, `$(git rev-parse --show-toplevel)`;
- `cd`, `mkdir -p`, `rm -rf` (inside a build root), `echo ... > file`;
- `rsync -a[L]` with `--exclude` and trailing-slash semantics, `cp -r[L]`;
- `gcloud functions deploy NAME --source ... --entry-point ...`;
- `cmd 2>/dev/null || true` (evaluated, and remembered as silenced).

Anything else that could change the package is reported as not evaluated, never
guessed. The script runs from the repo root, as the pipeline's scripts expect.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from orchwatch.validate.tree import Entry, PackageTree, walk_folder

BUILD_PREFIX = "/__build__"

_IGNORED = frozenset(
    {
        "set",
        "trap",
        "echo",
        "printf",
        "exit",
        "return",
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "for",
        "do",
        "done",
        "while",
        "until",
        "case",
        "esac",
        "[",
        "[[",
        "test",
        "true",
        ":",
        "false",
        "source",
        ".",
        "shift",
        "unset",
        "wait",
        "sleep",
        "date",
        "log",
        "info",
        "warn",
        "error",
        "function",
        "{",
        "}",
        "ls",
        "cat",
        "tee",
        "grep",
        "head",
        "tail",
        "read",
        "local",
        "declare",
        "readonly",
        "export",
        "shopt",
        "pushd",
        "popd",
        "python",
        "python3",
        "orchwatch",
    }
)
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_SILENCED = re.compile(r"\|\|\s*(true|:)\s*$")


class Unevaluable(Exception):
    """A construct the evaluator does not model; the message says which."""


@dataclass
class Deploy:
    """A `gcloud functions deploy` the script runs."""

    name: str | None
    source: str | None
    """Evaluated `--source`: a real path, or a path under a build root."""
    entry_point: str | None
    line: int


@dataclass
class ScriptIssue:
    """Something the evaluation found: a missing copy source, a broken link, an unmodelled line."""

    kind: str
    """"missing-source", "broken-link" or "not-evaluated"."""
    line: int
    message: str
    path: str | None = None
    silenced: bool = False


@dataclass
class ScriptResult:
    """What evaluating one deploy script gave."""

    script: Path
    builds: dict[str, PackageTree] = field(default_factory=dict)
    deploys: list[Deploy] = field(default_factory=list)
    issues: list[ScriptIssue] = field(default_factory=list)
    copied_from: set[Path] = field(default_factory=set)
    """Real folders and files the script copied into a build root."""

    def package_for(self, deploy: Deploy) -> PackageTree | None:
        """The build tree a deploy uploads, or None when it uploads a repo folder."""
        if deploy.source is None:
            return None
        for root, tree in self.builds.items():
            if deploy.source == root or deploy.source.startswith(root + "/"):
                if deploy.source == root:
                    return tree
                sub = deploy.source[len(root) + 1 :]
                view = PackageTree()
                for path, entry in tree.files.items():
                    if path.startswith(sub + "/"):
                        view.add(path[len(sub) + 1 :], entry)
                return view
        return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, numbered by where they start."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append((start, pending + raw))
        pending = ""
    if pending:
        lines.append((start, pending))
    return lines


def _split_commands(line: str) -> list[tuple[str, bool]]:
    """Split on top-level `&&`, `||`, `;`, `|` (outside quotes and $(...)).

    Returns (command, silenced) pairs; a command followed by `|| true` is silenced.
    """
    parts: list[str] = []
    ops: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    depth = 0
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"' and i + 1 < len(line):
                buf.append(line[i + 1])
                i += 1
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch == "$" and line[i + 1 : i + 2] == "(":
            depth += 1
            buf.append("$(")
            i += 1
        elif ch == ")" and depth:
            depth -= 1
            buf.append(ch)
        elif ch == "#" and not depth and (not buf or buf[-1].isspace()):
            break
        elif not depth and line.startswith(("&&", "||"), i):
            parts.append("".join(buf))
            ops.append(line[i : i + 2])
            buf = []
            i += 1
        elif not depth and ch in ";|":
            parts.append("".join(buf))
            ops.append(ch)
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    result: list[tuple[str, bool]] = []
    for index, part in enumerate(parts):
        if not part.strip():
            continue
        following = parts[index + 1].strip() if index + 1 < len(parts) else ""
        silenced = index < len(ops) and ops[index] == "||" and following in ("true", ":")
        if index > 0 and ops[index - 1] == "||" and part.strip() in ("true", ":"):
            continue
        result.append((part.strip(), silenced))
    return result


class ScriptEvaluator:
    """Evaluates one deploy script against a repo."""

    def __init__(self, script: Path, repo: Path) -> None:
        self.script = script
        self.repo = repo.resolve()
        self.vars: dict[str, str] = {
            "0": str(script),
            "BASH_SOURCE": str(script),
            "BASH_SOURCE[0]": str(script),
            "HOME": "/root",
        }
        self.cwd = self.repo
        self.result = ScriptResult(script)
        self._line = 0

    # --- expansion -----------------------------------------------------------------------------

    def expand(self, text: str) -> str:
        """Expand variables and the modelled command substitutions (not in single quotes).

        Raises:
            Unevaluable: an unknown variable or command substitution.
        """
        out: list[str] = []
        i = 0
        quote: str | None = None
        while i < len(text):
            ch = text[i]
            if ch == "'" and quote != '"':
                quote = None if quote == "'" else "'"
                out.append(ch)
            elif ch == '"' and quote != "'":
                quote = None if quote == '"' else '"'
                out.append(ch)
            elif ch == "$" and quote != "'":
                value, i = self._dollar(text, i)
                out.append(value)
                continue
            else:
                out.append(ch)
            i += 1
        return "".join(out)

    def _dollar(self, text: str, i: int) -> tuple[str, int]:
        rest = text[i + 1 :]
        if rest.startswith("("):
            depth, j = 0, i + 1
            while j < len(text):
                if text[j] == "(":
                    depth += 1
                elif text[j] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            return self._substitute(text[i + 2 : j]), j + 1
        if rest.startswith("{"):
            end = text.index("}", i)
            inner = text[i + 2 : end]
            name, _, default = inner.partition(":-")
            if name in self.vars:
                return self.vars[name], end + 1
            if default or ":-" in inner:
                return self.expand(default).strip("\"'"), end + 1
            raise Unevaluable(f"${{{name}}} is not set in the script")
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9@#?$*]", rest)
        if not match:
            return "$", i + 1
        name = match[0]
        if name in self.vars:
            return self.vars[name], i + 1 + len(name)
        raise Unevaluable(f"${name} is not set in the script")

    def _substitute(self, command: str) -> str:
        words = shlex.split(self.expand(command))
        if words[:1] == ["mktemp"] and "-d" in words:
            root = f"{BUILD_PREFIX}/{len(self.result.builds) + 1}"
            self.result.builds[root] = PackageTree()
            return root
        if words[:1] == ["dirname"] and len(words) == 2:
            return os.path.dirname(words[1]) or "."
        if words[:1] == ["basename"] and len(words) >= 2:
            return os.path.basename(words[1].rstrip("/"))
        if words == ["pwd"]:
            return str(self.cwd)
        if words[:3] == ["git", "rev-parse", "--show-toplevel"]:
            return str(self.repo)
        if len(words) >= 4 and words[0] == "cd" and words[2] in ("&&", ";") and words[3] == "pwd":
            return os.path.normpath(self._abs(words[1]))
        raise Unevaluable(f"$({command}) is not modelled")

    # --- paths ---------------------------------------------------------------------------------

    def _abs(self, path: str) -> str:
        if path.startswith("/"):
            return os.path.normpath(path)
        return os.path.normpath(os.path.join(self.cwd, path))

    def _build_of(self, path: str) -> tuple[str, PackageTree, str] | None:
        """(root, tree, path inside) when `path` is inside a build root."""
        for root, tree in self.result.builds.items():
            if path == root:
                return root, tree, ""
            if path.startswith(root + "/"):
                return root, tree, path[len(root) + 1 :]
        return None

    def _shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.repo).as_posix()
        except ValueError:
            return path.as_posix()

    # --- evaluation ----------------------------------------------------------------------------

    def run(self) -> ScriptResult:
        """Evaluate the whole script."""
        try:
            text = self.script.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            self._issue("not-evaluated", f"cannot read the script ({exc.strerror})")
            return self.result
        heredoc: str | None = None
        for number, line in _logical_lines(text):
            self._line = number
            stripped = line.strip()
            if heredoc is not None:
                if stripped == heredoc:
                    heredoc = None
                continue
            if not stripped or stripped.startswith("#"):
                continue
            if match := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", stripped):
                heredoc = match[1]
            for command, silenced in _split_commands(stripped):
                try:
                    self._command(command, silenced)
                except Unevaluable as exc:
                    self._issue("not-evaluated", f"`{command}`: {exc}")
        self._resolve_links()
        return self.result

    def _issue(
        self, kind: str, message: str, path: str | None = None, silenced: bool = False
    ) -> None:
        self.result.issues.append(ScriptIssue(kind, self._line, message, path, silenced))

    def _command(self, command: str, silenced: bool) -> None:
        words = shlex.split(self.expand(command), comments=True)
        if not words:
            return
        words, redirect = _strip_redirects(words)
        while words and words[0] in (
            "export",
            "local",
            "readonly",
            "declare",
            "sudo",
            "time",
            "exec",
        ):
            words = words[1:]
        if not words:
            return
        if all(_ASSIGNMENT.match(w) for w in words):
            for word in words:
                match = _ASSIGNMENT.match(word)
                assert match is not None
                self.vars[match[1]] = match[2]
            return
        head = words[0]
        if redirect and head in ("echo", "printf", "cat"):
            self._write(redirect, words[1:] if head != "cat" else [])
        elif head == "cd" and len(words) >= 2:
            self.cwd = Path(self._abs(words[1]))
        elif head == "mkdir":
            return  # directories exist as soon as a file is put in them
        elif head == "rm":
            for target in (w for w in words[1:] if not w.startswith("-")):
                if build := self._build_of(self._abs(target)):
                    build[1].remove(build[2]) if build[2] else build[1].files.clear()
        elif head == "rsync":
            self._rsync(words[1:], silenced)
        elif head == "cp":
            self._cp(words[1:], silenced)
        elif head == "gcloud" and words[1:3] == ["functions", "deploy"]:
            self._deploy(words[3:])
        elif head in _IGNORED or head == "gcloud":
            return
        else:
            raise Unevaluable(f"`{head}` is not modelled")

    def _write(self, target: str, words: list[str]) -> None:
        path = self._abs(target)
        if build := self._build_of(path):
            content = (" ".join(w for w in words if w not in ("-e", "-n")) + "\n").encode()
            build[1].add(
                build[2], Entry(f"(written by {self._shown(self.script)})", content=content)
            )

    def _rsync(self, args: list[str], silenced: bool) -> None:
        follow = False
        excludes: list[str] = []
        paths: list[str] = []
        it = iter(args)
        for arg in it:
            if arg.startswith("--exclude="):
                excludes.append(arg.split("=", 1)[1])
            elif arg == "--exclude":
                excludes.append(next(it, ""))
            elif arg in ("--copy-links", "-L"):
                follow = True
            elif arg.startswith("--exclude-from") or arg.startswith("--filter"):
                raise Unevaluable(f"rsync {arg} is not modelled")
            elif arg.startswith("--"):
                continue
            elif arg.startswith("-"):
                follow = follow or "L" in arg
            else:
                paths.append(arg)
        if len(paths) < 2:
            raise Unevaluable("rsync needs a source and a destination")
        *sources, dest = paths
        for source in sources:
            self._copy(
                source,
                dest,
                contents=source.endswith("/"),
                follow=follow,
                excludes=excludes,
                silenced=silenced,
                dest_is_dir=True,
            )

    def _cp(self, args: list[str], silenced: bool) -> None:
        follow = False
        recursive = False
        paths: list[str] = []
        for arg in args:
            if arg.startswith("-") and not arg.startswith("--"):
                recursive = recursive or bool(set(arg) & {"r", "R", "a"})
                follow = follow or "L" in arg
            elif arg == "--dereference":
                follow = True
            elif arg in ("--recursive", "--archive"):
                recursive = True
            elif not arg.startswith("--"):
                paths.append(arg)
        if len(paths) < 2:
            raise Unevaluable("cp needs a source and a destination")
        *sources, dest = paths
        for source in sources:
            contents = source.endswith("/.")
            source_path = self._abs(source[:-2] if contents else source)
            if os.path.isdir(source_path) and not recursive:
                continue  # cp without -r skips directories
            dest_build = self._build_of(self._abs(dest))
            dest_is_dir = (
                len(sources) > 1
                or dest.endswith("/")
                or bool(dest_build and dest_build[1].is_dir(dest_build[2]))
            )
            self._copy(
                source_path,
                dest,
                contents=contents or (not dest_is_dir and os.path.isdir(source_path)),
                follow=follow,
                excludes=[],
                silenced=silenced,
                dest_is_dir=dest_is_dir,
            )

    def _copy(
        self,
        source: str,
        dest: str,
        *,
        contents: bool,
        follow: bool,
        excludes: list[str],
        silenced: bool,
        dest_is_dir: bool,
    ) -> None:
        source_path = Path(self._abs(source.rstrip("/") or "/"))
        dest_abs = self._abs(dest)
        build = self._build_of(dest_abs)
        if not os.path.lexists(source_path):
            self._issue(
                "missing-source",
                f"copies {self._shown(source_path)}, which does not exist",
                self._shown(source_path),
                silenced,
            )
            return
        if build is None:
            return  # copies outside a build root do not change the package
        _, tree, inside = build
        self.result.copied_from.add(source_path.resolve())
        if source_path.is_dir():
            base = inside if contents else f"{inside}/{source_path.name}".lstrip("/")
            files, broken = walk_folder(source_path, self.repo, follow_links=follow)
            for rel, entry in files:
                if not _excluded(rel, excludes):
                    tree.add(f"{base}/{rel}", entry)
            for rel, link_path, target in broken:
                if not _excluded(rel, excludes):
                    self._broken(link_path, target, f"{base}/{rel}", tree, follow)
            return
        name = source_path.name
        target = f"{inside}/{name}" if dest_is_dir or tree.is_dir(inside) else inside
        if source_path.is_symlink() and not source_path.exists():
            self._broken(source_path, os.readlink(source_path), target, tree, follow)
        elif source_path.is_symlink() and not follow:
            tree.add(target, Entry(self._shown(source_path), link=os.readlink(source_path)))
        else:
            tree.add(target, Entry(self._shown(source_path), real=str(source_path.resolve())))

    def _broken(
        self, link: Path, target: str, inside: str, tree: PackageTree, follow: bool
    ) -> None:
        if follow:
            self._issue(
                "broken-link",
                f"{self._shown(link)} -> {target} points nowhere (rsync -L fails on it)",
                self._shown(link),
            )
        else:
            tree.add(inside, Entry(self._shown(link), broken=target))

    def _deploy(self, args: list[str]) -> None:
        name = next((a for a in args if not a.startswith("-")), None)
        options: dict[str, str] = {}
        it = iter(args)
        for arg in it:
            if arg.startswith("--") and "=" in arg:
                key, value = arg[2:].split("=", 1)
                options[key] = value
            elif arg.startswith("--"):
                following = next(it, "")
                if following.startswith("--"):
                    options[arg[2:]] = ""
                    if "=" in following:
                        key, value = following[2:].split("=", 1)
                        options[key] = value
                else:
                    options[arg[2:]] = following
        source = options.get("source")
        self.result.deploys.append(
            Deploy(
                name=name,
                source=self._abs(source) if source else str(self.cwd),
                entry_point=options.get("entry-point") or None,
                line=self._line,
            )
        )

    def _resolve_links(self) -> None:
        """Links copied as links resolve against where they land in the package."""
        for tree in self.result.builds.values():
            for path, entry in list(tree.files.items()):
                if entry.link is None:
                    continue
                landed = os.path.normpath(os.path.join(os.path.dirname(path), entry.link))
                target = tree.files.get(landed.replace(os.sep, "/"))
                if landed.startswith("..") or target is None:
                    tree.add(path, Entry(entry.shown, broken=entry.link))
                else:
                    tree.add(path, target)


def _strip_redirects(words: list[str]) -> tuple[list[str], str | None]:
    """Remove redirections; returns the words left and where stdout goes (if redirected)."""
    kept: list[str] = []
    target: str | None = None
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
            continue
        match = re.match(r"^([0-9]*|&)(>>?)(.*)$", word)
        if match is None:
            kept.append(word)
            continue
        fd, _, rest = match.groups()
        destination = rest or (words[index + 1] if index + 1 < len(words) else "")
        skip = not rest
        if fd in ("", "1") and not destination.startswith("&"):
            target = destination
    return kept, target


def _excluded(rel: str, patterns: list[str]) -> bool:
    """rsync's rule: a pattern without `/` matches any path component; with one, the path."""
    parts = PurePosixPath(rel).parts
    for raw in patterns:
        pattern = raw.rstrip("/")
        if not pattern:
            continue
        if "/" in pattern:
            anchored = pattern.lstrip("/")
            if fnmatch.fnmatch(rel, anchored) or fnmatch.fnmatch(rel, f"{anchored}/*"):
                return True
        elif any(fnmatch.fnmatch(part, pattern) for part in parts):
            return True
    return False


def evaluate_script(script: Path, repo: Path) -> ScriptResult:
    """Evaluate a deploy script from the repo root."""
    return ScriptEvaluator(script, repo).run()
