"""Validator figures: cold and warm time on 50 functions x 200 shared modules, against deptry."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import report
from orchwatch.validate.cache import FactsCache
from orchwatch.validate.engine import validate_repo

FUNCTIONS = 50
PACKAGES = ("utils", "clients", "validation", "config")
MODULES_PER_PACKAGE = 50
THIRD_PARTY = {
    "pandas": "pandas",
    "yaml": "PyYAML",
    "requests": "requests",
    "google.cloud.bigquery": "google-cloud-bigquery",
    "dateutil": "python-dateutil",
}
PLANTED_EVERY = 5  # every 5th function lacks one requirement its main.py imports


def generate(root: Path, seed: int = 1) -> set[tuple[str, str]]:
    """Write the tree; returns the planted (function, distribution) pairs."""
    rng = random.Random(seed)
    for package in PACKAGES:
        base = root / "shared" / package
        base.mkdir(parents=True)
        (base / "__init__.py").write_text("", encoding="utf-8")
        for k in range(MODULES_PER_PACKAGE):
            lines = ["import json", "import logging"]
            if k:
                lines.append(f"from . import m{rng.randrange(k)}")
            other = rng.choice(PACKAGES)
            lines.append(
                f"from shared.{other} import m{rng.randrange(MODULES_PER_PACKAGE)} as peer"
            )
            lines.append("from google.cloud import bigquery")
            lines += [f"def f{i}(x):\n    return json.dumps(x)\n" for i in range(5)]
            (base / f"m{k}.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "shared" / "__init__.py").write_text("", encoding="utf-8")
    planted: set[tuple[str, str]] = set()
    imports = list(THIRD_PARTY)
    for n in range(FUNCTIONS):
        name = f"func_{n:02d}"
        folder = root / "orchestration" / "cloud_functions" / name
        (folder / "shared").mkdir(parents=True)
        for package in PACKAGES:
            os.symlink(f"../../../../shared/{package}", folder / "shared" / package)
        os.symlink("../../../../shared/__init__.py", folder / "shared" / "__init__.py")
        used = rng.sample(imports, 3)
        if n % PLANTED_EVERY == 0 and "yaml" not in used:
            used[0] = "yaml"  # plant what no declared package brings along
        body = [f"import {module}" for module in used]
        body += [f"from shared.{p} import m{rng.randrange(MODULES_PER_PACKAGE)}" for p in PACKAGES]
        body.append("\n\ndef handler(event):\n    return event\n")
        (folder / "main.py").write_text("\n".join(body), encoding="utf-8")
        declared = {THIRD_PARTY[m] for m in used} | {"google-cloud-bigquery"}
        if n % PLANTED_EVERY == 0:
            victim = "yaml"
            declared.discard(THIRD_PARTY[victim])
            planted.add((name, THIRD_PARTY[victim].lower()))
        (folder / "requirements.txt").write_text(
            "\n".join(sorted(declared)) + "\n", encoding="utf-8"
        )
    return planted


def orchwatch_found(root: Path, cache: FactsCache) -> tuple[float, set[tuple[str, str]]]:
    start = time.perf_counter()
    result = validate_repo(root, cache=cache)
    elapsed = time.perf_counter() - start
    found = {
        (f.function, f.message.split(", but ")[1].split(" is not")[0].lower())
        for f in result.findings
        if f.rule.value == "missing-requirement"
    }
    return elapsed, found


def deptry_found(root: Path) -> tuple[float, set[tuple[str, str]]] | None:
    deptry = shutil.which("deptry", path=str(Path(sys.executable).parent))
    if deptry is None:
        return None
    found: set[tuple[str, str]] = set()
    start = time.perf_counter()
    for folder in sorted((root / "orchestration" / "cloud_functions").iterdir()):
        out = folder / "deptry.json"
        subprocess.run(
            [
                deptry,
                ".",
                "--requirements-files",
                "requirements.txt",
                "--json-output",
                str(out),
                "--known-first-party",
                "shared",
            ],
            cwd=folder,
            capture_output=True,
            check=False,
        )
        if out.exists():
            for issue in json.loads(out.read_text(encoding="utf-8")):
                # DEP001: not installed and not declared; DEP003: installed only as another
                # package's dependency and not declared. Either way the function's
                # requirements.txt lacks it (the planted case), and which one deptry says
                # depends only on what this bench's own environment happens to hold.
                if issue["error"]["code"] in ("DEP001", "DEP003"):
                    module = issue["module"]
                    dist = next(
                        (d for m, d in THIRD_PARTY.items() if m.split(".")[0] == module), module
                    )
                    found.add((folder.name, dist.lower()))
            out.unlink()
    return time.perf_counter() - start, found


def main() -> None:
    print("validate (issue 3): 50 functions x 200 shared modules, shared/ symlinked")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        planted = generate(root)
        cache_file = Path(tmp) / "cache.json"
        cold, found = orchwatch_found(root, FactsCache(cache_file))
        warm, _ = orchwatch_found(root, FactsCache(cache_file))
        report("orchwatch validate, cold (empty cache)", cold, "s", 1.5)
        report("orchwatch validate, warm (content-hash cache)", warm, "s", 0.3)
        print(
            f"  planted missing requirements: {len(planted)}; orchwatch found "
            f"{len(planted & found)} (+{len(found - planted)} others)"
        )
        baseline = deptry_found(root)
        if baseline is None:
            print("  deptry: not installed (make bench installs it)")
            return
        seconds, deptry_hits = baseline
        report("deptry on the same tree (one run per function)", seconds, "s")
        others = Counter(dist for _, dist in deptry_hits - planted)
        print(
            f"  deptry found {len(planted & deptry_hits)} of {len(planted)} planted "
            f"(+{len(deptry_hits - planted)} others: {dict(others.most_common())}); "
            f"orchwatch cold is {seconds / cold:.1f}x faster"
        )


if __name__ == "__main__":
    main()
