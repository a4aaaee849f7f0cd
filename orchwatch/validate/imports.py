"""Which imports a module runs, and how: eagerly, optionally, lazily, or never.

| where the import stands                                  | context      |
|----------------------------------------------------------|--------------|
| module level (also inside plain `if`/`with`/`for`)       | EAGER        |
| inside `try:` whose handler catches ImportError          | OPTIONAL     |
| (ModuleNotFoundError, Exception, BaseException, bare)    |              |
| inside a function or method body, `if __name__ == ...`   | LAZY         |
| under `if TYPE_CHECKING:`                                | (not listed) |

`importlib.import_module("literal")` and `__import__("literal")` count as imports.
"""

from __future__ import annotations

import ast
import sys
import warnings
from dataclasses import dataclass
from enum import IntEnum


class Context(IntEnum):
    """How an import runs; lower is more certain to run at start-up."""

    EAGER = 0
    OPTIONAL = 1
    LAZY = 2


@dataclass(frozen=True, slots=True)
class ImportSite:
    """One import statement (or one name of a multi-name import)."""

    module: str
    """The dotted module as written (without leading dots)."""
    level: int
    """Leading dots of a relative import; 0 for absolute."""
    names: tuple[str, ...]
    """For `from module import a, b`: ("a", "b"); empty for `import module`."""
    line: int
    context: Context


@dataclass(frozen=True, slots=True)
class ModuleFacts:
    """What the validator needs to know of one source file; cached by content hash."""

    imports: tuple[ImportSite, ...]
    functions: tuple[str, ...]
    """Names of top-level `def`/`async def`."""
    defines: tuple[str, ...] = ()
    """Every top-level name the module binds; "*" when it cannot be known (star import,
    module `__getattr__`)."""
    syntax_error: tuple[int, str] | None = None
    """(line, message) when the file does not parse."""


_CATCHES_IMPORT_ERROR = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}


def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    for handler in handlers:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for kind in types:
            name = kind.attr if isinstance(kind, ast.Attribute) else getattr(kind, "id", None)
            if name in _CATCHES_IMPORT_ERROR:
                return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


_EXPRESSION_FIELDS = (
    "decorator_list",
    "args",
    "returns",
    "bases",
    "keywords",
    "test",
    "iter",
    "items",
    "value",
    "targets",
    "target",
    "subject",
    "exc",
    "msg",
)


class _Collector(ast.NodeVisitor):
    """Import statements in their context. With `expressions` False only statements are
    walked (imports are statements; a module without `import_module`/`__import__` in its
    text has no dynamic import to find in its expressions), which is several times faster."""

    def __init__(self, expressions: bool = True) -> None:
        self.sites: list[ImportSite] = []
        self.context = Context.EAGER
        self.expressions = expressions

    def generic_visit(self, node: ast.AST) -> None:
        if self.expressions:
            super().generic_visit(node)
            return
        for name, value in ast.iter_fields(node):
            if name in _EXPRESSION_FIELDS:
                continue
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.stmt | ast.excepthandler | ast.match_case):
                        self.visit(item)
            elif isinstance(value, ast.stmt):
                self.visit(value)

    def _with(self, context: Context, nodes: list[ast.stmt] | list[ast.AST]) -> None:
        saved = self.context
        self.context = max(self.context, context)
        for node in nodes:
            self.visit(node)
        self.context = saved

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.sites.append(ImportSite(alias.name, 0, (), node.lineno, self.context))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = tuple(alias.name for alias in node.names)
        self.sites.append(
            ImportSite(node.module or "", node.level, names, node.lineno, self.context)
        )

    def visit_Try(self, node: ast.Try) -> None:
        if _catches_import_error(node.handlers):
            self._with(Context.OPTIONAL, list(node.body))
        else:
            self._with(self.context, list(node.body))
        for handler in node.handlers:
            self._with(self.context, list(handler.body))
        self._with(self.context, [*node.orelse, *node.finalbody])

    visit_TryStar = visit_Try  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._with(self.context, list(node.orelse))
            return
        if _is_main_guard(node.test):
            self._with(Context.LAZY, list(node.body))
            self._with(self.context, list(node.orelse))
            return
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        defaults: list[ast.AST] = [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]
        for default in defaults:  # defaults run at definition time
            self.visit(default)
        body = node.body if isinstance(node.body, list) else [node.body]
        self._with(Context.LAZY, list(body))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        is_dynamic = name == "__import__" or (
            name == "import_module"
            and (
                not isinstance(func, ast.Attribute)
                or (isinstance(func.value, ast.Name) and func.value.id == "importlib")
            )
        )
        if is_dynamic and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                module = first.value
                level = len(module) - len(module.lstrip("."))
                self.sites.append(
                    ImportSite(module.lstrip("."), level, (), node.lineno, self.context)
                )
        self.generic_visit(node)


def analyse_source(
    source: bytes, filename: str = "<module>", feature_version: tuple[int, int] | None = None
) -> ModuleFacts:
    """The imports and top-level functions of one module's source.

    Judged with compile semantics: a module that parses but does not compile (a repeated
    keyword argument, `return` outside a function) has a syntax error, as it has when
    the runtime imports it. `feature_version` judges the grammar of an older Python.
    """
    try:
        # The user's code may warn (invalid escape sequences): never onto our terminal.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if feature_version is not None and feature_version < sys.version_info[:2]:
                tree = ast.parse(source, filename=filename, feature_version=feature_version)
            else:
                tree = ast.parse(source, filename=filename)
            compile(tree, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return ModuleFacts((), (), (), (exc.lineno or 1, exc.msg))
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, deep nesting
        return ModuleFacts((), (), (), (1, f"{type(exc).__name__}: {exc}"[:200]))
    collector = _Collector(expressions=b"import_module" in source or b"__import__" in source)
    try:
        collector.visit(tree)
    except RecursionError:
        return ModuleFacts((), (), (), (1, "nested too deeply to analyse"))
    functions = tuple(
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )
    return ModuleFacts(tuple(collector.sites), functions, tuple(sorted(_bound_names(tree))))


def _bound_names(tree: ast.Module) -> set[str]:
    """Names bound at module level (including inside top-level if/try blocks)."""
    names: set[str] = set()
    statements: list[ast.stmt] = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names.add("*" if alias.name == "*" else alias.asname or alias.name)
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
            for block in ("body", "orelse", "finalbody", "handlers"):
                statements.extend(getattr(node, block, []))
        elif isinstance(node, ast.ExceptHandler):
            statements.extend(node.body)
    if "__getattr__" in names:
        names.add("*")
    return names
