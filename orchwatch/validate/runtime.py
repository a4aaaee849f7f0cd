"""A function's Python runtime, and how its modules are judged under it.

Cloud Functions compiles a package with the runtime's Python (`--runtime python312`).
The validator judges each module the same way, with compile semantics, not only a
parse (a repeated keyword argument parses but does not compile):

- a runtime no newer than the Python orchwatch runs on: `ast.parse` with the
  runtime's `feature_version`, then `compile`;
- a newer runtime: the same analysis run by an interpreter of that version, in one
  batch per run: `[validate] interpreters` in the config, else `pythonX.Y` on PATH,
  else the Python the Google Cloud CLI bundles. With none, a module the host
  cannot parse is reported as "cannot judge" (a warning), never as an error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from orchwatch.validate.imports import Context, ImportSite, ModuleFacts

HOST = (sys.version_info[0], sys.version_info[1])
DEFAULT_RUNTIME = "python311"
_RUNTIME = re.compile(r"^python(\d)(\d+)$")
_BATCH_TIMEOUT = 120.0
_SDK_PYTHONS = ("/usr/lib/google-cloud-sdk/platform/bundledpythonunix/bin/python3",)


def runtime_version(runtime: str | None) -> tuple[int, int] | None:
    """`python312` -> (3, 12); None for anything else (another language, a variable)."""
    match = _RUNTIME.match(runtime or "")
    return (int(match[1]), int(match[2])) if match else None


@cache
def _version_of(interpreter: str) -> tuple[int, int] | None:
    try:
        done = subprocess.run(
            [interpreter, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        major, minor = done.stdout.split()
        return int(major), int(minor)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def find_interpreter(
    version: tuple[int, int], configured: Mapping[str, str] | None = None
) -> str | None:
    """An interpreter of exactly `version`, or None."""
    name = f"python{version[0]}{version[1]}"
    candidates: list[str] = []
    if configured and name in configured:
        candidates.append(os.path.expanduser(configured[name]))
    on_path = shutil.which(f"python{version[0]}.{version[1]}")
    if on_path:
        candidates.append(on_path)
    gcloud = shutil.which("gcloud")
    if gcloud:
        sdk = Path(os.path.realpath(gcloud)).parent.parent
        candidates.append(str(sdk / "platform" / "bundledpythonunix" / "bin" / "python3"))
    candidates.extend(_SDK_PYTHONS)
    for candidate in candidates:
        if os.path.isfile(candidate) and _version_of(candidate) == version:
            return candidate
    return None


_BATCH = """
import base64, dataclasses, json, sys
sys.path.insert(0, sys.argv[1])
from orchwatch.validate.imports import analyse_source
request = json.load(sys.stdin)
out = {}
for digest, (name, data) in request.items():
    facts = analyse_source(base64.b64decode(data), name)
    out[digest] = dataclasses.asdict(facts)
json.dump(out, sys.stdout)
"""


def analyse_batch(
    interpreter: str, sources: Mapping[str, tuple[str, bytes]]
) -> dict[str, ModuleFacts]:
    """Analyse sources (digest -> (shown name, bytes)) under another interpreter.

    Returns the facts of those it could analyse; an interpreter that fails or times out
    gives nothing (the caller then says it could not judge).
    """
    import base64

    if not sources:
        return {}
    payload = {
        digest: (name, base64.b64encode(data).decode()) for digest, (name, data) in sources.items()
    }
    package_root = str(Path(__file__).resolve().parents[2])
    try:
        done = subprocess.run(
            [interpreter, "-I", "-c", _BATCH, package_root],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=_BATCH_TIMEOUT,
        )
        raw = json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}
    return {digest: _facts_from_json(value) for digest, value in raw.items()}


def _facts_from_json(value: dict[str, object]) -> ModuleFacts:
    imports = tuple(
        ImportSite(
            module=str(site["module"]),
            level=int(site["level"]),
            names=tuple(site["names"]),
            line=int(site["line"]),
            context=Context(int(site["context"])),
        )
        for site in value["imports"]  # type: ignore[attr-defined]
    )
    error = value.get("syntax_error")
    return ModuleFacts(
        imports=imports,
        functions=tuple(value["functions"]),  # type: ignore[arg-type]
        defines=tuple(value["defines"]),  # type: ignore[arg-type]
        syntax_error=(int(error[0]), str(error[1])) if error else None,  # type: ignore[index]
    )
