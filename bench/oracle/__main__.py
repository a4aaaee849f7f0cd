"""`make oracle`: deploy every package of a repository for real, short of Google Cloud.

The validator's verdicts are judged against this, not against our own model:

1. The repository is unpacked into a scratch folder and committed to a scratch git
   repository (deploy scripts call `git rev-parse`).
2. Every shell script that runs `gcloud functions deploy` or `gcloud run deploy` runs
   under real bash, from the repository root, in its own fresh copy, with standard
   input answering `y`, and stubs first on PATH: `gcloud` (gcloud_stub.py: the upload
   zipped by the Cloud SDK's own code), `gsutil`, `bq`, `curl` and `sleep` (which do
   nothing and succeed). Each function folder is also deployed bare
   (`gcloud functions deploy --source=<folder>`), as the repository's runbooks do.
3. Each upload is unpacked; its requirements.txt (with functions-framework) is
   installed by uv into a virtualenv of the function's runtime (python311: this
   Python; python312: the Cloud SDK's bundled 3.12), cached by requirements and
   runtime; then startup_check.py loads main.py and the entry point through the
   Functions Framework, as an instance does at start-up, with placeholder
   credentials and no network.

The verdicts go to bench/data/corpus-oracle.json; `make bench` compares the
validator with them. Usage: python -m bench.oracle [TARBALL] [--work DIR] [--jobs N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TARBALL = next(iter(sorted((HERE.parents[2] / "shared" / "corpus").glob("*.tar.gz"))), None)
DEFAULT_OUT = HERE.parent / "data" / "corpus-oracle.json"
SDK_PYTHON = "/usr/lib/google-cloud-sdk/platform/bundledpythonunix/bin/python"
RUNTIMES = {
    "python311": sys.executable if sys.version_info[:2] == (3, 11) else "python3.11",
    "python312": SDK_PYTHON,
}
FUNCTION_GLOB = "orchestration/cloud_functions/*/main.py"
SCRIPT_TIMEOUT = 180
START_TIMEOUT = 120
FAKE_CREDENTIALS = {
    "type": "authorized_user",
    "client_id": "oracle.apps.googleusercontent.com",
    "client_secret": "oracle",
    "refresh_token": "oracle",
    "quota_project_id": "nba-props-platform",
}


def log(message: str) -> None:
    print(f"[oracle {time.strftime('%H:%M:%S')}] {message}", flush=True)


def unpack(tarball: Path, dest: Path) -> Path:
    """Unpack the corpus and commit it to a scratch git repository; returns its root."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(dest, filter="tar")
    (root,) = [p for p in dest.iterdir() if p.is_dir()]
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "oracle",
        "GIT_AUTHOR_EMAIL": "o@example.com",
        "GIT_COMMITTER_NAME": "oracle",
        "GIT_COMMITTER_EMAIL": "o@example.com",
    }
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "corpus"],
    ):
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    return root


def write_stubs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stub = HERE / "gcloud_stub.py"
    (folder / "gcloud").write_text(f'#!/bin/sh\nexec "{SDK_PYTHON}" "{stub}" "$@"\n')
    for name in ("gsutil", "bq", "curl", "sleep"):
        (folder / name).write_text("#!/bin/sh\nexit 0\n")
    for path in folder.iterdir():
        path.chmod(0o755)


def deploy_scripts(root: Path) -> list[Path]:
    """Shell scripts that run a gcloud deploy somewhere in their text."""
    found = []
    for path in sorted(root.rglob("*.sh")):
        if path.is_symlink() or not path.is_file() or ".git" in path.parts:
            continue
        text = path.read_text(errors="replace")
        if "functions deploy" in text or ("run deploy" in text and "--source" in text):
            found.append(path)
    return found


def usage_arguments(script: Path) -> list[str]:
    """The names a script that takes a function name as its argument accepts: the labels
    of its `case` items (`phase3-to-phase4-orchestrator)`), as its usage text lists them."""
    labels = re.findall(r"^\s*([a-z][a-z0-9_-]+)\)\s*$", script.read_text(errors="replace"), re.M)
    return list(dict.fromkeys(labels))


