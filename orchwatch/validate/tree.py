"""A deployment package as it will be uploaded, modelled as a virtual file tree.

Nothing is copied: each entry remembers where its bytes really are (or that it
is a link pointing nowhere), and the repo-relative path to show the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    outside: str | None = None
    """For a link that leaves the repository: where it leads (never read)."""

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
    made_dirs: set[str] = field(default_factory=set)
    """Directories created empty (`mkdir -p`), which copies into them rely on."""
    incomplete: list[str] = field(default_factory=list)
    """Why the tree may lack files: steps that write into it the evaluator could not model."""
    _dirs: set[str] | None = None
    _signature: int | None = None

    def copy(self) -> PackageTree:
        """An independent copy (entries are immutable, so sharing them is safe)."""
        return PackageTree(dict(self.files), set(self.made_dirs), list(self.incomplete))

    def signature(self) -> int:
        """A hash of the tree's content, for telling apart paths through a script."""
        if self._signature is None:
            self._signature = hash((frozenset(self.files.items()), frozenset(self.made_dirs)))
        return self._signature

    def mkdir(self, path: str) -> None:
        """Create a directory (and its parents)."""
        cleaned = _clean(path)
        if cleaned:
            self.made_dirs.add(cleaned)
            self._dirs = None
        self._signature = None

    def add(self, path: str, entry: Entry) -> None:
        """Put a file at a package path (replacing what was there)."""
        cleaned = _clean(path)
        self.files[cleaned] = entry
        if self._dirs is not None:  # keep the derived folders current: copies add many files
            parent = cleaned.rpartition("/")[0]
            while parent and parent not in self._dirs:
                self._dirs.add(parent)
                parent = parent.rpartition("/")[0]
        self._signature = None

    def add_tree(self, base: str, files: list[tuple[str, Entry]]) -> None:
        """Put a walked folder's files under `base` (their relative paths are already clean)."""
        prefix = f"{_clean(base)}/" if _clean(base) else ""
        self.files.update((f"{prefix}{rel}", entry) for rel, entry in files)
        self._dirs = None
        self._signature = None

    def remove(self, prefix: str) -> None:
        """Remove a file or a whole directory."""
        prefix = _clean(prefix)
        if not prefix:
            self.files.clear()
            self.made_dirs.clear()
        for path in [p for p in self.files if p == prefix or p.startswith(prefix + "/")]:
            del self.files[path]
        self.made_dirs = {
            d for d in self.made_dirs if d != prefix and not d.startswith(prefix + "/")
        }
        self._dirs = None
        self._signature = None

    @property
    def dirs(self) -> set[str]:
        """Every directory that holds a file or was made ("" is the root)."""
        if self._dirs is None:
            dirs = {""}
            for path in [*(p.rpartition("/")[0] for p in self.files), *self.made_dirs]:
                while path and path not in dirs:
                    dirs.add(path)
                    path = path.rpartition("/")[0]
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
    repo_real = os.path.realpath(repo)

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
                real_target = os.path.realpath(path)
                if real_target != repo_real and not real_target.startswith(repo_real + "/"):
                    files.append((child_rel, Entry(shown(path), outside=real_target)))
                    continue  # copied, but never read (nor walked) here
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


# gcloud's default ignore file when the folder has git files or node_modules and no
# .gcloudignore (googlecloudsdk/command_lib/util/gcloudignore.py DEFAULT_IGNORE_FILE,
# plus the `node_modules` line command_lib/functions/source_util.py adds).
_GCLOUD_DEFAULT_IGNORE = [
    ".gcloudignore",
    ".git",
    ".gitignore",
    "#!include:.gitignore",
    "node_modules",
]
_GCLOUD_TRIGGERS = (".git", ".gitignore", "node_modules")


@dataclass
class Upload:
    """What `gcloud functions deploy --source=<folder>` uploads, and what stops it."""

    tree: PackageTree
    dangling: list[tuple[str, str]]
    """(path in the package, target as written) of links that point nowhere: gcloud's
    zip fails on the first (os.path.getmtime of the link raises), so nothing deploys."""
    skipped_dir_links: list[str]
    """Links to folders: os.walk lists them but never enters them, so they are not uploaded."""
    ignore_file: str | None


