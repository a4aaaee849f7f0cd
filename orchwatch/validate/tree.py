"""A deployment package as it will be uploaded, modelled as a virtual file tree.

Nothing is copied: each entry remembers where its bytes really are (or that it
is a link pointing nowhere), and the repo-relative path to show the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

SKIPPED_DIRS = frozenset({"__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One file in a package."""

    shown: str
    """Repo-relative path the user would open (where the bytes come from)."""
    real: str | None = None
    """The file's real path; None for a broken link or generated content."""
    content: bytes | None = None
    """Bytes written by the deploy script itself (`echo ... > file`)."""
    link: str | None = None
    """For a link copied as a link: the package path it points to, resolved after evaluation."""
    broken: str | None = None
    """For a link pointing nowhere: its target as written."""

    def read(self) -> bytes | None:
        """The entry's bytes, or None when it has none (broken link, unreadable)."""
        if self.content is not None:
            return self.content
        if self.real is None:
            return None
        try:
            with open(self.real, "rb") as handle:
                return handle.read()
        except OSError:
            return None


@dataclass
class PackageTree:
    """Package-relative POSIX paths -> entries; directories are derived from the paths."""

    files: dict[str, Entry] = field(default_factory=dict)
    _dirs: set[str] | None = None

    def add(self, path: str, entry: Entry) -> None:
        """Put a file at a package path (replacing what was there)."""
        self.files[_clean(path)] = entry
        self._dirs = None

    def remove(self, prefix: str) -> None:
        """Remove a file or a whole directory."""
        prefix = _clean(prefix)
        for path in [p for p in self.files if p == prefix or p.startswith(prefix + "/")]:
            del self.files[path]
        self._dirs = None

    @property
    def dirs(self) -> set[str]:
        """Every directory that holds a file ("" is the root)."""
        if self._dirs is None:
            dirs = {""}
            for path in self.files:
                parent = PurePosixPath(path).parent
                while str(parent) not in dirs and str(parent) != ".":
                    dirs.add(str(parent))
                    parent = parent.parent
            self._dirs = dirs
        return self._dirs

    def is_dir(self, path: str) -> bool:
        """Whether a directory exists at a package path."""
        return _clean(path) in self.dirs

    def module_file(self, dotted: str) -> str | None:
        """The file a dotted module resolves to: `a/b.py`, `a/b/__init__.py`, or `a/b/` for a
        namespace package; None when it does not exist."""
        base = dotted.replace(".", "/")
        for candidate in (f"{base}.py", f"{base}/__init__.py"):
            entry = self.files.get(candidate)
            if entry is not None and entry.broken is None:  # a dangling link imports nothing
                return candidate
        if self.is_dir(base):
            return f"{base}/"
        return None


def _clean(path: str) -> str:
    cleaned = os.path.normpath(path).replace(os.sep, "/")
    return "" if cleaned == "." else cleaned.lstrip("/")


def walk_folder(
    folder: Path, repo: Path, *, follow_links: bool = True
) -> tuple[list[tuple[str, Entry]], list[tuple[str, Path, str]]]:
    """Files below `folder`, as a direct `--source=<folder>` deploy uploads them.

    Args:
        folder: the folder to walk (it may itself be reached through a link).
        repo: the repo root, for the paths shown to the user.
        follow_links: follow links to files and folders (gcloud and `rsync -L` do);
            otherwise links are returned as link entries to resolve later.

    Returns:
        (files, broken): files as (path relative to folder, entry); broken links as
        (path relative to folder, the link's path, its target as written).
    """
    files: list[tuple[str, Entry]] = []
    broken: list[tuple[str, Path, str]] = []
    seen_dirs: set[tuple[int, int]] = set()
    repo_prefix = str(repo).rstrip("/") + "/"

    def shown(path: str) -> str:  # plain strings: pathlib is too slow for this hot loop
        return path[len(repo_prefix) :] if path.startswith(repo_prefix) else path

    def visit(directory: str, rel: str) -> None:
        try:
            stat = os.stat(directory)
        except OSError:
            return
        if (stat.st_dev, stat.st_ino) in seen_dirs:  # a link loop
            return
        seen_dirs.add((stat.st_dev, stat.st_ino))
        try:
            children = sorted(os.scandir(directory), key=lambda e: e.name)
            real_directory = os.path.realpath(directory)  # once per folder, not per file
        except OSError:
            return
        for child in children:
            path = child.path
            child_rel = f"{rel}/{child.name}" if rel else child.name
            if child.is_symlink():
                target = os.readlink(path)
                if not os.path.exists(path):
                    broken.append((child_rel, Path(path), target))
                    continue
                if not follow_links:
                    files.append((child_rel, Entry(shown(path), link=target)))
                    continue
            if child.is_dir():
                if child.name not in SKIPPED_DIRS:
                    visit(path, child_rel)
            elif child.is_file() and not child.name.endswith(".pyc"):
                if child.is_symlink():
                    real = os.path.realpath(path)
                else:
                    real = os.path.join(real_directory, child.name)
                files.append((child_rel, Entry(shown(path), real=real)))

    visit(str(folder), "")
    return files, broken
