"""The validator on a real repository (issue 12): right against the oracle, and fast.

Reads the corpus snapshot from ../shared/corpus/ (never vendored) and the oracle's
verdicts from bench/data/corpus-oracle.json (made by `make oracle`, which deploys each
package for real short of Google Cloud). A deploy path is (function folder, `source`
or `script:<path>`); it fails when the oracle could not start it (a missing module or
requirement, a syntax error, a missing entry point or main.py, an upload that stopped,
or module-level code that raised). The validator calls a path failing when it has an
error finding on it. Precision and recall are over those paths.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import report
from orchwatch.validate.cache import FactsCache
from orchwatch.validate.engine import validate_repo
from orchwatch.validate.model import Severity, ValidationReport

HERE = Path(__file__).resolve().parent
ORACLE = HERE / "data" / "corpus-oracle.json"
CORPUS_DIR = HERE.parents[1] / "shared" / "corpus"
FAILING_KINDS = {"import", "syntax", "entry-point", "upload", "requirements", "code", "crash"}


def corpus_tarball() -> Path | None:
    found = sorted(CORPUS_DIR.glob("*.tar.gz"))
    return found[0] if found else None


def unpack(tarball: Path, dest: Path) -> Path:
    with tarfile.open(tarball) as archive:
        archive.extractall(dest, filter="tar")
    (root,) = [p for p in dest.iterdir() if p.is_dir()]
    return root


def oracle_verdicts(document: dict[str, object]) -> dict[tuple[str, str], list[str]]:
    """(function folder, path) -> the failures the oracle saw ([] when it started)."""
    verdicts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for deploy in document["deploys"]:  # type: ignore[attr-defined]
        if deploy["function"] is None:
            continue
        key = (deploy["function"], deploy["path"])
        verdicts[key]
        if not deploy["ok"] and deploy["kind"] in FAILING_KINDS:
            verdicts[key].append(f"{deploy['kind']}: {deploy['error']}"[:160])
    return verdicts


def aborted_scripts(document: dict[str, object]) -> set[str]:
    """Scripts whose every run stopped with a non-zero exit before deploying anything."""
    deployed = {d["path"] for d in document["deploys"]}  # type: ignore[attr-defined]
    runs: dict[str, list[int | None]] = defaultdict(list)
    for run in document["scripts"]:  # type: ignore[attr-defined]
        runs[f"script:{run['script']}"].append(run["exit"])
    return {s for s, codes in runs.items() if s not in deployed and all(c != 0 for c in codes)}


def validator_verdicts(result: ValidationReport) -> dict[tuple[str, str], list[str]]:
    verdicts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for function in result.functions:
        for variant in function.variants:
            verdicts[(function.path, variant)]
    for finding in result.findings:
        folder = next(f.path for f in result.functions if f.name == finding.function)
        key = (folder, finding.variant)
        if finding.severity is Severity.ERROR:
            verdicts[key].append(f"{finding.rule}: {finding.message}"[:160])
    for function in result.functions:  # a script that uploads the folder as it stands
        for variant in function.same_upload_as_source:
            verdicts[(function.path, variant)] += verdicts[(function.path, "source")]
    return verdicts


def compare(result: ValidationReport, document: dict[str, object]) -> dict[str, object]:
    oracle = oracle_verdicts(document)
    aborted = aborted_scripts(document)
    mine = validator_verdicts(result)
    for function in result.functions:
        # A script that uploads the folder as it stands ships the very bytes of the bare
        # deploy: the oracle's verdict on `source` is its verdict too.
        for variant in function.same_upload_as_source:
            source = oracle.get((function.path, "source"))
            if (function.path, variant) not in oracle and source is not None:
                oracle[(function.path, variant)] = source
    tp, fp, fn, unconfirmed = [], [], [], []
    for key, errors in mine.items():
        if not errors:
            continue
        if key in oracle:
            (tp if oracle[key] else fp).append((key, errors, oracle[key]))
        elif key[1] in aborted and any(e.startswith("deploy-aborts") for e in errors):
            tp.append((key, errors, ["the script stopped before deploying"]))
        else:
            unconfirmed.append((key, errors, []))
    warned: dict[tuple[str, str], list[str]] = defaultdict(list)
    for finding in result.findings:  # what it said of a path it gave no error: a warning
        if finding.severity is Severity.WARNING:
            folder = next(f.path for f in result.functions if f.name == finding.function)
            warned[(folder, finding.variant)].append(f"(warning) {finding.message}"[:400])
    for key, failures in oracle.items():
        if failures and not mine.get(key):
            said = warned.get(key) or mine.get(key) or ["(path not found by the validator)"]
            fn.append((key, said, failures))
    flagged = len(tp) + len(fp) + len(unconfirmed)
    actual = len(tp) + len(fn)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "unconfirmed": unconfirmed,
        "precision": len(tp) / flagged if flagged else 1.0,
        "recall": len(tp) / actual if actual else 1.0,
        "paths": len(oracle),
    }


def deptry_seconds(root: Path, functions: list[str]) -> float | None:
    deptry = shutil.which("deptry", path=str(Path(sys.executable).parent))
    if deptry is None:
        return None
    start = time.perf_counter()
    for folder in functions:
        subprocess.run(
            [deptry, ".", "--known-first-party", "shared", "--json-output", "/dev/null"],
            cwd=root / folder,
            capture_output=True,
            check=False,
            timeout=300,
        )
    return time.perf_counter() - start


def main(verbose: bool = False) -> None:
    print("validate on the corpus (issue 12): the real repository, against the oracle")
    tarball = corpus_tarball()
    if tarball is None or not ORACLE.is_file():
        print("  skipped: needs ../shared/corpus/*.tar.gz and bench/data/corpus-oracle.json")
        return
    document = json.loads(ORACLE.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = unpack(tarball, Path(tmp) / "corpus")
        cache_file = Path(tmp) / "cache.json"
        start = time.perf_counter()
        result = validate_repo(root, cache=FactsCache(cache_file))
        cold = time.perf_counter() - start
        start = time.perf_counter()
        validate_repo(root, cache=FactsCache(cache_file))
        warm = time.perf_counter() - start
        outcome = compare(result, document)
        report("orchwatch validate on the corpus, cold (empty cache)", cold, "s", 1.0)
        report("orchwatch validate on the corpus, warm (content-hash cache)", warm, "s", 0.2)
        errors = sum(1 for f in result.findings if f.severity is Severity.ERROR)
        print(
            f"  {len(result.functions)} functions, {errors} error findings; "
            f"{outcome['paths']} deploy paths judged by the oracle"
        )
        report(
            "precision of error verdicts (per deploy path)",
            100 * outcome["precision"],
            "%",
            95,
            lower_is_better=False,
        )
        report(
            "recall of start-up failures (per deploy path)",
            100 * outcome["recall"],
            "%",
            95,
            lower_is_better=False,
        )
        print(
            f"  true {len(outcome['tp'])}, false alarms {len(outcome['fp'])}, "
            f"unconfirmed {len(outcome['unconfirmed'])}, missed {len(outcome['fn'])}; crashes 0"
        )
        stopped = sorted(aborted_scripts(document))
        if stopped:
            print(
                f"  {len(stopped)} scripts stopped before any deploy in the oracle's run (its "
                "environment: arguments, prompts, their own checks); not counted"
            )
        for label in ("fp", "unconfirmed", "fn"):
            for key, mine, theirs in outcome[label][: None if verbose else 5]:
                print(f"    {label}: {key[0]} [{key[1]}]")
                print(f"        validator: {'; '.join(mine)[:400]}")
                print(f"        oracle:    {'; '.join(theirs)[:200] or 'started'}")
        baseline = deptry_seconds(root, [f.path for f in result.functions])
        if baseline is None:
            print("  deptry: not installed (make bench installs it)")
        else:
            report("deptry on the same functions (one run per function)", baseline, "s")
            print(f"  orchwatch cold is {baseline / cold:.1f}x faster than deptry")


if __name__ == "__main__":
    main(verbose="-v" in sys.argv)
