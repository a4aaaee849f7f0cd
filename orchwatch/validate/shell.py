"""Evaluate a deploy script's bash into the packages it uploads, path by path.

The script is parsed by tree-sitter's bash grammar (a complete grammar that never
raises: what it cannot parse becomes an ERROR node with a position) and the tree is
evaluated without running anything, from the repository root (or, for a script that
sits beside a main.py, from its own folder, as its usage `./deploy.sh` expects):

- values: variables and positional parameters, `${X:-d}` `${X:=d}` `${X:+v}`
  `${X%p}` `${X#p}` and friends, single/double/`$'..'` quoting, word splitting of
  unquoted expansions, globs against the repository;
- command substitution that can be decided: `$(mktemp -d)` (a new build root),
  `$(dirname X)`, `$(basename X)`, `$(pwd)`, `$(cd X && pwd)`, `$(git rev-parse
  --show-toplevel)`, `$(realpath X)`, `$(echo ...)`, `$(cat FILE)`; anything else
  is a named unknown (`$(git rev-parse --short HEAD)`), which matters only where
  it reaches a path the package depends on;
- control flow: `if`/`elif`/`else`, `case`, `&&`/`||`, `!`, `for` over known
  words, `while` (zero or one pass), `exit`, `return`, functions (so wrappers such
  as `run_command gcloud functions deploy ...` are followed), `source`, subshells,
  and `set -e` (a modelled failure outside a condition stops that path). A
  condition that can be decided (`[ -d "$DIR" ]` on the repository, string tests
  on known values) takes one branch; otherwise both are followed, each path
  labelled with the branch it took;
- effects on a build folder: `rsync` (`-L`, trailing slashes, `--exclude`, exit 23
  on a dangling link when following links, exit 11 when the destination's parent
  is missing), `cp` (`-r`, `-L`, `/.`), `mkdir -p`, `rm -rf`, `ln -s`, `touch`,
  `mv`, and `echo`/`printf`/`cat <<EOF` writing or appending (`>>`) to a file;
- deploys: `gcloud [beta] functions deploy NAME --source --entry-point --runtime`
  and `gcloud run deploy --source`, wherever `gcloud` stands in the command.

Every construct it cannot evaluate is recorded as a note with its line, never
raised. Nothing outside the repository is read.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from orchwatch.validate.tree import Entry, PackageTree, walk_folder
from orchwatch.validate.words import (
    Unknown,
    Value,
    ansi_c,
    arithmetic,
    case_match,
    concat,
    excluded,
    join,
    marked,
    show_value,
    test_words,
    trim,
    unescape_double,
    unescape_word,
)

Walk = tuple[list[tuple[str, Entry]], list[tuple[str, Path, str]]]

BUILD_PREFIX = "/__build__"
MAX_PATHS = 48
"""Paths through one script followed at once; more are dropped with a note."""
MAX_CALL_DEPTH = 16
MAX_LOOP_WORDS = 64
MAX_STEPS = 200_000
"""Statements evaluated per script, summed over its paths: a bound on pathological input."""
MAX_SCRIPT_BYTES = 2_000_000

_BOOLEAN_FLAGS = frozenset(
    {
        "gen2",
        "no-gen2",
        "trigger-http",
        "allow-unauthenticated",
        "no-allow-unauthenticated",
        "quiet",
        "retry",
        "no-retry",
        "async",
        "clear-env-vars",
        "clear-labels",
        "clear-secrets",
        "clear-max-instances",
        "clear-min-instances",
        "clear-vpc-connector",
        "no-traffic",
        "skip-deploy",
    }
)


@dataclass
class Deploy:
    """One `gcloud ... deploy` a path through the script reaches."""

    name: Value | None
    source: Value
    """An absolute path (a build root's path starts with BUILD_PREFIX), or unknown."""
    entry_point: Value | None
    runtime: Value | None
    line: int
    labels: tuple[str, ...]
    """The branches this path took ("" when the script has one path to this deploy)."""
    package: PackageTree | None
    """The build tree at the time of the deploy, for a source inside a build root."""
    copied_from: frozenset[str]
    """Real paths this path copied into its build roots."""


@dataclass
class Abort:
    """A path that stops before its deploy because a modelled step fails under `set -e`."""

    line: int
    reason: str
    labels: tuple[str, ...]
    copied_from: frozenset[str]


@dataclass
class ScriptIssue:
    """A finding of the evaluation itself: a missing copy source, or a note."""

    kind: str
    """"missing-source", "failed-step" (a copy that fails without stopping the script),
    "outside-repo" or "not-evaluated"."""
    line: int
    message: str
    path: str | None = None
    silenced: bool = False
    labels: tuple[str, ...] = ()


@dataclass
class TriggerCall:
    """One `gcloud builds triggers create` a path through the script reaches."""

    name: Value | None
    build_config: Value | None
    substitutions: Value | None
    line: int


@dataclass
class ScriptResult:
    """What evaluating one deploy script gave."""

    script: Path
    kind: str = "script"
    """"script", or "cloudbuild" / "workflow" for the steps of a CI file (ci.py)."""
    deploys: list[Deploy] = field(default_factory=list)
    aborts: list[Abort] = field(default_factory=list)
    issues: list[ScriptIssue] = field(default_factory=list)
    triggers: list[TriggerCall] = field(default_factory=list)
    """The Cloud Build triggers the script creates (triggers.py)."""
    via: str = ""
    """For a Cloud Build file read with a trigger's substitutions: which trigger."""


class _Stop(Exception):
    """Raised inside one path's evaluation when its step budget runs out."""


@dataclass(eq=False)
class _Path:
    """One path through the script: the shell's state as that path sees it."""

    vars: dict[str, Value]
    cwd: Value
    builds: dict[str, PackageTree]
    labels: tuple[str, ...] = ()
    errexit: bool = False
    status: int | None = 0
    positional: tuple[Value, ...] | None = None
    """The current function's arguments; None at top level (the script's are unknown)."""
    copied_from: frozenset[str] = frozenset()
    alive: bool = True
    returning: bool = False
    breaking: bool = False
    stdout: list[Value] | None = None
    """Set while evaluating a command substitution: what the commands print."""
    bound: dict[Unknown, str] = field(default_factory=dict)
    """Unknowns this path has narrowed to a value (the script's `$1` after a `case`)."""
    arrays: dict[str, tuple[Value, ...]] = field(default_factory=dict)
    """Arrays assigned whole (`cmd=(gcloud builds ...)`): a command built in one and run
    as `"${cmd[@]}"` is a command like any other."""

    def fork(self, label: str | None = None) -> _Path:
        return _Path(
            dict(self.vars),
            self.cwd,
            {root: tree.copy() for root, tree in self.builds.items()},
            (*self.labels, label) if label else self.labels,
            self.errexit,
            self.status,
            self.positional,
            self.copied_from,
            self.alive,
            self.returning,
            self.breaking,
            list(self.stdout) if self.stdout is not None else None,
            dict(self.bound),
            dict(self.arrays),
        )

    def narrow(self, unknown: Unknown, value: str) -> None:
        """On this path an unknown value is known to be `value` (a `case` branch matched)."""
        self.vars = {k: (value if v == unknown else v) for k, v in self.vars.items()}
        if self.positional is not None:
            self.positional = tuple(value if v == unknown else v for v in self.positional)
        self.bound[unknown] = value

    def key(self) -> tuple[object, ...]:
        builds = tuple(sorted((root, tree.signature()) for root, tree in self.builds.items()))
        return (
            tuple(sorted(self.vars.items(), key=lambda kv: kv[0])),
            tuple(sorted(self.arrays.items(), key=lambda kv: kv[0])),
            self.cwd,
            builds,
            self.errexit,
            self.status,
            self.positional,
            self.alive,
            self.returning,
            self.breaking,
        )


@cache
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


def parse_bash(source: bytes) -> Any:
    """The tree-sitter syntax tree of a bash script."""
    return _parser().parse(source)


def _text(node: Any) -> str:
    return str(node.text.decode("utf-8", errors="replace"))


def _line(node: Any) -> int:
    return int(node.start_point[0]) + 1


def _short(node: Any, limit: int = 60) -> str:
    text = " ".join(_text(node).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ScriptEvaluator:
    """Evaluates one deploy script against a repository (see the module docstring)."""

    def __init__(
        self,
        script: Path,
        repo: Path,
        *,
        source_text: bytes | None = None,
        walks: dict[tuple[str, bool], Walk] | None = None,
        kind: str = "script",
        aliases: dict[str, str] | None = None,
        start_dir: Path | None = None,
    ) -> None:
        self.script = script
        self.repo = repo.resolve()
        self.result = ScriptResult(script)
        self.functions: dict[str, Any] = {}
        self._source_text = source_text
        self._builds_made = 0
        self._steps = 0
        self._depth = 0
        self._notes: set[tuple[int, str]] = set()
        self._cond = 0
        self._stdin: list[Value] | None = None
        self._sourcing: list[Path] = []
        self._inside: dict[str, bool] = {}
        self._walks = walks if walks is not None else {}
        self.aliases = aliases or {}
        self._start_dir = start_dir
        self.result.kind = kind
        """Folder walks shared by the scripts of one run: they copy the same trees often."""
        rel = self._shown(script)
        self._script_value = rel

    # --- entry ---------------------------------------------------------------------------------

    def run(self) -> ScriptResult:
        """Evaluate the whole script."""
        try:
            data = (
                self._source_text
                if self._source_text is not None
                else self.script.read_bytes()[: MAX_SCRIPT_BYTES + 1]
            )
        except OSError as exc:
            self._note(1, f"cannot read the script ({exc.strerror})")
            return self.result
        if len(data) > MAX_SCRIPT_BYTES:
            self._note(1, f"the script is over {MAX_SCRIPT_BYTES:,} bytes; not evaluated")
            return self.result
        tree = parse_bash(data)
        # A script that sits beside a main.py is run from its folder (`./deploy.sh`, then
        # `--source=.`); any other script from the repository root.
        folder = self.script.resolve().parent
        beside_main = (folder / "main.py").is_file() and self._inside_repo(str(folder))
        if beside_main:
            self._script_value = f"./{self.script.name}"
        if self._start_dir is not None:
            folder, beside_main = self._start_dir, True
        start = _Path(
            vars={
                "HOME": Unknown("$HOME"),
                "0": self._script_value,
            },
            cwd=str(folder) if beside_main else str(self.repo),
            builds={},
        )
        try:
            self._statements(list(tree.root_node.named_children), [start])
        except _Stop:
            self._note(1, "the script takes too many steps to evaluate; evaluated in part")
        except RecursionError:
            self._note(1, "the script nests too deeply to evaluate; evaluated in part")
        return self.result

    # --- bookkeeping ---------------------------------------------------------------------------

    def _note(self, line: int, message: str, labels: tuple[str, ...] = ()) -> None:
        if (line, message) in self._notes:
            return
        self._notes.add((line, message))
        self.result.issues.append(ScriptIssue("not-evaluated", line, message, labels=labels))

    def _shown(self, path: Path | str) -> str:
        text = str(path)
        prefix = str(self.repo).rstrip("/") + "/"
        return text[len(prefix) :] if text.startswith(prefix) else text

    def _inside_repo(self, path: str) -> bool:
        known = self._inside.get(path)
        if known is None:
            real = os.path.realpath(path)
            known = real == str(self.repo) or real.startswith(str(self.repo) + "/")
            self._inside[path] = known
        return known

    def _step(self) -> None:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise _Stop

    # --- statements ----------------------------------------------------------------------------

    def _statements(self, nodes: list[Any], paths: list[_Path]) -> list[_Path]:
        for node in nodes:
            running = [p for p in paths if p.alive and not p.returning and not p.breaking]
            if not running:
                break
            waiting = [p for p in paths if p not in running]
            done: list[_Path] = []
            for path in running:
                done.extend(self._statement(node, path))
            if len(done) > len(running):  # the statement forked: join what became equal
                paths = self._merge(waiting + done, _line(node))
            else:
                paths = [p for p in waiting + done if p.alive]
        return paths

    def _merge(self, paths: list[_Path], line: int) -> list[_Path]:
        """Drop dead paths; paths in the same state become one (their common labels kept)."""
        if len(paths) <= 1:
            return [p for p in paths if p.alive]
        merged: dict[tuple[object, ...], _Path] = {}
        for path in paths:
            if not path.alive:
                continue
            key = path.key()
            if key in merged:
                kept = merged[key]
                kept.labels = tuple(label for label in kept.labels if label in path.labels)
            else:
                merged[key] = path
        alive = list(merged.values())
        if len(alive) > MAX_PATHS:
            self._note(
                line, f"more than {MAX_PATHS} paths through the script; the first were followed"
            )
            alive = alive[:MAX_PATHS]
        return alive

    def _statement(self, node: Any, path: _Path) -> list[_Path]:
        self._step()
        kind = node.type
        try:
            handler = _STATEMENTS.get(kind)
            if handler is not None:
                result: list[_Path] = handler(self, node, path)
                return result
            if kind in ("comment", "heredoc_body", "heredoc_start", "heredoc_end"):
                return [path]
            if kind == "ERROR":
                self._note(_line(node), f"bash cannot parse `{_short(node)}`; skipped")
                return [path]
            self._note(_line(node), f"`{_short(node)}` ({kind}) is not modelled")
            path.status = None
            return [path]
        except (_Stop, RecursionError):
            raise
        except Exception as exc:  # never let one construct take the report down
            self._note(
                _line(node),
                f"`{_short(node)}` could not be evaluated ({type(exc).__name__}); skipped",
            )
            path.status = None
            return [path]

    def _do_variable_assignment(self, node: Any, path: _Path) -> list[_Path]:
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        name = _text(name_node) if name_node is not None else ""
        path.status = 0
        if name_node is not None and name_node.type == "subscript":
            return [path]  # array elements are not tracked
        if value_node is not None and value_node.type == "array":
            if any(child.type == "+=" for child in node.children):
                path.arrays.pop(name, None)  # appending is not modelled: the array is unknown
                path.vars[name] = Unknown(f"the array {name}")
                return [path]
            words = tuple(
                word for child in value_node.named_children for word in self._fields(child, path)
            )
            path.arrays[name] = words
            path.vars[name] = words[0] if words else ""  # $name is its first element
            return [path]
        path.arrays.pop(name, None)
        value: Value = self._value(value_node, path) if value_node is not None else ""
        if any(child.type == "+=" for child in node.children):
            old = path.vars.get(name, "")
            value = concat([old, value])
        path.vars[name] = value
        return [path]

    def _do_variable_assignments(self, node: Any, path: _Path) -> list[_Path]:
        for child in node.named_children:
            self._do_variable_assignment(child, path)
        return [path]

    def _do_declaration_command(self, node: Any, path: _Path) -> list[_Path]:
        for child in node.named_children:
            if child.type == "variable_assignment":
                self._do_variable_assignment(child, path)
            elif (
                child.type == "variable_name"
                and _text(child) not in path.vars
                and node.children[0].type in ("local", "declare", "typeset")
            ):
                path.vars[_text(child)] = ""
        path.status = 0
        return [path]

    def _do_unset_command(self, node: Any, path: _Path) -> list[_Path]:
        for child in node.named_children:
            path.vars.pop(_text(child), None)
        path.status = 0
        return [path]

    def _do_compound_statement(self, node: Any, path: _Path) -> list[_Path]:
        return self._statements(list(node.named_children), [path])

    def _do_do_group(self, node: Any, path: _Path) -> list[_Path]:
        return self._statements(list(node.named_children), [path])

    def _do_subshell(self, node: Any, path: _Path) -> list[_Path]:
        saved_vars, saved_cwd = dict(path.vars), path.cwd
        out = self._statements(list(node.named_children), [path])
        for result in out:  # variables and the directory do not leave a subshell
            result.vars, result.cwd = dict(saved_vars), saved_cwd
        return out

    def _do_function_definition(self, node: Any, path: _Path) -> list[_Path]:
        name = node.child_by_field_name("name")
        body = node.child_by_field_name("body")
        if name is not None and body is not None:
            self.functions[_text(name)] = body
        path.status = 0
        return [path]

    def _do_negated_command(self, node: Any, path: _Path) -> list[_Path]:
        self._cond += 1
        try:
            out = self._statements(list(node.named_children), [path])
        finally:
            self._cond -= 1
        for result in out:
            if result.status is not None:
                result.status = 0 if result.status else 1
        return out

    def _do_test_command(self, node: Any, path: _Path) -> list[_Path]:
        verdict = None
        for child in node.named_children:
            verdict = self._test(child, path)
        path.status = None if verdict is None else (0 if verdict else 1)
        return [path]

    def _do_pipeline(self, node: Any, path: _Path) -> list[_Path]:
        paths = [path]
        commands = node.named_children
        for index, command in enumerate(commands):
            self._cond += index < len(commands) - 1  # only the last one's status counts
            try:
                paths = self._statements([command], paths)
            finally:
                self._cond -= index < len(commands) - 1
        return paths

    def _do_list(self, node: Any, path: _Path) -> list[_Path]:
        children = node.children
        operator = next((c.type for c in children if c.type in ("&&", "||")), None)
        left, right = node.named_children[0], node.named_children[-1]
        if operator is None or left == right:
            return self._statements(list(node.named_children), [path])
        self._cond += 1
        try:
            after_left = self._statements([left], [path])
        finally:
            self._cond -= 1
        out: list[_Path] = []
        for result in after_left:
            runs_right = result.status == 0 if operator == "&&" else result.status not in (0, None)
            if result.status is None:
                skipped = result.fork(
                    f"`{_short(left, 40)}` {'fails' if operator == '&&' else 'succeeds'}"
                )
                skipped.status = 1 if operator == "&&" else 0
                out.append(skipped)
                result.labels = (
                    *result.labels,
                    f"`{_short(left, 40)}` {'succeeds' if operator == '&&' else 'fails'}",
                )
                runs_right = True
            if runs_right:
                out.extend(self._statements([right], [result]))
            else:
                out.append(result)
        return out

    def _do_redirected_statement(self, node: Any, path: _Path) -> list[_Path]:
        body = node.child_by_field_name("body")
        target: tuple[Value, bool] | None = None
        stdin: list[Value] | None = None
        for redirect in node.children_by_field_name("redirect"):
            if redirect.type == "file_redirect":
                descriptor = redirect.child_by_field_name("descriptor")
                operators = [c.type for c in redirect.children if not c.is_named]
                destination = redirect.child_by_field_name("destination")
                if destination is None or (descriptor is not None and _text(descriptor) != "1"):
                    continue
                if any(op in (">", ">>", ">|", "&>", "&>>") for op in operators):
                    value = self._value(destination, path)
                    target = (value, any(op in (">>", "&>>") for op in operators))
                elif "<" in operators:
                    stdin = [self._cat(self._value(destination, path))]
            elif redirect.type == "heredoc_redirect":
                stdin = [self._heredoc(redirect, path)]
            elif redirect.type == "herestring_redirect":
                stdin = [concat([*(self._value(c, path) for c in redirect.named_children), "\n"])]
        if body is None:
            return [path]
        capture: list[Value] = []
        saved_out, saved_in = path.stdout, self._stdin
        if target is not None:
            path.stdout = capture
        self._stdin = stdin
        try:
            out = self._statements([body], [path])
        finally:
            self._stdin = saved_in
        for result in out:
            if target is not None:
                written = result.stdout if result.stdout is not None else capture
                result.stdout = saved_out
                self._write(result, target[0], concat(written), append=target[1], line=_line(node))
        return out

    def _heredoc(self, redirect: Any, path: _Path) -> Value:
        start = next((c for c in redirect.children if c.type == "heredoc_start"), None)
        body = next((c for c in redirect.children if c.type == "heredoc_body"), None)
        if body is None:
            return ""
        quoted = start is not None and any(q in _text(start) for q in "'\"\\")
        if quoted or not body.named_children:
            return _text(body)
        return self._string_parts(body, path)

    def _do_if_statement(self, node: Any, path: _Path) -> list[_Path]:
        clauses: list[tuple[list[Any], list[Any]]] = []
        conditions = _named(node.children_by_field_name("condition"))
        body = [
            c
            for c in node.named_children
            if c not in conditions and c.type not in ("elif_clause", "else_clause")
        ]
        clauses.append((conditions, body))
        for clause in node.named_children:
            if clause.type == "elif_clause":  # its condition is what stands before `then`
                then = next(
                    (i for i, c in enumerate(clause.children) if c.type == "then"),
                    len(clause.children),
                )
                elif_conditions = _named(clause.children[:then])
                clauses.append((elif_conditions, _named(clause.children[then:])))
            elif clause.type == "else_clause":
                clauses.append(([], list(clause.named_children)))
        return self._branches(clauses, [path], _line(node))

    def _branches(
        self, clauses: list[tuple[list[Any], list[Any]]], paths: list[_Path], line: int
    ) -> list[_Path]:
        """if/elif/else: each clause's condition, then its body or the next clause."""
        if not clauses:  # no branch taken: `if` ends with status 0
            for path in paths:
                path.status = 0
            return paths
        conditions, body = clauses[0]
        if not conditions:  # else
            return self._statements(body, paths)
        self._cond += 1
        try:
            tested = self._statements(list(conditions), paths)
        finally:
            self._cond -= 1
        shown = " ".join(_short(c, 50) for c in conditions)
        then: list[_Path] = []
        rest: list[_Path] = []
        for path in tested:
            if path.status == 0:
                then.append(path)
            elif path.status is None:
                other = path.fork(f"if `{shown}` (line {line}) is false")
                path.labels = (*path.labels, f"if `{shown}` (line {line}) is true")
                then.append(path)
                rest.append(other)
            else:
                rest.append(path)
        out = self._statements(body, then) if then else []
        if rest:
            out += self._branches(clauses[1:], rest, line)
        return out

    def _do_case_statement(self, node: Any, path: _Path) -> list[_Path]:
        value_node = node.child_by_field_name("value")
        value = self._value(value_node, path) if value_node is not None else Unknown("case")
        items = [c for c in node.named_children if c.type == "case_item"]
        out: list[_Path] = []
        remaining = [path]
        for item in items:
            values = _named(item.children_by_field_name("value"))
            patterns = [self._value(v, path) for v in values]
            body = [c for c in item.named_children if c not in values]
            shown = "|".join(p if isinstance(p, str) else "?" for p in patterns)
            matched: list[_Path] = []
            still: list[_Path] = []
            for current in remaining:
                verdict = case_match(value, patterns)
                if verdict is True:
                    matched.append(current)
                elif verdict is None:
                    fork = current.fork(
                        f"case {_short(value_node, 30)} is {shown} (line {_line(item)})"
                    )
                    literal = patterns[0] if len(patterns) == 1 else None
                    if (
                        isinstance(value, Unknown)
                        and isinstance(literal, str)
                        and not any(ch in literal for ch in "*?[")
                    ):
                        fork.narrow(value, literal)
                    matched.append(fork)
                    still.append(current)
                else:
                    still.append(current)
            out += self._statements(body, matched)
            remaining = still
            if not remaining:
                break
        for current in remaining:
            current.status = 0
        return out + remaining

    def _do_for_statement(self, node: Any, path: _Path) -> list[_Path]:
        variable = node.child_by_field_name("variable")
        body = node.child_by_field_name("body")
        values = _named(node.children_by_field_name("value"))
        name = _text(variable) if variable is not None else "_"
        words: list[Value] = []
        for value_node in values:
            words.extend(self._fields(value_node, path))
        if not values:
            words = [Unknown("the script's arguments")]
        if path.positional is None and (not values or any(_reads_arguments(v) for v in values)):
            path.status = 0  # `for arg in "$@"` at the top: options at their defaults
            return [path]
        if any(isinstance(w, Unknown) for w in words) or len(words) > MAX_LOOP_WORDS:
            path.vars[name] = Unknown(f"the loop variable ${name}")
            return self._loop_once_or_not(body, path, _line(node))
        paths = [path]
        for word in words:
            for current in paths:
                current.vars[name] = word
            paths = self._statements([body], paths) if body is not None else paths
            for current in paths:
                if current.breaking:
                    current.breaking = False
        return paths

    def _do_c_style_for_statement(self, node: Any, path: _Path) -> list[_Path]:
        return self._loop_once_or_not(node.child_by_field_name("body"), path, _line(node))

    def _do_while_statement(self, node: Any, path: _Path) -> list[_Path]:
        conditions = _named(node.children_by_field_name("condition"))
        body = node.child_by_field_name("body")
        if path.positional is None and any(_reads_arguments(c) for c in conditions):
            # An option loop over the script's own arguments (`while [[ $# -gt 0 ]]`):
            # the options are taken at the script's defaults, which is what it deploys
            # with when run as its usage shows; following each option would multiply the
            # paths by the number of options without changing what is uploaded.
            path.status = 0
            return [path]
        self._cond += 1
        try:
            tested = self._statements(list(conditions), [path])
        finally:
            self._cond -= 1
        out: list[_Path] = []
        for current in tested:
            if current.status == 1 and node.children[0].type == "while":
                current.status = 0  # the condition is false at once: no pass
                out.append(current)
            else:
                out += self._loop_once_or_not(body, current, _line(node))
        return out

    def _loop_once_or_not(self, body: Any, path: _Path, line: int) -> list[_Path]:
        """A loop whose passes cannot be counted: followed zero times and once."""
        skipped = path.fork(f"the loop at line {line} runs no pass")
        path.labels = (*path.labels, f"the loop at line {line} runs")
        out = self._statements([body], [path]) if body is not None else [path]
        for current in out:
            current.breaking = False
        skipped.status = 0
        return [skipped, *out]

    # --- simple commands -----------------------------------------------------------------------

    def _do_command(self, node: Any, path: _Path) -> list[_Path]:
        name_node = node.child_by_field_name("name")
        if (
            path.stdout is None
            and name_node is not None
            and name_node.text in (b"echo", b"printf")
            and b"$(" not in node.text
            and b"`" not in node.text
        ):
            path.status = 0  # prints to the terminal: nothing to evaluate
            return [path]
        prefix = [c for c in node.named_children if c.type == "variable_assignment"]
        if name_node is None:
            for assignment in prefix:
                self._do_variable_assignment(assignment, path)
            return [path]
        words: list[Value] = self._fields(name_node, path)
        for argument in _named(node.children_by_field_name("argument")):
            words.extend(self._fields(argument, path))
        return self._run(words, path, _line(node))

    def _run(self, words: list[Value], path: _Path, line: int) -> list[_Path]:
        """Run one simple command (its words already expanded)."""
        replaces_shell = False
        while words and words[0] in ("sudo", "time", "exec", "command", "builtin", "nohup"):
            replaces_shell = replaces_shell or words[0] == "exec"
            words = words[1:]
        if replaces_shell and words:  # `exec CMD`: the script ends where CMD ends
            out = self._run(words, path, line)
            for result in out:
                result.alive = False
            return out
        if words and words[0] == "env":
            words = words[1:]
            while words and isinstance(words[0], str) and re.match(r"^\w+=", words[0]):
                words = words[1:]
        if words and words[0] == "timeout" and len(words) > 2:
            words = words[2:]
        if not words:
            path.status = 0
            return [path]
        head = words[0]
        if isinstance(head, Unknown):
            path.status = None
            return [path]
        if head in self.functions:
            return self._call(head, words[1:], path, line)
        handler = _BUILTINS.get(head)
        if handler is not None:
            ran: list[_Path] = handler(self, words[1:], path, line)
            return ran
        path.status = None  # an external command: it may succeed or not
        if any(self._names_a_build_path(w, path) for w in words[1:]):
            self._incomplete(path, words, line)
        return [path]

    def _call(self, name: str, args: list[Value], path: _Path, line: int) -> list[_Path]:
        if self._depth >= MAX_CALL_DEPTH:
            self._note(line, f"`{name}` calls itself too deeply; not followed")
            path.status = None
            return [path]
        saved = path.positional
        path.positional = tuple(args)
        self._depth += 1
        try:
            out = self._statements([self.functions[name]], [path])
        finally:
            self._depth -= 1
        for result in out:
            result.positional = saved
            result.returning = False
        return out

    def _names_a_build_path(self, word: Value, path: _Path) -> bool:
        """Whether an argument of a command the evaluator does not model looks like a path
        into a build folder (absolute, or with a `/`; a program text is not a path)."""
        if isinstance(word, Unknown) or not word or any(c.isspace() for c in word):
            return False
        if not word.startswith("/") and "/" not in word:
            return False
        return self._build_of(self._abs(word, path), path) is not None

    def _incomplete(self, path: _Path, words: list[Value], line: int) -> None:
        shown = " ".join(w if isinstance(w, str) else "…" for w in words[:6])
        shown = re.sub(re.escape(BUILD_PREFIX) + r"/\d+", "<build folder>", shown)
        reason = f"`{shown}` (line {line}) may change the package and is not modelled"
        self._note(line, reason)
        for root, tree in path.builds.items():
            if any(isinstance(w, str) and w.startswith(root) for w in words):
                tree.incomplete.append(reason)

    def _fail(
        self, path: _Path, status: int, line: int, reason: str, missing: str | None = None
    ) -> list[_Path]:
        """A modelled command failed: under `set -e`, outside a condition, the path stops;
        otherwise the script goes on, which is worth a warning."""
        path.status = status
        if path.errexit and self._cond == 0:
            path.alive = False
            self.result.aborts.append(Abort(line, reason, path.labels, path.copied_from))
        elif missing is not None:
            self.result.issues.append(
                ScriptIssue(
                    "missing-source",
                    line,
                    f"copies {missing}, which does not exist",
                    missing,
                    self._cond > 0,
                    path.labels,
                )
            )
        else:
            self.result.issues.append(
                ScriptIssue(
                    "failed-step",
                    line,
                    f"{reason}; the script goes on without it",
                    labels=path.labels,
                    silenced=self._cond > 0,
                )
            )
        return [path]

    # --- builtins ------------------------------------------------------------------------------

    def _b_true(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        path.status = 0
        return [path]

    def _b_false(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        path.status = 1
        return [path]

    def _b_exit(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        path.alive = False
        return [path]

    def _b_return(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        if path.positional is None and not self._sourcing:
            path.alive = False  # `return` at the top of a script ends it
            return [path]
        code = args[0] if args else "0"
        path.status = int(code) if isinstance(code, str) and code.isdigit() else None
        path.returning = True
        return [path]

    def _b_break(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        path.breaking = True
        return [path]

    def _b_set(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        words = [a for a in args if isinstance(a, str)]
        for index, word in enumerate(words):
            if re.fullmatch(r"-[a-zA-Z]*e[a-zA-Z]*", word):
                path.errexit = True
            elif re.fullmatch(r"\+[a-zA-Z]*e[a-zA-Z]*", word):
                path.errexit = False
            elif word in ("-o", "+o") and words[index + 1 : index + 2] == ["errexit"]:
                path.errexit = word == "-o"
        path.status = 0
        return [path]

    def _b_shift(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        if path.positional:
            count = int(args[0]) if args and isinstance(args[0], str) and args[0].isdigit() else 1
            path.positional = path.positional[count:]
        path.status = 0
        return [path]

    def _b_cd(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        words = [a for a in args if a not in ("-P", "-L", "--")]
        target: Value = words[0] if words else Unknown("$HOME")
        if target == "-":
            target = Unknown("the previous directory")
        new = self._abs(target, path)
        if (
            isinstance(new, str)
            and not new.startswith(BUILD_PREFIX)
            and self._inside_repo(new)
            and not os.path.isdir(new)
        ):
            return self._fail(path, 1, line, f"cd {self._shown(new)} fails: no such folder")
        path.cwd = new
        path.status = 0
        return [path]

    def _b_pwd(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        self._print(path, concat([path.cwd, "\n"]))
        path.status = 0
        return [path]

    def _b_echo(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        newline = True
        words = list(args)
        while words and isinstance(words[0], str) and re.fullmatch(r"-[neE]+", words[0]):
            newline = newline and "n" not in words[0]
            words = words[1:]
        self._print(path, concat([join(words), "\n" if newline else ""]))
        path.status = 0
        return [path]

    def _b_printf(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        if args and args[0] in ("%s", "%s\n", "%s\\n") and len(args) == 2:
            self._print(path, concat([args[1], "\n" if args[0] != "%s" else ""]))
        elif args and isinstance(args[0], str) and "%" not in args[0] and len(args) == 1:
            self._print(path, args[0].replace("\\n", "\n"))
        else:
            self._print(path, Unknown("printf output"))
        path.status = 0
        return [path]

    def _b_cat(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        files = [a for a in args if not (isinstance(a, str) and a.startswith("-"))]
        if not files:
            self._print(path, concat(self._stdin) if self._stdin is not None else Unknown("stdin"))
        else:
            self._print(path, concat([self._cat(self._abs(f, path)) for f in files]))
        path.status = 0
        return [path]

    def _cat(self, target: Value) -> Value:
        if isinstance(target, Unknown) or not self._inside_repo(target):
            return Unknown("a file's content")
        try:
            with open(target, "rb") as handle:
                return handle.read(65536).decode("utf-8", errors="replace")
        except OSError:
            return Unknown("a file's content")

    def _b_dirname(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        value = args[-1] if args else "."
        result: Value = (
            (os.path.dirname(value.rstrip("/")) or ".") if isinstance(value, str) else value
        )
        self._print(path, concat([result, "\n"]))
        path.status = 0
        return [path]

    def _b_basename(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        value = args[0] if args else ""
        result: Value = os.path.basename(value.rstrip("/")) if isinstance(value, str) else value
        if len(args) > 1 and isinstance(args[1], str) and isinstance(result, str):
            result = result.removesuffix(args[1])
        self._print(path, concat([result, "\n"]))
        path.status = 0
        return [path]

    def _b_realpath(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        files = [a for a in args if not (isinstance(a, str) and a.startswith("-"))]
        value = self._abs(files[-1], path) if files else path.cwd
        self._print(path, concat([value, "\n"]))
        path.status = 0
        return [path]

    def _b_git(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        if args[:2] == ["rev-parse", "--show-toplevel"]:
            self._print(path, str(self.repo) + "\n")
            path.status = 0
        else:
            self._print(
                path,
                Unknown(f"$(git {' '.join(a if isinstance(a, str) else '…' for a in args[:3])})"),
            )
            path.status = None
        return [path]

    def _b_mktemp(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        if "-d" in args or "--directory" in args:
            self._builds_made += 1
            root = f"{BUILD_PREFIX}/{self._builds_made}"
            path.builds[root] = PackageTree()
            self._print(path, root + "\n")
        else:
            self._print(path, Unknown("a temporary file"))
        path.status = 0
        return [path]

    def _b_source(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        if not args:
            path.status = 1
            return [path]
        target = self._abs(args[0], path)
        if isinstance(target, Unknown) or not self._inside_repo(target):
            self._note(
                line, f"`source {show_value(args[0])}`: not followed (not a file in the repo)"
            )
            path.status = None
            return [path]
        real = Path(target).resolve()
        if real in self._sourcing or len(self._sourcing) > 4 or not real.is_file():
            path.status = None if not real.is_file() else 0
            return [path]
        try:
            data = real.read_bytes()[:MAX_SCRIPT_BYTES]
        except OSError:
            path.status = 1
            return [path]
        self._sourcing.append(real)
        try:
            out = self._statements(list(parse_bash(data).root_node.named_children), [path])
        finally:
            self._sourcing.pop()
        for result in out:
            result.returning = False
        return out

    def _b_test(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        words = list(args)
        if words and words[-1] == "]":
            words = words[:-1]
        verdict = test_words(words, lambda v: self._file_test(v, path))
        path.status = None if verdict is None else (0 if verdict else 1)
        return [path]

    def _b_mkdir(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        parents = any(isinstance(a, str) and a.startswith("-") and "p" in a for a in args)
        for arg in args:
            if isinstance(arg, str) and arg.startswith("-"):
                continue
            target = self._abs(arg, path)
            build = self._build_of(target, path)
            if build is None and isinstance(target, str) and not os.path.lexists(target):
                # A folder the script makes (mkdir -p /workspace/deploy_pkg, or a fixed
                # /tmp path) is a build folder as much as $(mktemp -d) is.
                path.builds[target] = PackageTree()
                continue
            if build is not None:
                tree, inside = build
                parent = str(PurePosixPath(inside).parent) if inside else ""
                if not parents and parent not in ("", ".") and not tree.is_dir(parent):
                    return self._fail(path, 1, line, f"mkdir {inside} fails: no parent folder")
                tree.mkdir(inside)
        path.status = 0
        return [path]

    def _b_rm(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        for arg in args:
            if isinstance(arg, str) and arg.startswith("-"):
                continue
            target = self._abs(arg, path)
            build = self._build_of(target, path)
            if build is not None:
                build[0].remove(build[1])
                if not build[1]:
                    build[0].made_dirs.add("")  # rm -rf of the root empties it
        path.status = 0
        return [path]

    def _b_touch(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        for arg in args:
            if isinstance(arg, str) and arg.startswith("-"):
                continue
            build = self._build_of(self._abs(arg, path), path)
            if build is not None and build[1] not in build[0].files:
                build[0].add(
                    build[1], Entry(f"(created by {self._shown(self.script)})", content=b"")
                )
        path.status = 0
        return [path]

    def _b_ln(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        words = [a for a in args if not (isinstance(a, str) and a.startswith("-"))]
        if len(words) == 2 and all(isinstance(w, str) for w in words):
            target, name = str(words[0]), self._abs(words[1], path)
            build = self._build_of(name, path)
            if build is not None:
                tree, inside = build
                if tree.is_dir(inside):
                    inside = f"{inside}/{os.path.basename(target)}"
                tree.add(inside, Entry(f"(linked by {self._shown(self.script)})", link=target))
        elif any(self._names_a_build_path(w, path) for w in words):
            self._incomplete(path, ["ln", *args], line)
        path.status = 0
        return [path]

    def _b_mv(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        words = [a for a in args if not (isinstance(a, str) and a.startswith("-"))]
        if len(words) == 2:
            source = self._build_of(self._abs(words[0], path), path)
            dest = self._build_of(self._abs(words[1], path), path)
            if source is not None and dest is not None and source[0] is dest[0]:
                tree, old = source
                new = dest[1]
                if tree.is_dir(new):
                    new = f"{new}/{PurePosixPath(old).name}".lstrip("/")
                moved = {p: e for p, e in tree.files.items() if p == old or p.startswith(old + "/")}
                tree.remove(old)
                for old_path, entry in moved.items():
                    tree.add(new + old_path[len(old) :], entry)
                path.status = 0
                return [path]
        if any(self._names_a_build_path(w, path) for w in words):
            self._incomplete(path, ["mv", *args], line)
        path.status = 0
        return [path]

    def _b_rsync(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        follow = False
        excludes: list[str] = []
        paths: list[Value] = []
        it = iter(args)
        for arg in it:
            if isinstance(arg, Unknown):
                paths.append(arg)
            elif arg.startswith("--exclude="):
                excludes.append(arg.split("=", 1)[1])
            elif arg == "--exclude":
                nxt = next(it, "")
                excludes.append(nxt if isinstance(nxt, str) else "")
            elif arg in ("--copy-links", "-L"):
                follow = True
            elif arg.startswith(("--exclude-from", "--filter", "--include")):
                self._note(
                    line, f"rsync {arg.split('=')[0]} is not modelled; the copy is taken whole"
                )
            elif arg.startswith("--"):
                continue
            elif arg.startswith("-") and len(arg) > 1:
                follow = follow or "L" in arg
            else:
                paths.append(arg)
        if len(paths) < 2:
            path.status = None
            return [path]
        *sources, dest = paths
        dest_abs = self._abs(dest, path)
        build = self._build_of(dest_abs, path)
        if build is not None:
            tree, inside = build
            parent = str(PurePosixPath(inside).parent) if inside else ""
            if inside and parent not in ("", ".") and not tree.is_dir(parent):
                return self._fail(
                    path,
                    11,
                    line,
                    f"rsync exits 11: the destination's parent {parent}/ does not exist "
                    "(rsync creates only the last folder)",
                )
            tree.mkdir(inside)
        failures: list[tuple[int, str, str | None]] = []
        for source in sources:
            if isinstance(source, Unknown) or isinstance(dest_abs, Unknown):
                self._unknown_copy(path, "rsync", source, dest_abs, line)
                continue
            code, why, absent = self._copy(
                path,
                source,
                dest_abs,
                line,
                contents=source.endswith("/"),
                follow=follow,
                excludes=excludes,
                dest_is_dir=True,
                tool="rsync",
            )
            failures.append((code, why, absent))
        return self._copies_done(path, line, failures)

    def _b_cp(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        follow = recursive = False
        paths: list[Value] = []
        for arg in args:
            if isinstance(arg, Unknown):
                paths.append(arg)
            elif arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
                recursive = recursive or bool(set(arg) & {"r", "R", "a"})
                follow = follow or "L" in arg
            elif arg == "--dereference":
                follow = True
            elif arg in ("--recursive", "--archive"):
                recursive = True
            elif not arg.startswith("--"):
                paths.append(arg)
        if len(paths) < 2:
            path.status = None
            return [path]
        *sources, dest = paths
        dest_abs = self._abs(dest, path)
        failures: list[tuple[int, str, str | None]] = []
        for source in sources:
            if isinstance(source, Unknown) or isinstance(dest_abs, Unknown):
                self._unknown_copy(path, "cp", source, dest_abs, line)
                continue
            contents = source.endswith("/.")
            source_abs = self._abs(source[:-2] if contents else source, path)
            if isinstance(source_abs, Unknown):
                continue
            build = self._build_of(dest_abs, path)
            dest_is_dir = (
                len(sources) > 1
                or (isinstance(dest, str) and dest.endswith("/"))
                or bool(build and build[0].is_dir(build[1]))
            )
            if os.path.isdir(source_abs) and not recursive:
                failures.append(
                    (1, f"cp without -r skips the folder {self._shown(source_abs)}", None)
                )
                continue
            code, why, absent = self._copy(
                path,
                source_abs,
                dest_abs,
                line,
                contents=contents or (not dest_is_dir and os.path.isdir(source_abs)),
                follow=follow or not os.path.islink(source_abs) or not recursive,
                excludes=[],
                dest_is_dir=dest_is_dir,
                tool="cp",
            )
            failures.append((code, why, absent))
        return self._copies_done(path, line, failures)

    def _copies_done(
        self, path: _Path, line: int, results: list[tuple[int, str, str | None]]
    ) -> list[_Path]:
        """A copy command's status is its first failure's (exit status, why, missing source)."""
        failed = next((r for r in results if r[0]), None)
        if failed is not None:
            return self._fail(path, failed[0], line, failed[1], failed[2])
        path.status = 0
        return [path]

    def _unknown_copy(self, path: _Path, tool: str, source: Value, dest: Value, line: int) -> None:
        unknown = source if isinstance(source, Unknown) else dest
        why = unknown.why if isinstance(unknown, Unknown) else "?"
        if self._build_of(dest, path) is not None:
            self._incomplete(path, [tool, f"<{why}>", str(dest)], line)
        else:
            self._note(line, f"{tool} copies from or to a path that depends on {why}; not modelled")

    def _b_eval(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        joined = join(args)
        text = joined.template if isinstance(joined, Unknown) else joined
        if text is None:
            self._note(
                line, f"`eval` of a value that depends on {show_value(joined)}; not followed"
            )
            path.status = None
            return [path]
        if self._depth >= MAX_CALL_DEPTH:
            path.status = None
            return [path]
        self._depth += 1
        try:
            tree = parse_bash(text.encode())
            out = self._statements(list(tree.root_node.named_children), [path])
        finally:
            self._depth -= 1
        for result in out:  # lines inside the eval'd text are reported at the eval's line
            result.status = result.status
        return out

    def _b_grep(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        """`grep [-q] [-E|-F] PATTERN FILE...` on files whose content is known."""
        flags = [a for a in args if isinstance(a, str) and a.startswith("-") and a != "-"]
        words = [a for a in args if not (isinstance(a, str) and a.startswith("-") and a != "-")]
        unsupported = {f for f in flags if f not in ("-q", "-E", "-F", "-s", "-i", "-qE", "-qF")}
        if len(words) < 2 or unsupported or any(isinstance(w, Unknown) for w in words):
            path.status = None
            return [path]
        pattern, files = str(words[0]), [str(w) for w in words[1:]]
        try:
            compiled = re.compile(
                re.escape(pattern) if any("F" in f for f in flags) else pattern,
                re.I if "-i" in flags else 0,
            )
        except re.error:
            path.status = None
            return [path]
        found = False
        for name in files:
            content = self._content(self._abs(name, path), path)
            if content is None:
                path.status = None
                return [path]
            found = found or any(compiled.search(text) for text in content.splitlines())
        path.status = 0 if found else 1
        return [path]

    def _content(self, target: Value, path: _Path) -> str | None:
        """A file's text from a build root or the repository; None when it cannot be read."""
        build = self._build_of(target, path)
        if build is not None:
            entry = build[0].files.get(build[1])
            data = entry.read() if entry is not None else b""
            return data.decode("utf-8", errors="replace") if data is not None else None
        if isinstance(target, Unknown) or not self._inside_repo(target):
            return None
        try:
            with open(target, "rb") as handle:
                return handle.read(4_000_000).decode("utf-8", errors="replace")
        except OSError:
            return "" if not os.path.lexists(target) else None

    def _b_find(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        """`find ROOT -type d -exec touch {}/NAME \\;` and `find ROOT -name P -delete` in a
        build root; other finds only read, unless they write into a build root."""
        build = self._build_of(self._abs(args[0], path), path) if args else None
        if build is None:
            path.status = None
            return [path]
        tree, inside = build
        words = [a if isinstance(a, str) else "…" for a in args[1:]]
        name = words[words.index("-name") + 1] if "-name" in words[:-1] else None
        prefix = f"{inside}/" if inside else ""
        if "-exec" in words and words[words.index("-exec") + 1 : words.index("-exec") + 2] == [
            "touch"
        ]:
            created = words[words.index("-exec") + 2]
            if (
                "-type" in words
                and words[words.index("-type") + 1] == "d"
                and created.startswith("{}/")
            ):
                leaf = created[3:]
                for directory in sorted(tree.dirs):
                    if directory == inside or directory.startswith(prefix) or not inside:
                        target = f"{directory}/{leaf}".lstrip("/")
                        if target not in tree.files:
                            tree.add(
                                target,
                                Entry(
                                    f"(created by {self._shown(self.script)}:{line})", content=b""
                                ),
                            )
                path.status = 0
                return [path]
        if name is not None and (
            "-delete" in words
            or words[words.index("-exec") + 1 : words.index("-exec") + 2] == ["rm"]
            if "-exec" in words
            else "-delete" in words
        ):
            for file in [f for f in tree.files if f.startswith(prefix) or not inside]:
                if fnmatch.fnmatchcase(PurePosixPath(file).name, name):
                    tree.remove(file)
            path.status = 0
            return [path]
        if "-exec" in words or "-delete" in words:
            self._incomplete(path, ["find", *args], line)
        path.status = None
        return [path]

    def _b_gcloud(self, args: list[Value], path: _Path, line: int) -> list[_Path]:
        words = [a for a in args if a not in ("beta", "alpha")]
        is_function = words[:2] == ["functions", "deploy"]
        is_run = words[:2] == ["run", "deploy"] and any(
            isinstance(a, str) and a.startswith("--source") for a in words
        )
        if words[:3] == ["builds", "triggers", "create"]:
            _, options = _gcloud_options(words[3:])
            self.result.triggers.append(
                TriggerCall(
                    options.get("name"),
                    options.get("build-config"),
                    options.get("substitutions"),
                    line,
                )
            )
            path.status = None
            return [path]
        if not (is_function or is_run):
            path.status = None
            return [path]
        positional, options = _gcloud_options(words[2:])
        source = options.get("source")
        source_abs: Value = self._abs(source, path) if source is not None else path.cwd
        package = None
        if isinstance(source_abs, str):
            build = self._build_of(source_abs, path)
            if build is not None:
                package = _subtree(build[0], build[1])
        self.result.deploys.append(
            Deploy(
                name=positional[0] if positional else None,
                source=source_abs,
                entry_point=options.get("entry-point"),
                runtime=options.get("runtime"),
                line=line,
                labels=path.labels,
                package=package,
                copied_from=path.copied_from,
            )
        )
        path.status = None
        return [path]

    # --- copies --------------------------------------------------------------------------------

    def _copy(
        self,
        path: _Path,
        source: str,
        dest: str,
        line: int,
        *,
        contents: bool,
        follow: bool,
        excludes: list[str],
        dest_is_dir: bool,
        tool: str,
    ) -> tuple[int, str, str | None]:
        """Copy a real path into a build root; returns (exit status, why it failed, the
        missing source when that is why)."""
        source_abs = self._abs(source.rstrip("/") or "/", path)
        if isinstance(source_abs, Unknown):
            return 0, "", None
        source_path = Path(source_abs)
        build = self._build_of(dest, path)
        if self._build_of(source_abs, path) is not None:
            self._copy_inside(path, source_abs, dest, contents=contents, dest_is_dir=dest_is_dir)
            return 0, "", None
        if not os.path.lexists(source_path):
            code = 23 if tool == "rsync" else 1
            shown = self._shown(source_path)
            return code, f"{tool} exits {code}: {shown} does not exist", shown
        if not self._inside_repo(str(source_path)):
            self.result.issues.append(
                ScriptIssue(
                    "outside-repo",
                    line,
                    f"{tool} copies {source_abs}, which is outside the repository (not read)",
                    source_abs,
                    labels=path.labels,
                )
            )
            if build is not None:
                build[0].incomplete.append(f"{source_abs} is outside the repository (line {line})")
            return 0, "", None
        if build is None:
            return 0, "", None  # copies outside a build root do not change a package
        tree, inside = build
        path.copied_from = path.copied_from | {str(source_path.resolve())}
        if source_path.is_dir() and (follow or not source_path.is_symlink()):
            base = inside if contents else f"{inside}/{source_path.name}".lstrip("/")
            key = (str(source_path), follow)
            if key not in self._walks:
                self._walks[key] = walk_folder(source_path, self.repo, follow_links=follow)
            files, broken = self._walks[key]
            tree.mkdir(base)
            tree.add_tree(base, [(r, e) for r, e in files if not excluded(r, excludes)])
            dangling = [b for b in broken if not excluded(b[0], excludes)]
            for rel, link_path, target in dangling:
                if not follow:
                    tree.add(f"{base}/{rel}", Entry(self._shown(link_path), broken=target))
            if follow and dangling:
                rel, link_path, target = dangling[0]
                more = f" (and {len(dangling) - 1} more)" if len(dangling) > 1 else ""
                code = 23 if tool == "rsync" else 1
                how = "-L follows links" if tool == "rsync" else "follows links"
                return (
                    code,
                    (
                        f"{tool} exits {code}: {self._shown(link_path)} -> {target} points nowhere"
                        f"{more} ({tool} {how})"
                    ),
                    None,
                )
            return 0, "", None
        name = source_path.name
        target_path = (
            f"{inside}/{name}".lstrip("/") if dest_is_dir or tree.is_dir(inside) else inside
        )
        if source_path.is_symlink() and not source_path.exists():
            if follow:
                code = 23 if tool == "rsync" else 1
                return code, f"{tool} exits {code}: {self._shown(source_path)} points nowhere", None
            tree.add(target_path, Entry(self._shown(source_path), broken=os.readlink(source_path)))
        elif source_path.is_symlink() and not follow:
            tree.add(target_path, Entry(self._shown(source_path), link=os.readlink(source_path)))
        else:
            tree.add(target_path, Entry(self._shown(source_path), real=str(source_path.resolve())))
        return 0, "", None

    def _copy_inside(
        self, path: _Path, source: str, dest: str, *, contents: bool, dest_is_dir: bool
    ) -> None:
        """A copy from one place of a build root (or another root) to another."""
        source_build = self._build_of(source, path)
        dest_build = self._build_of(dest, path)
        if source_build is None or dest_build is None:
            return
        tree, inside = source_build
        dtree, dinside = dest_build
        if inside in tree.files:
            target = f"{dinside}/{PurePosixPath(inside).name}" if dest_is_dir else dinside
            dtree.add(target, tree.files[inside])
            return
        base = dinside if contents else f"{dinside}/{PurePosixPath(inside).name}".lstrip("/")
        for rel, entry in list(tree.files.items()):
            if inside == "" or rel.startswith(inside + "/"):
                dtree.add(f"{base}/{rel[len(inside) :].lstrip('/')}", entry)

    # --- writing files -------------------------------------------------------------------------

    def _print(self, path: _Path, text: Value) -> None:
        if path.stdout is not None:
            path.stdout.append(text)

    def _write(self, path: _Path, target: Value, text: Value, *, append: bool, line: int) -> None:
        destination = self._abs(target, path)
        if isinstance(destination, Unknown):
            return
        build = self._build_of(destination, path)
        if build is None:
            return
        tree, inside = build
        shown = f"(written by {self._shown(self.script)}:{line})"
        if isinstance(text, Unknown):
            tree.incomplete.append(f"{inside} is written with {text.why} (line {line})")
            tree.add(inside, Entry(shown, content=b""))
            return
        data = text.encode()
        if append and inside in tree.files:
            before = tree.files[inside].read() or b""
            data = before + data
        tree.add(inside, Entry(shown, content=data))

    # --- values --------------------------------------------------------------------------------

    def _abs(self, value: Value, path: _Path) -> Value:
        if isinstance(value, Unknown):
            return value
        for alias, real in self.aliases.items():  # Cloud Build's /workspace is the repo
            if value == alias or value.startswith(alias + "/"):
                value = real + value[len(alias) :]
        if value.startswith("/"):
            return os.path.normpath(value)
        if isinstance(path.cwd, Unknown):
            return path.cwd
        return os.path.normpath(os.path.join(path.cwd, value))

    def _build_of(self, target: Value, path: _Path) -> tuple[PackageTree, str] | None:
        if isinstance(target, Unknown) or not path.builds:
            return None
        for root, tree in path.builds.items():
            if target == root:
                return tree, ""
            if target.startswith(root + "/"):
                return tree, target[len(root) + 1 :]
        return None

    def _file_test(self, target: str, path: _Path) -> dict[str, bool] | None:
        """What `-e`/`-f`/`-d`/`-L` say of a path, or None when it cannot be known."""
        absolute = self._abs(target, path)
        if isinstance(absolute, Unknown):
            return None
        build = self._build_of(absolute, path)
        if build is not None:
            tree, inside = build
            is_file = inside in tree.files
            is_dir = tree.is_dir(inside)
            return {"e": is_file or is_dir, "f": is_file, "d": is_dir, "L": False, "s": is_file}
        if absolute.startswith(BUILD_PREFIX) or not self._inside_repo(
            os.path.dirname(absolute) or "/"
        ):
            return None
        return {
            "e": os.path.exists(absolute),
            "f": os.path.isfile(absolute),
            "d": os.path.isdir(absolute),
            "L": os.path.islink(absolute),
            "s": os.path.isfile(absolute) and os.path.getsize(absolute) > 0,
        }

    def _test(self, node: Any, path: _Path) -> bool | None:
        """A `[ ]` / `[[ ]]` expression: True, False, or None when it cannot be decided."""
        kind = node.type
        if kind == "parenthesized_expression":
            inner = node.named_children
            return self._test(inner[0], path) if inner else None
        if kind == "unary_expression":
            operator = next((c for c in node.children if c.type in ("test_operator", "!")), None)
            operand = node.named_children[-1] if node.named_children else None
            if operator is None or operand is None:
                return None
            if operator.type == "!":
                inner = self._test(operand, path)
                return None if inner is None else not inner
            value = self._value(operand, path)
            return test_words([_text(operator), value], lambda v: self._file_test(v, path))
        if kind == "binary_expression":
            children = [c for c in node.children if c.type not in ("(", ")")]
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            operator_node = next(
                (c for c in children if c != left and c != right and c.type != "comment"),
                None,
            )
            operator = _text(operator_node) if operator_node is not None else ""
            if operator in ("&&", "||", "-a", "-o"):
                a = self._test(left, path) if left is not None else None
                b = self._test(right, path) if right is not None else None
                if operator in ("&&", "-a"):
                    return False if a is False or b is False else (None if None in (a, b) else True)
                return True if a is True or b is True else (None if None in (a, b) else False)
            lhs = self._value(left, path) if left is not None else ""
            rhs = self._value(right, path) if right is not None else ""
            return test_words([lhs, operator, rhs], lambda v: self._file_test(v, path))
        if kind == "negated_command":
            inner_nodes = node.named_children
            inner = self._test(inner_nodes[0], path) if inner_nodes else None
            return None if inner is None else not inner
        value = self._value(node, path)
        if isinstance(value, Unknown):
            return None
        return value != ""

    def _value(self, node: Any, path: _Path) -> Value:
        """One word's value, without word splitting."""
        kind = node.type
        if kind in ("word", "number", "extglob_pattern", "regex", "test_operator"):
            return marked(unescape_word(_text(node)))
        if kind == "raw_string":
            return _text(node)[1:-1]
        if kind == "ansi_c_string":
            return ansi_c(_text(node)[2:-1])
        if kind in ("string", "translated_string"):
            return self._string_parts(node, path)
        if kind == "simple_expansion":
            name = node.named_children[-1] if node.named_children else None
            return self._variable(_text(name) if name is not None else _text(node)[1:], path)
        if kind == "expansion":
            return self._expansion(node, path)
        if kind == "command_substitution":
            return self._substitution(node, path)
        if kind == "concatenation":
            return concat([self._value(child, path) for child in node.named_children])
        if kind == "arithmetic_expansion":
            return arithmetic(_text(node))
        if kind == "variable_name":
            return _text(node)
        if kind == "command_name" and node.named_children:
            return self._value(node.named_children[0], path)
        return Unknown(f"`{_short(node, 30)}`")

    def _string_parts(self, node: Any, path: _Path) -> Value:
        """A double-quoted string (or heredoc body): literal text between the expansions."""
        data = node.text
        base = node.start_byte
        parts: list[Value] = []
        cursor = 1 if data[:1] == b'"' else (2 if data[:2] == b'$"' else 0)
        end = len(data) - (1 if data.endswith(b'"') and cursor else 0)
        for child in node.named_children:
            start = child.start_byte - base
            if start > cursor:
                parts.append(marked(unescape_double(data[cursor:start].decode("utf-8", "replace"))))
            if child.type == "simple_expansion" and child.named_children:
                # The grammar can fold a `\`-newline and the spaces before `$NAME` into
                # the expansion's node: keep that text as the literal it is.
                name = child.named_children[-1]
                dollar = name.start_byte - child.start_byte - 1
                if dollar > 1:
                    skipped = child.text[1:dollar].decode("utf-8", "replace")
                    parts.append(marked(unescape_double(skipped)))
            if child.type in ("string_content", "heredoc_content"):
                parts.append(marked(unescape_double(_text(child))))
            elif child.type != "heredoc_end":
                parts.append(self._value(child, path))
            cursor = child.end_byte - base
        if end > cursor:
            parts.append(marked(unescape_double(data[cursor:end].decode("utf-8", "replace"))))
        return concat(parts)

    def _variable(self, name: str, path: _Path) -> Value:
        if name.isdigit() and name != "0":
            index = int(name) - 1
            if path.positional is None:
                unknown = Unknown(f"the script's argument ${name}")
                return path.bound.get(unknown, unknown)
            return path.positional[index] if index < len(path.positional) else ""
        if name in ("@", "*"):
            if path.positional is None:
                return Unknown("the script's arguments")
            return join(list(path.positional))
        if name == "#":
            return (
                Unknown("the number of arguments")
                if path.positional is None
                else str(len(path.positional))
            )
        if name in ("?", "$", "!", "-", "RANDOM", "LINENO", "SECONDS"):
            return Unknown(f"${name}")
        if name == "PWD":
            return path.cwd
        if name in path.vars:
            return path.vars[name]
        return Unknown(f"${name} (not set in the script)")

    def _expansion(self, node: Any, path: _Path) -> Value:
        children = node.children
        inner = [c for c in children if c.type not in ("${", "}")]
        if not inner:
            return ""
        first = inner[0]
        if first.type == "#" and len(inner) > 1:  # ${#VAR}
            value = self._value_of_name(inner[1], path)
            return str(len(value)) if isinstance(value, str) else Unknown("a length")
        if first.type == "!":
            return Unknown(f"`{_short(node, 30)}` (indirect)")
        value = self._value_of_name(first, path)
        if len(inner) == 1:
            return value
        operator = inner[1].type if not inner[1].is_named else ""
        operand_nodes = inner[2:] if operator else inner[1:]
        operand: Value = (
            concat([self._value(c, path) for c in operand_nodes]) if operand_nodes else ""
        )
        name = _text(first)
        unset = isinstance(value, Unknown) and "not set" in value.why
        empty = value == ""
        if operator in (":-", "-", ":=", "="):
            use_default = unset or (empty and ":" in operator)
            if isinstance(value, Unknown) and not unset:
                return value
            if use_default:
                if "=" in operator:
                    path.vars[name] = operand
                return operand
            return value
        if operator in (":+", "+"):
            if isinstance(value, Unknown) and not unset:
                return value
            return "" if unset or (empty and operator == ":+") else operand
        if operator in (":?", "?"):
            return value
        if isinstance(value, Unknown) or isinstance(operand, Unknown):
            return value if isinstance(value, Unknown) else Unknown(f"`{_short(node, 30)}`")
        if operator in ("%", "%%"):
            return trim(value, operand, suffix=True, longest=operator == "%%")
        if operator in ("#", "##"):
            return trim(value, operand, suffix=False, longest=operator == "##")
        if operator in ("/", "//"):
            slash = next((i for i, c in enumerate(operand_nodes) if c.type == "/"), None)
            before = operand_nodes if slash is None else operand_nodes[:slash]
            after = [] if slash is None else operand_nodes[slash + 1 :]
            pattern = concat([self._value(c, path) for c in before])
            replacement = concat([self._value(c, path) for c in after])
            if isinstance(pattern, Unknown) or isinstance(replacement, Unknown):
                return Unknown(f"`{_short(node, 30)}`")
            return value.replace(pattern, replacement, -1 if operator == "//" else 1)
        if operator in (",,", "^^", ",", "^"):
            return value.lower() if operator.startswith(",") else value.upper()
        return Unknown(f"`{_short(node, 30)}`")

    def _value_of_name(self, node: Any, path: _Path) -> Value:
        if node.type == "subscript":
            name = node.child_by_field_name("name")
            index = node.child_by_field_name("index")
            if (
                name is not None
                and _text(name) == "BASH_SOURCE"
                and (index is None or _text(index) in ("0", "@", "*"))
            ):
                return self._script_value
            return Unknown(f"`{_short(node, 30)}` (an array)")
        return self._variable(_text(node), path)

    def _substitution(self, node: Any, path: _Path) -> Value:
        """`$(...)`: evaluated on a copy of the path; what it prints is the value."""
        probe = path.fork()
        probe.stdout = []
        probe.errexit = False
        self._cond += 1
        try:
            results = self._statements(list(node.named_children), [probe])
        finally:
            self._cond -= 1
        outputs = {
            concat(r.stdout or []) if not isinstance(concat(r.stdout or []), Unknown) else None
            for r in results
        }
        if len(results) != 1 or None in outputs:
            unknown = next(
                (v for r in results for v in (r.stdout or []) if isinstance(v, Unknown)), None
            )
            return unknown or Unknown(f"$({_short(node, 30)[2:-1]})")
        # Effects on build roots (mktemp -d) are kept; variables stay in the subshell.
        path.builds = results[0].builds
        value = concat(results[0].stdout or [])
        return value.rstrip("\n") if isinstance(value, str) else value

    def _fields(self, node: Any, path: _Path) -> list[Value]:
        """A word's fields: unquoted expansions split on whitespace, globs expanded."""
        if node.type == "command_name" and node.named_children:
            node = node.named_children[0]
        if _is_all_arguments(node):  # "$@": each argument its own word
            if path.positional is None:
                return [Unknown("the script's arguments")]
            return list(path.positional)
        whole = _ALL_ELEMENTS.fullmatch(node.text) if node.type == "string" else None
        if whole is not None:  # "${name[@]}": each element its own word
            name = whole[1].decode()
            if name in path.arrays:
                elements = list(path.arrays[name])
                return elements if whole[2] == b"@" else [concat(_spaced(elements))]
            return [Unknown(f"the array {name}")]
        value = self._value(node, path)
        kind = node.type
        if isinstance(value, Unknown):
            if value.template is not None and kind in ("simple_expansion", "expansion"):
                return [marked(word) for word in value.template.split()]
            return [value]
        if kind in ("simple_expansion", "expansion", "command_substitution"):
            return list(value.split())
        if (
            kind in ("word", "concatenation")
            and any(ch in _text(node) for ch in "*?[")
            and (
                kind == "word"
                or not any(c.type in ("string", "raw_string") for c in node.named_children)
            )
        ):
            return self._glob(value, path) or [value]
        return [value]

    def _glob(self, pattern: str, path: _Path) -> list[Value]:
        absolute = self._abs(pattern, path)
        if isinstance(absolute, Unknown) or absolute.startswith(BUILD_PREFIX):
            return []
        if not self._inside_repo(os.path.dirname(absolute.split("*")[0]) or "/"):
            return []
        matches = sorted(glob.glob(absolute))[:1000]
        if not matches:
            return []
        if pattern.startswith("/"):
            return list(matches)
        cwd = str(path.cwd)
        return [os.path.relpath(m, cwd) for m in matches]


_STATEMENTS: dict[str, Any] = {
    name.removeprefix("_do_"): handler
    for name, handler in vars(ScriptEvaluator).items()
    if name.startswith("_do_")
}
"""Node type -> the method that evaluates it."""

_BUILTINS: dict[str, Any] = {
    "true": ScriptEvaluator._b_true,
    ":": ScriptEvaluator._b_true,
    "false": ScriptEvaluator._b_false,
    "exit": ScriptEvaluator._b_exit,
    "return": ScriptEvaluator._b_return,
    "break": ScriptEvaluator._b_break,
    "continue": ScriptEvaluator._b_break,
    "set": ScriptEvaluator._b_set,
    "shift": ScriptEvaluator._b_shift,
    "cd": ScriptEvaluator._b_cd,
    "pushd": ScriptEvaluator._b_cd,
    "pwd": ScriptEvaluator._b_pwd,
    "echo": ScriptEvaluator._b_echo,
    "printf": ScriptEvaluator._b_printf,
    "cat": ScriptEvaluator._b_cat,
    "dirname": ScriptEvaluator._b_dirname,
    "basename": ScriptEvaluator._b_basename,
    "realpath": ScriptEvaluator._b_realpath,
    "readlink": ScriptEvaluator._b_realpath,
    "git": ScriptEvaluator._b_git,
    "mktemp": ScriptEvaluator._b_mktemp,
    "source": ScriptEvaluator._b_source,
    ".": ScriptEvaluator._b_source,
    "test": ScriptEvaluator._b_test,
    "[": ScriptEvaluator._b_test,
    "mkdir": ScriptEvaluator._b_mkdir,
    "rm": ScriptEvaluator._b_rm,
    "touch": ScriptEvaluator._b_touch,
    "ln": ScriptEvaluator._b_ln,
    "mv": ScriptEvaluator._b_mv,
    "rsync": ScriptEvaluator._b_rsync,
    "cp": ScriptEvaluator._b_cp,
    "gcloud": ScriptEvaluator._b_gcloud,
    "grep": ScriptEvaluator._b_grep,
    "eval": ScriptEvaluator._b_eval,
    "find": ScriptEvaluator._b_find,
}


# --- pure helpers ----------------------------------------------------------------------------


_ARGUMENT_TOKENS = re.compile(rb"\$#|\$@|\$\*|\$\{?[1-9]\b|\$\{#\}|\$\{@\}")


def _reads_arguments(node: Any) -> bool:
    return bool(_ARGUMENT_TOKENS.search(node.text))


_ALL_ELEMENTS = re.compile(rb'"\$\{(\w+)\[([@*])\]\}"')
"""`"${name[@]}"` (each element a word) or `"${name[*]}"` (one word)."""


def _spaced(values: list[Value]) -> list[Value]:
    """Values with a space between each two (`"${name[*]}"` joins them so)."""
    joined: list[Value] = []
    for value in values:
        if joined:
            joined.append(" ")
        joined.append(value)
    return joined


def _is_all_arguments(node: Any) -> bool:
    """`"$@"` or `"${@}"` (a quoted word that is only the arguments)."""
    return node.type == "string" and node.text in (b'"$@"', b'"${@}"')


def _named(nodes: list[Any]) -> list[Any]:
    """Field lists hold anonymous tokens (`;`, `in`) too; the statements are the named ones."""
    return [n for n in nodes if n.is_named and n.type != "comment"]


def _gcloud_options(rest: list[Value]) -> tuple[list[Value], dict[str, Value]]:
    """A gcloud command's positional arguments and `--flag[=value]` options."""
    positional: list[Value] = []
    options: dict[str, Value] = {}
    i = 0
    while i < len(rest):
        arg = rest[i]
        if isinstance(arg, str) and arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            if eq:
                options[key] = value
            elif (
                key not in _BOOLEAN_FLAGS
                and i + 1 < len(rest)
                and not (isinstance(rest[i + 1], str) and str(rest[i + 1]).startswith("--"))
            ):
                options[key] = rest[i + 1]
                i += 1
            else:
                options[key] = ""
        else:
            positional.append(arg)
        i += 1
    return positional, options


def _subtree(tree: PackageTree, inside: str) -> PackageTree:
    if not inside:
        return tree.copy()
    view = PackageTree()
    view.incomplete = list(tree.incomplete)
    for path, entry in tree.files.items():
        if path.startswith(inside + "/"):
            view.add(path[len(inside) + 1 :], entry)
    for directory in tree.made_dirs:
        if directory.startswith(inside + "/"):
            view.mkdir(directory[len(inside) + 1 :])
    return view


def evaluate_script(
    script: Path, repo: Path, walks: dict[tuple[str, bool], Walk] | None = None
) -> ScriptResult:
    """Evaluate a deploy script (see the module docstring); `walks` shares folder walks
    between the scripts of one run."""
    return ScriptEvaluator(script, repo, walks=walks).run()