def _ignore_lines(folder: Path) -> tuple[list[str], str | None]:
    own = folder / ".gcloudignore"
    if own.is_file():
        lines, shown = (
            own.read_text(encoding="utf-8", errors="replace").splitlines(),
            ".gcloudignore",
        )
    elif any((folder / name).exists() for name in _GCLOUD_TRIGGERS):
        lines, shown = list(_GCLOUD_DEFAULT_IGNORE), "gcloud's default ignore list"
    else:
        return [], None
    expanded: list[str] = []
    for line in lines:
        if line.startswith("#!include:"):
            included = folder / line.split(":", 1)[1].strip()
            if included.is_file() and included.resolve().parent == folder.resolve():
                expanded.extend(included.read_text(encoding="utf-8", errors="replace").splitlines())
        else:
            expanded.append(line)
    return expanded, shown


def gcloud_upload(folder: Path, repo: Path) -> Upload:
    """The package gcloud builds from a folder, as its own code does: `.gcloudignore` (or its
    default list), `os.walk` without following folder links, file links read through."""
    import pathspec

    lines, ignore_file = _ignore_lines(folder)
    spec = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
    tree = PackageTree()
    dangling: list[tuple[str, str]] = []
    skipped: list[str] = []
    repo_real = os.path.realpath(repo)
    repo_prefix = str(repo).rstrip("/") + "/"
    top = str(folder)
    for root, dirs, files in os.walk(top):
        rel_root = os.path.relpath(root, top)
        rel_root = "" if rel_root == "." else rel_root.replace(os.sep, "/")
        kept = []
        for name in sorted(dirs):
            rel = f"{rel_root}/{name}" if rel_root else name
            if spec is not None and spec.match_file(rel + "/"):
                continue
            if os.path.islink(os.path.join(root, name)):
                skipped.append(rel)  # os.walk lists a folder link but does not enter it
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            rel = f"{rel_root}/{name}" if rel_root else name
            if spec is not None and spec.match_file(rel):
                continue
            path = os.path.join(root, name)
            shown = path[len(repo_prefix) :] if path.startswith(repo_prefix) else path
            if os.path.islink(path) and not os.path.exists(path):
                dangling.append((rel, os.readlink(path)))
                tree.add(rel, Entry(shown, broken=os.readlink(path)))
                continue
            real = os.path.realpath(path)
            if real != repo_real and not real.startswith(repo_real + "/"):
                tree.add(rel, Entry(shown, outside=real))  # uploaded, but never read here
                continue
            tree.add(rel, Entry(shown, real=real))
    return Upload(tree, dangling, skipped, ignore_file)


def resolve_copied_links(
    tree: PackageTree, repo: Path
) -> tuple[PackageTree, list[tuple[str, str]]]:
    """What gcloud uploads of a build folder that holds links copied as links (`rsync -a`
    without `-L`): a link to a file of the package is that file, a link to a folder is
    not entered, and a link that resolves to nothing aborts the upload. Relative links
    resolve where the copy landed, not where they came from."""
    out = PackageTree(dict(tree.files), set(tree.made_dirs), list(tree.incomplete))
    dangling: list[tuple[str, str]] = []
    for path, entry in tree.files.items():
        if entry.link is None:
            continue
        target = entry.link
        if target.startswith("/"):
            real = os.path.realpath(target)
            inside = real == os.path.realpath(repo) or real.startswith(os.path.realpath(repo) + "/")
            if inside and os.path.isfile(real):
                out.add(path, Entry(entry.shown, real=real))
            elif inside and os.path.isdir(real):
                out.remove(path)
            else:
                out.add(path, Entry(entry.shown, broken=target))
                dangling.append((path, target))
            continue
        landed = _clean(os.path.join(os.path.dirname(path), target))
        if landed.startswith("..") or os.path.normpath(
            os.path.join(os.path.dirname(path), target)
        ).startswith(".."):
            out.add(path, Entry(entry.shown, broken=target))
            dangling.append((path, target))
        elif landed in tree.files and tree.files[landed].link is None:
            out.add(path, tree.files[landed])
        elif tree.is_dir(landed):
            out.remove(path)
        else:
            out.add(path, Entry(entry.shown, broken=target))
            dangling.append((path, target))
    return out, dangling
