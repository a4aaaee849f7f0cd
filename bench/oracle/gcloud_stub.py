"""A stand-in for `gcloud` on the oracle's PATH: deploys are zipped by gcloud's own code.

`gcloud functions deploy NAME --source DIR ...` and `gcloud run deploy NAME --source DIR`
build the upload with the Cloud SDK's `source_util.CreateSourcesZipFile` (the function
gcloud itself calls: `.gcloudignore`, `os.walk` without entering directory links, file
links read, a dangling link fails), run under the SDK's bundled Python. The zip and the
deploy's flags are written to `$ORACLE_OUT`. Every other gcloud command succeeds with
plausible output, so scripts get as far as their deploy.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid

SDK_LIB = "/usr/lib/google-cloud-sdk/lib"


def _options(args: list[str]) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            if eq:
                options[key] = value
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                options[key] = args[i + 1]
                i += 1
            else:
                options[key] = ""
        else:
            positional.append(arg)
        i += 1
    return positional, options


def _deploy(kind: str, args: list[str]) -> int:
    positional, options = _options(args)
    out = os.environ["ORACLE_OUT"]
    record_id = uuid.uuid4().hex[:12]
    source = os.path.abspath(options.get("source", "."))
    record = {
        "id": record_id,
        "kind": kind,
        "name": positional[0] if positional else None,
        "source": source,
        "entry_point": options.get("entry-point"),
        "runtime": options.get("runtime"),
        "script": os.environ.get("ORACLE_SCRIPT"),
        "arguments": os.environ.get("ORACLE_ARGS", ""),
        "cwd": os.getcwd(),
        "zip": None,
        "upload_error": None,
    }
    sys.path[:0] = [SDK_LIB, f"{SDK_LIB}/third_party"]
    try:
        from googlecloudsdk.command_lib.functions import source_util

        scratch = tempfile.mkdtemp()
        zip_path = source_util.CreateSourcesZipFile(scratch, source)
        final = os.path.join(out, f"{record_id}.zip")
        shutil.move(zip_path, final)
        record["zip"] = final
    except Exception as exc:  # what gcloud would print before it gives up
        record["upload_error"] = f"{type(exc).__name__}: {exc}"
    with open(os.path.join(out, f"{record_id}.json"), "w", encoding="utf-8") as handle:
        json.dump(record, handle)
    if record["upload_error"]:
        print(f"ERROR: (gcloud.functions.deploy) {record['upload_error']}", file=sys.stderr)
        return 1
    print(f"Deploying function {record['name']} (stub)...")
    return 0


def main(argv: list[str]) -> int:
    words = [a for a in argv if a not in ("--quiet", "-q", "beta", "alpha")]
    if words[:2] == ["functions", "deploy"]:
        return _deploy("function", words[2:])
    if words[:2] == ["run", "deploy"] and any(a.startswith("--source") for a in words):
        return _deploy("run", words[2:])
    if words[:2] == ["auth", "list"]:
        print("oracle@example.com")
    elif words[:2] == ["config", "get-value"]:
        print("nba-props-platform")
    elif "describe" in words:
        print("state: ACTIVE")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
