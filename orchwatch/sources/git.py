"""Read the pipeline repo's history with git (for drift markers and deploy previews)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from orchwatch.sources.base import SourceError


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit of the repo."""

    sha: str
    when: datetime
    author: str
    subject: str


def function_paths(repo: Path, folder: Path) -> list[str]:
    """What a function's package is made of, repo-relative: its folder and the real
    folders and files its links point into (shared/...)."""
    paths = {folder.relative_to(repo).as_posix()}
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = Path(root) / name
            if path.is_symlink() and path.exists():
                try:
                    paths.add(path.resolve().relative_to(repo.resolve()).as_posix())
                except ValueError:
                    continue
    return sorted(paths)


def commits_since(
    repo: Path, commit: str, paths: Sequence[str], timeout: float = 10.0, to: str = "HEAD"
) -> list[Commit]:
    """Commits after `commit` up to `to` (a ref) that touch `paths` (git pathspecs),
    newest first.

    Raises:
        SourceError: git failed (not a repo, unknown commit...); the message says why.
    """
    if not commit or not all(c in "0123456789abcdefABCDEF" for c in commit):
        raise SourceError(f"not a commit id: {commit!r}")
    out = _git(
        repo,
        ["log", "--format=%H%x09%cI%x09%an%x09%s", f"{commit}..{to}", "--", *paths],
        timeout,
    )
    commits = []
    for line in out.splitlines():
        sha, when, author, subject = [*line.split("\t", 3), "", "", ""][:4]
        commits.append(Commit(sha, datetime.fromisoformat(when), author, subject))
    return commits


def branch_ref(repo: Path, branch: str, timeout: float = 10.0) -> str:
    """The full ref that holds `branch`'s head: its remote-tracking branch
    (`refs/remotes/origin/main`: what was pushed, as of the last fetch) when there is one,
    else the local branch.

    Raises:
        SourceError: neither exists, or git failed.
    """
    _git(repo, ["rev-parse", "--git-dir"], timeout)  # not a repository: git says so
    for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
        try:
            _git(repo, ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], timeout)
        except SourceError:
            continue
        return ref
    raise SourceError(f"the repository has no branch {branch} (nor origin/{branch})")


def uncommitted(repo: Path, paths: Sequence[str], timeout: float = 10.0) -> list[str]:
    """Paths under `paths` whose working-tree content differs from HEAD (modified, added,
    deleted, renamed or untracked), as `git status` names them: a deploy from this
    folder would ship them, though no commit holds them.

    Raises:
        SourceError: git failed (not a repo...); the message says why.
    """
    out = _git(repo, ["status", "--porcelain=v1", "-z", "--", *paths], timeout)
    changed: list[str] = []
    entries = iter(out.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        state, path = entry[:2], entry[3:]
        changed.append(f"{state.strip() or '?'} {path}")
        if "R" in state or "C" in state:
            next(entries, None)  # the path it was renamed or copied from
    return changed


def _git(repo: Path, args: Sequence[str], timeout: float) -> str:
    """What `git -C repo ARGS` prints (decoded leniently: paths need not be UTF-8).

    Raises:
        SourceError: git could not run, ran past `timeout`, or failed; the message names
            the subcommand and git's last line.
    """
    what = f"git {args[0]}"
    try:
        result = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SourceError(f"{what} failed: {lines[-1] if lines else f'exit {result.returncode}'}")
    return result.stdout.decode("utf-8", "replace")