def run_script(
    pristine: Path,
    script_rel: str,
    scratch: Path,
    stubs: Path,
    out: Path,
    arguments: tuple[str, ...] = (),
) -> dict:
    """Run one script in a fresh copy of the repository; its deploys land in `out`."""
    copy = scratch / "repo"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(pristine, copy, symlinks=True)
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "HOME": str(home),
        "ORACLE_OUT": str(out),
        "ORACLE_SCRIPT": script_rel,
        "ORACLE_ARGS": " ".join(arguments),
        "TERM": "dumb",
        "LANG": "C.UTF-8",
    }
    started = time.perf_counter()
    # A script that sits beside a main.py is run from its folder (its usage says
    # `./deploy.sh`, and it deploys `--source=.`); any other from the repository root.
    folder = (copy / script_rel).parent
    cwd, invoked = (
        (folder, f"./{Path(script_rel).name}")
        if (folder / "main.py").is_file()
        else (copy, script_rel)
    )
    try:
        done = subprocess.run(
            ["bash", invoked, *arguments],
            cwd=cwd,
            env=env,
            input="y\n" * 2000,
            text=True,
            capture_output=True,
            timeout=SCRIPT_TIMEOUT,
        )
        code, stderr = done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, stderr = (
            None,
            (exc.stderr or b"").decode(errors="replace")
            if isinstance(exc.stderr, bytes)
            else (exc.stderr or ""),
        )
    return {
        "script": script_rel,
        "arguments": list(arguments),
        "exit": code,
        "seconds": round(time.perf_counter() - started, 1),
        "stderr_tail": stderr.strip().splitlines()[-6:],
    }


def bare_deploys(root: Path, stubs: Path, out: Path, scripted: list[dict]) -> None:
    """Deploy each function folder as it stands, with the entry point its scripts use."""
    for main in sorted(root.glob(FUNCTION_GLOB)):
        folder = main.parent
        rel = folder.relative_to(root).as_posix()
        known = [d for d in scripted if d.get("folder") == rel and d.get("entry_point")]
        entry = known[0]["entry_point"] if known else None
        runtime = known[0]["runtime"] if known and known[0]["runtime"] else "python311"
        args = [
            str(stubs / "gcloud"),
            "functions",
            "deploy",
            folder.name,
            "--gen2",
            f"--source={rel}",
            f"--runtime={runtime}",
        ]
        if entry:
            args.append(f"--entry-point={entry}")
        env = {**os.environ, "ORACLE_OUT": str(out), "ORACLE_SCRIPT": "source"}
        subprocess.run(args, cwd=root, env=env, capture_output=True, timeout=120)


def attribute(record: dict, pristine: Path, mains: dict[str, str]) -> str | None:
    """The function folder a deploy ships: its source folder, or the one whose main.py
    the upload carries (for packages built in a scratch folder)."""
    source = Path(record["source"])
    copy = Path(record["cwd"])
    while copy != copy.parent and copy.name != "repo":  # the script ran in run/repo
        copy = copy.parent
    for anchor in (pristine, copy):
        try:
            rel = source.resolve().relative_to(anchor.resolve()).as_posix()
        except ValueError:
            continue
        if (pristine / rel / "main.py").is_file():
            return rel
    if record.get("zip"):
        with zipfile.ZipFile(record["zip"]) as archive:
            try:
                digest = hashlib.sha256(archive.read("main.py")).hexdigest()
            except KeyError:
                return None
        return mains.get(digest)
    return None


def venv_for(runtime: str, requirements: bytes, cache: Path) -> tuple[Path | None, str | None]:
    """A cached virtualenv with the requirements and functions-framework installed."""
    python = RUNTIMES.get(runtime or "python311")
    if python is None:
        return None, f"no interpreter for runtime {runtime}"
    key = hashlib.sha256(runtime.encode() + b"\0" + requirements).hexdigest()[:16]
    venv = cache / f"{runtime}-{key}"
    marker = venv / ".oracle-ok"
    failed = venv / ".oracle-failed"
    if marker.exists():
        return venv, None
    if failed.exists():
        return None, failed.read_text()
    if venv.exists():
        shutil.rmtree(venv)
    uv = [sys.executable, "-m", "uv"]
    subprocess.run(
        [*uv, "venv", "-q", "--python", python, str(venv)], check=True, capture_output=True
    )
    req = venv / "requirements.txt"
    req.write_bytes(requirements)
    done = subprocess.run(
        [
            *uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(req),
            "functions-framework",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        failed.write_text("requirements do not install: " + done.stderr.strip()[-400:])
        return None, failed.read_text()
    marker.touch()
    return venv, None


def judge(record: dict, unpack_root: Path, cache: Path, creds: Path) -> dict:
    """Start one uploaded package; returns its verdict."""
    if record.get("upload_error"):
        return {"ok": False, "kind": "upload", "error": record["upload_error"]}
    target = unpack_root / record["id"]
    if target.exists():
        shutil.rmtree(target)
    with zipfile.ZipFile(record["zip"]) as archive:
        archive.extractall(target)
    requirements = (
        (target / "requirements.txt").read_bytes()
        if (target / "requirements.txt").is_file()
        else b""
    )
    venv, problem = venv_for(record.get("runtime") or "python311", requirements, cache)
    if venv is None:
        kind = "requirements" if problem and "install" in problem else "unjudged"
        return {"ok": kind != "requirements", "kind": kind, "error": problem}
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(unpack_root),
        "GOOGLE_APPLICATION_CREDENTIALS": str(creds),
        "GOOGLE_CLOUD_PROJECT": "nba-props-platform",
        "GCP_PROJECT": "nba-props-platform",
        "NO_GCE_CHECK": "True",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    try:
        done = subprocess.run(
            [
                str(venv / "bin" / "python"),
                str(HERE / "startup_check.py"),
                record.get("entry_point") or "-",
            ],
            cwd=target,
            env=env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"ok": True, "kind": "environment", "error": "start-up did not finish in time"}
    finally:
        shutil.rmtree(target, ignore_errors=True)
    for line in done.stdout.splitlines():
        if line.startswith("ORACLE-VERDICT "):
            return json.loads(line.split(" ", 1)[1])
    return {"ok": False, "kind": "crash", "error": (done.stderr.strip() or "no verdict")[-400:]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.oracle")
    parser.add_argument("tarball", nargs="?", type=Path, default=DEFAULT_TARBALL)
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "orchwatch-oracle",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if args.tarball is None or not args.tarball.is_file():
        sys.exit("oracle: no corpus tarball (expected ../shared/corpus/*.tar.gz)")
    work: Path = args.work
    deploys_dir = work / "deploys"
    for folder in (deploys_dir, work / "unpacked", work / "run"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    root = unpack(args.tarball, work / "pristine")
    stubs = work / "stubs"
    write_stubs(stubs)
    mains = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p.parent.relative_to(root).as_posix()
        for p in sorted(root.glob(FUNCTION_GLOB))
    }

    scripts = deploy_scripts(root)
    log(f"{len(scripts)} scripts mention a deploy; running each under bash with stubs")
    runs = []
    for script in scripts:
        rel = script.relative_to(root).as_posix()
        before = len(list(deploys_dir.glob("*.json")))
        runs.append(run_script(root, rel, work / "run", stubs, deploys_dir))
        log(f"  {rel}: exit {runs[-1]['exit']} in {runs[-1]['seconds']} s")
        if len(list(deploys_dir.glob("*.json"))) == before and runs[-1]["exit"] != 0:
            # A script that wants a function name: run it once per name it accepts.
            for argument in usage_arguments(script)[:40]:
                runs.append(run_script(root, rel, work / "run", stubs, deploys_dir, (argument,)))
                log(f"  {rel} {argument}: exit {runs[-1]['exit']}")
    records = [json.loads(p.read_text()) for p in sorted(deploys_dir.glob("*.json"))]
    for record in records:
        record["folder"] = attribute(record, root, mains)
    bare_deploys(root, stubs, deploys_dir, records)
    records = [json.loads(p.read_text()) for p in sorted(deploys_dir.glob("*.json"))]
    for record in records:
        record["folder"] = attribute(record, root, mains)
    log(f"{len(records)} uploads; installing requirements and starting each package")

    creds = work / "credentials.json"
    creds.write_text(json.dumps(FAKE_CREDENTIALS))
    venvs = work / "venvs"
    venvs.mkdir(exist_ok=True)
    # One job per requirements set at a time, so a cached venv is never built twice at once.
    by_key: dict[str, list[dict]] = {}
    for record in records:
        key = str(record.get("runtime")) + (record.get("zip") or record["id"])
        if record.get("zip"):
            with zipfile.ZipFile(record["zip"]) as archive:
                names = set(archive.namelist())
                if "requirements.txt" in names:
                    digest = hashlib.sha256(archive.read("requirements.txt")).hexdigest()
                    key = str(record.get("runtime")) + digest
        by_key.setdefault(key, []).append(record)

    def judge_group(group: list[dict]) -> None:
        for record in group:
            record["verdict"] = judge(record, work / "unpacked", venvs, creds)
            log(f"  {record['script']} -> {record['folder']}: {record['verdict']['kind'] or 'ok'}")

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(judge_group, by_key.values()))

    document = {
        "version": 1,
        "corpus": args.tarball.name,
        "made_by": "python -m bench.oracle (make oracle)",
        "deploys": sorted(
            (
                {
                    "path": r["script"] if r["script"] == "source" else f"script:{r['script']}",
                    "function": r["folder"],
                    "name": r["name"],
                    "arguments": r.get("arguments", ""),
                    "entry_point": r["entry_point"],
                    "runtime": r["runtime"],
                    **r["verdict"],
                }
                for r in records
            ),
            key=lambda d: (str(d["function"]), d["path"], str(d["name"])),
        ),
        "scripts": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    failing = sum(1 for d in document["deploys"] if not d["ok"])
    log(f"wrote {args.out}: {len(document['deploys'])} deploys, {failing} fail to start")


if __name__ == "__main__":
    main()
