"""The deployment-package validator: one or more fixture repos per rule and severity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_builder import FUNC, build, findings, function

from orchwatch.cli import main
from orchwatch.validate.cache import FactsCache
from orchwatch.validate.engine import validate_repo

ENTRY = "def handler(event):\n    return event\n"


def check(root: Path, only: str | None = None):  # type: ignore[no-untyped-def]
    return validate_repo(root, only=only, cache=FactsCache())


# --- a healthy repo is silent ---------------------------------------------------------------


def healthy_repo(root: Path) -> Path:
    files = {
        "shared/__init__.py": "",
        "shared/utils/__init__.py": "from .dates import today\nfrom . import names\n",
        "shared/utils/dates.py": "import datetime\n\nfrom dateutil import parser\n\n\ndef today():\n"
        "    return datetime.date.today()\n",
        "shared/utils/names.py": "from ..config import settings\nimport yaml\n",
        "shared/config/__init__.py": "",
        "shared/config/settings.py": "VALUE = 1\n",
        "shared/clients/__init__.py": (
            "from typing import TYPE_CHECKING\n"
            "try:\n    from google.cloud import firestore\nexcept ImportError:\n"
            "    firestore = None\n"
            "if TYPE_CHECKING:\n    import not_installed_anywhere\n"
        ),
        **function(
            "good",
            "import os\nimport importlib\nimport shared.utils.dates as dates\n"
            "from shared.utils import today\nfrom shared import clients\n"
            "from google.cloud import bigquery\nimport google.api_core.exceptions\n"
            "import helpers\n"
            "importlib.import_module('shared.config.settings')\n\n\n"
            "def handler(event):\n    import requests\n    return requests\n",
            "google-cloud-bigquery==3.*\ngoogle-cloud-firestore\nPyYAML\npython-dateutil\n"
            "requests  # lazy\n",
            {"helpers.py": "from shared.config.settings import VALUE\n"},
        ),
        "bin/deploy_good.sh": (
            "#!/bin/bash\nset -e\nSRC=orchestration/cloud_functions/good\nBUILD_DIR=$(mktemp -d)\n"
            'rsync -aL --exclude "__pycache__" "$SRC/" "$BUILD_DIR/"\n'
            'gcloud functions deploy good --gen2 --source="$BUILD_DIR" --entry-point=handler\n'
        ),
    }
    # File links only: gcloud reads a file link but never enters a folder link.
    links = {f"{FUNC}/good/{path}": path for path in files if path.startswith("shared/")}
    return build(root, files, links)


def test_healthy_repo_gives_zero_findings(tmp_path: Path) -> None:
    report = check(healthy_repo(tmp_path))
    assert [f.name for f in report.functions] == ["good"]
    assert report.functions[0].variants == ("source", "script:bin/deploy_good.sh")
    assert findings(report) == []
    assert not report.has_errors


# --- broken-symlink -------------------------------------------------------------------------


def test_typo_symlink_in_the_folder(tmp_path: Path) -> None:
    build(
        tmp_path,
        {"shared/utils/espn_ids.py": "", **function("f", ENTRY)},
        {f"{FUNC}/f/shared/utils/espon_ids.py": "shared/utils/espon_ids.py"},
    )
    report = check(tmp_path)
    assert findings(report, "broken-symlink") == [
        ("broken-symlink", "error", f"{FUNC}/f/shared/utils/espon_ids.py", None, None)
    ]
    assert "did you mean espn_ids.py" in report.findings[0].hint


def test_rsync_dereferencing_a_dangling_link_fails(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/utils/a.py": "",
            **function("f", ENTRY),
            "bin/deploy_f.sh": "B=$(mktemp -d)\nrsync -aL orchestration/cloud_functions/f/ $B/\n"
            "mkdir -p $B/shared\nrsync -aL shared/utils/ $B/shared/utils/\n"
            "gcloud functions deploy f --source=$B\n",
        },
        {"shared/utils/gone.py": "shared/utils/nowhere.py"},
    )
    # Without `set -e`, rsync's exit 23 does not stop the script: the deploy goes on
    # without the link, which is worth a warning, not an error.
    rows = findings(check(tmp_path), "broken-symlink")
    assert ("broken-symlink", "warning", "bin/deploy_f.sh", 4, None) in rows
    assert not [r for r in rows if r[1] == "error"]


def test_rsync_dangling_link_under_set_e_stops_the_deploy(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/utils/a.py": "",
            **function("f", ENTRY),
            "bin/deploy_f.sh": "set -e\nB=$(mktemp -d)\nrsync -aL orchestration/cloud_functions/f/ $B/\n"
            "mkdir -p $B/shared\nrsync -aL shared/utils/ $B/shared/utils/\n"
            "gcloud functions deploy f --source=$B\n",
        },
        {"shared/utils/gone.py": "shared/utils/nowhere.py"},
    )
    report = check(tmp_path)
    aborts = [f for f in report.findings if f.rule.value == "deploy-aborts"]
    assert [(f.severity.value, f.path, f.line) for f in aborts] == [("error", "bin/deploy_f.sh", 5)]
    assert "rsync exits 23" in aborts[0].message and "gone.py" in aborts[0].message


def test_links_copied_as_links_break_outside_the_package(tmp_path: Path) -> None:
    build(
        tmp_path,
        {"shared/x.py": "", **function("f", "import shared.x\n" + ENTRY)},
        {f"{FUNC}/f/shared/x.py": "shared/x.py"},
    )
    build(
        tmp_path,
        {
            "bin/deploy_f.sh": "B=$(mktemp -d)\nrsync -a orchestration/cloud_functions/f/ $B/\n"
            "gcloud functions deploy f --source=$B --entry-point handler\n"
        },
    )
    report = check(tmp_path)
    script_rows = [f for f in report.findings if f.variant.startswith("script:")]
    assert {f.rule.value for f in script_rows} == {"broken-symlink", "missing-module"}
    assert not [f for f in report.findings if f.variant == "source"]


# --- deploy-source-missing ------------------------------------------------------------------


def test_copy_of_a_deleted_folder_even_when_silenced(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/utils/__init__.py": "",
            **function("f", ENTRY),
            "bin/orchestrators/deploy_f.sh": (
                "BUILD_DIR=$(mktemp -d)\n"
                'rsync -aL "orchestration/cloud_functions/f/" "$BUILD_DIR/"\n'
                'cp -r orchestration/shared/utils "$BUILD_DIR/shared/utils" 2>/dev/null || true\n'
                'gcloud functions deploy f --source="$BUILD_DIR" --entry-point=handler\n'
            ),
        },
    )
    report = check(tmp_path)
    # A warning: whether the package starts is for the import check to say (here it does).
    rows = findings(report, "deploy-source-missing")
    assert rows == [("deploy-source-missing", "warning", "bin/orchestrators/deploy_f.sh", 3, None)]
    assert not report.has_errors
    finding = next(f for f in report.findings if f.rule.value == "deploy-source-missing")
    assert "orchestration/shared/utils, which does not exist" in finding.message
    assert "silenced" in finding.message
    assert finding.hint == "copy shared/utils instead (the path no longer exists)"


# --- missing-module -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("main_py", "extra", "module"),
    [
        (
            "import pkg.sub.leaf\n",
            {"pkg/__init__.py": "", "pkg/sub/__init__.py": ""},
            "pkg.sub.leaf",
        ),
        ("from pkg import missing\n", {"pkg/__init__.py": "X = 1\n"}, "pkg.missing"),
        ("from pkg.mod import thing\n", {"pkg/__init__.py": ""}, "pkg.mod"),
        ("import frobnicate_unknown\n", {}, "frobnicate_unknown"),
        (
            "import importlib\nimportlib.import_module('pkg.gone')\n",
            {"pkg/__init__.py": ""},
            "pkg.gone",
        ),
        ("import pkg\n", {"pkg/__init__.py": "from .inner import x\n"}, "pkg.inner"),
        ("import pkg.leaf.deeper\n", {"pkg/__init__.py": "", "pkg/leaf.py": ""}, "pkg.leaf.deeper"),
    ],
)
def test_missing_module_at_module_level_is_an_error(
    tmp_path: Path, main_py: str, extra: dict[str, str], module: str
) -> None:
    build(tmp_path, function("f", main_py + ENTRY, extra=extra))
    assert [(r[1], r[4]) for r in findings(check(tmp_path), "missing-module")] == [
        ("error", module)
    ]


def test_importing_a_dotted_module_runs_parent_inits(tmp_path: Path) -> None:
    build(
        tmp_path,
        function(
            "f",
            "import a.b.c as c\n" + ENTRY,
            extra={
                "a/__init__.py": "import a_missing_dep_xyz\n",
                "a/b/__init__.py": "",
                "a/b/c.py": "",
            },
        ),
    )
    rows = findings(check(tmp_path))
    assert rows == [("missing-module", "error", f"{FUNC}/f/a/__init__.py", 1, "a_missing_dep_xyz")]


def test_missing_submodule_hint_is_the_symlink_to_add(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/validation/__init__.py": "from .phase3_data_quality_check import check\n",
            "shared/validation/phase3_data_quality_check.py": "def check(): ...\n",
            **function("f", "from shared.validation import check\n" + ENTRY),
        },
        {f"{FUNC}/f/shared/validation/__init__.py": "shared/validation/__init__.py"},
    )
    report = check(tmp_path)
    assert findings(report) == [
        (
            "missing-module",
            "error",
            f"{FUNC}/f/shared/validation/__init__.py",
            1,
            "shared.validation.phase3_data_quality_check",
        )
    ]
    assert report.findings[0].hint == (
        "add a symlink shared/validation/phase3_data_quality_check.py -> "
        "../../../../../shared/validation/phase3_data_quality_check.py"
    )


# --- missing-requirement, and severity by how the import runs -------------------------------


@pytest.mark.parametrize(
    ("main_py", "expected"),
    [
        ("import pandas\n", [("error", "pandas")]),
        ("import yaml\n", [("error", "yaml")]),
        ("from google.cloud import storage\n", [("error", "google.cloud.storage")]),
        (
            "try:\n    import psutil\nexcept ImportError:\n    psutil = None\n",
            [("warning", "psutil")],
        ),
        (
            "try:\n    import psutil\nexcept ModuleNotFoundError:\n    pass\n",
            [("warning", "psutil")],
        ),
        ("def f():\n    import pandas\n", [("warning", "pandas")]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pandas\n", []),
        ("try:\n    import psutil\nexcept KeyError:\n    pass\n", [("error", "psutil")]),
    ],
)
def test_missing_requirement_severity(
    tmp_path: Path, main_py: str, expected: list[tuple[str, str]]
) -> None:
    build(tmp_path, function("f", main_py + ENTRY, "requests\n"))
    rows = findings(check(tmp_path), "missing-requirement")
    assert [(r[1], r[4]) for r in rows] == expected


def test_renamed_distribution_is_named_in_the_message(tmp_path: Path) -> None:
    build(tmp_path, function("f", "import yaml\nfrom dateutil import tz\n" + ENTRY, "requests\n"))
    messages = [f.message for f in check(tmp_path).findings]
    assert any(
        "PyYAML is not in requirements.txt" in m.replace("pyyaml", "PyYAML") for m in messages
    )
    assert any("python-dateutil" in m for m in messages)


def test_requirements_with_includes_markers_and_extras(tmp_path: Path) -> None:
    build(
        tmp_path,
        function(
            "f",
            "import pandas\nimport yaml\nimport psutil\n" + ENTRY,
            "-r base.txt\npandas[performance]>=2 ; python_version>'3'\n--index-url https://x\n",
            {"base.txt": "PyYAML==6.0  # config\npsutil\n"},
        ),
    )
    assert findings(check(tmp_path)) == []


def test_lazy_import_makes_its_module_level_imports_warnings(tmp_path: Path) -> None:
    build(
        tmp_path,
        function("f", "def handler(e):\n    import heavy\n", extra={"heavy.py": "import pandas\n"}),
    )
    assert [(r[1], r[4]) for r in findings(check(tmp_path))] == [("warning", "pandas")]


# --- missing-entry-point and syntax-error ---------------------------------------------------


def test_entry_point_must_be_a_top_level_function(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            **function("f", "class X:\n    def orchestrate(self): ...\n"),
            "bin/deploy_f.sh": "ENTRY_POINT=orchestrate\n"
            "gcloud functions deploy f --source=orchestration/cloud_functions/f "
            '--entry-point="$ENTRY_POINT"\n',
        },
    )
    report = check(tmp_path)
    assert [r[0] for r in findings(report)] == ["missing-entry-point"]
    assert "'orchestrate'" in report.findings[0].message


def test_syntax_error_in_the_closure_only(tmp_path: Path) -> None:
    build(
        tmp_path,
        function(
            "f",
            "import broken\n" + ENTRY,
            extra={"broken.py": "def f(:\n", "unused.py": "also broken (\n"},
        ),
    )
    assert findings(check(tmp_path)) == [
        ("syntax-error", "error", f"{FUNC}/f/broken.py", 1, "broken")
    ]


# --- deploy-script evaluation ---------------------------------------------------------------


SCRIPT_HEAD = (
    'SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"\n'
    'REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"\n'
    "BUILD_DIR=$(mktemp -d)\n"
    'rsync -aL --exclude "shared" "$REPO_ROOT/orchestration/cloud_functions/f/" "$BUILD_DIR/"\n'
)


@pytest.mark.parametrize(
    ("copy", "missing"),
    [
        ('rsync -aL "$REPO_ROOT/shared/utils" "$BUILD_DIR/shared/"\n', []),
        ('rsync -aL "$REPO_ROOT/shared/utils/" "$BUILD_DIR/shared/"\n', ["shared.utils"]),
        # rsync creates only the last folder of the destination: with no $BUILD_DIR/shared
        # it exits 11 and copies nothing.
        ('rsync -aL "$REPO_ROOT/shared/utils/" "$BUILD_DIR/shared/utils/"\n', ["shared"]),
        (
            'mkdir -p "$BUILD_DIR/shared"\nrsync -aL "$REPO_ROOT/shared/utils/" '
            '"$BUILD_DIR/shared/utils/"\n',
            [],
        ),
        (
            'rsync -aL --exclude="util*" "$REPO_ROOT/shared/" "$BUILD_DIR/shared/"\n',
            ["shared.utils"],
        ),
        ('cp -r "$REPO_ROOT/shared" "$BUILD_DIR/"\n', []),
        ('cp -rL "$REPO_ROOT/shared/." "$BUILD_DIR/shared"\n', []),
        # cp without -r skips a folder: no shared/ at all, said once.
        ('cp "$REPO_ROOT/shared/utils" "$BUILD_DIR/shared/utils"\n', ["shared"]),
    ],
)
def test_copy_semantics(tmp_path: Path, copy: str, missing: list[str]) -> None:
    build(
        tmp_path,
        {
            "shared/utils/__init__.py": "",
            **function("f", "import shared.utils\n" + ENTRY),
            "bin/deploy.sh": SCRIPT_HEAD
            + copy
            + 'gcloud functions deploy f --source "$BUILD_DIR" --entry-point handler\n',
        },
    )
    report = check(tmp_path)
    rows = [f for f in report.findings if f.variant == "script:bin/deploy.sh"]
    assert sorted({f.module for f in rows if f.rule.value == "missing-module"}) == missing


def test_what_cannot_be_evaluated_is_reported_not_guessed(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            **function("f", ENTRY),
            "bin/deploy.sh": "B=$(mktemp -d)\nrsync -aL orchestration/cloud_functions/f/ $B/\n"
            "zip -r pkg.zip $B\nrsync -a $UNSET_VAR/x $B/\n"
            "gcloud functions deploy f --source=$B --entry-point=handler\n",
        },
    )
    report = check(tmp_path)
    rows = [(f.rule.value, f.severity.value, f.line) for f in report.findings]
    assert rows == [
        ("not-evaluated", "info", 3),
        ("not-evaluated", "info", 4),
        ("not-evaluated", "info", None),  # the package as a whole: not modelled in full
    ]
    assert "$UNSET_VAR (not set in the script)" in report.findings[1].message


def test_script_that_deploys_another_function_is_not_associated(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            **function("f", ENTRY),
            **function("g", ENTRY),
            "bin/deploy_g.sh": "gcloud functions deploy g --source=orchestration/cloud_functions/g\n",
        },
    )
    report = check(tmp_path)
    variants = {f.name: f.variants for f in report.functions}
    assert variants == {"f": ("source",), "g": ("source", "script:bin/deploy_g.sh")}


# --- the command: formats and exit codes ----------------------------------------------------


def test_cli_exit_codes_and_json_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    healthy_repo(tmp_path / "ok")
    assert main(["validate", str(tmp_path / "ok"), "--no-cache"]) == 0
    capsys.readouterr()
    build(tmp_path / "bad", function("f", "import pandas\n" + ENTRY))
    assert main(["validate", str(tmp_path / "bad"), "--format", "json", "--no-cache"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["version"] == 1
    assert document["functions"] == [
        {
            "name": "f",
            "path": f"{FUNC}/f",
            "variants": ["source"],
            "same_upload_as_source": [],
            "ok": False,
        }
    ]
    assert document["findings"] == [
        {
            "rule": "missing-requirement",
            "severity": "error",
            "function": "f",
            "variant": "source",
            "path": f"{FUNC}/f/main.py",
            "line": 1,
            "module": "pandas",
            "message": "imports pandas (imported at start-up), but pandas is not in "
            "requirements.txt nor installed by a requirement",
        }
    ]
    assert main(["validate", str(tmp_path / "nope")]) == 2
    assert "no such repo folder" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "bad"), "--function", "zzz"]) == 2
    assert "no function folder of that name" in capsys.readouterr().err


def test_sarif_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build(tmp_path, function("f", "import pandas\nimport frobnicate_unknown\n" + ENTRY))
    assert main(["validate", str(tmp_path), "--format", "sarif", "--no-cache"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"missing-module", "broken-symlink"}
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("missing-requirement", "error"),
        ("missing-module", "error"),
    ]
    location = results[0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == f"{FUNC}/f/main.py"
    assert location["region"] == {"startLine": 1}


def test_text_output_groups_by_function_with_hints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build(tmp_path, function("f", "import pandas\n" + ENTRY))
    main(["validate", str(tmp_path), "--no-cache"])
    out = capsys.readouterr().out
    assert f"f  FAILS  ({FUNC}/f; source)" in out
    assert f"missing-requirement  {FUNC}/f/main.py:1" in out
    assert f"fix: add pandas to {FUNC}/f/requirements.txt" in out


# --- the cache ------------------------------------------------------------------------------


def test_warm_run_parses_nothing(tmp_path: Path) -> None:
    repo = healthy_repo(tmp_path / "repo")
    cache_file = tmp_path / "cache" / "facts.json"
    cold = validate_repo(repo, cache=FactsCache(cache_file))
    warm = validate_repo(repo, cache=FactsCache(cache_file))
    assert cold.files_parsed > 0
    assert warm.files_parsed == 0
    assert (cold.packages_cached, warm.packages_cached) == (0, 2)
    assert warm.findings == cold.findings
    (repo / f"{FUNC}/good/main.py").write_text("import pandas\n" + ENTRY, encoding="utf-8")
    changed = validate_repo(repo, cache=FactsCache(cache_file))
    assert changed.files_parsed == 1
    assert changed.packages_cached == 0  # both variants hold main.py, so both re-check
    assert [(f.variant, f.module) for f in changed.findings] == [
        ("source", "pandas"),
        ("script:bin/deploy_good.sh", "pandas"),
    ]


def test_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    repo = healthy_repo(tmp_path / "repo")
    cache_file = tmp_path / "facts.json"
    cache_file.write_bytes(b"\x00not json")
    assert validate_repo(repo, cache=FactsCache(cache_file)).findings == ()


def test_the_users_code_never_warns_onto_the_terminal() -> None:
    import warnings

    from orchwatch.validate.imports import analyse_source

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        facts = analyse_source(b'import re\nPATTERN = "\\d+"\n\ndef handler(e):\n    return e\n')
    assert facts.functions == ("handler",)
    assert caught == []


def _script_that_stops(tmp_path: Path) -> Path:
    """A deploy script that stops before it deploys: rsync -L exits 23 on a dangling link,
    and `set -e` ends the script (the incident's typo'd espon_nba_team_ids.py)."""
    repo = build(
        tmp_path / "r",
        {
            **function("fn_a", "def h(e):\n    return e\n"),
            "bin/deploy_fn_a.sh": (
                "#!/bin/bash\nset -e\nSOURCE_DIR=orchestration/cloud_functions/fn_a\n"
                'BUILD_DIR=$(mktemp -d)\nrsync -aL "$SOURCE_DIR/" "$BUILD_DIR/"\n'
                'gcloud functions deploy fn-a --gen2 --source="$BUILD_DIR" --entry-point=h\n'
            ),
        },
    )
    (repo / "orchestration/cloud_functions/fn_a/espon_nba_team_ids.py").symlink_to("nowhere")
    return repo


def test_a_script_that_stops_before_deploying_is_a_finding_of_its_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _script_that_stops(tmp_path)
    assert main(["validate", str(repo), "--no-cache", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    aborts = [f for f in findings if f["rule"] == "deploy-aborts"]
    assert [(f["function"], f["variant"]) for f in aborts] == [
        ("fn_a", "script:bin/deploy_fn_a.sh")
    ]


@pytest.mark.parametrize("shape", ["script that stops", "demo repo"])
def test_the_text_prints_every_finding_the_json_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    from orchwatch.validate.demo_repo import write_demo_repo

    if shape == "demo repo":
        repo = tmp_path / "demo"
        write_demo_repo(repo)
    else:
        repo = _script_that_stops(tmp_path)
    main(["validate", str(repo), "--no-cache", "--format", "json"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    main(["validate", str(repo), "--no-cache"])
    text = capsys.readouterr().out
    printed = [line for line in text.splitlines() if line.startswith("  ") and "  [" in line]
    assert len(printed) == len(findings)
    for f in findings:
        where = f"{f['path']}:{f['line']}" if f["line"] else f["path"]
        assert any(f["rule"] in line and f"{where}  [{f['variant']}]" in line for line in printed)
    count_line = text.splitlines()[-1]
    errors = sum(1 for f in findings if f["severity"] == "error")
    assert f" {errors} error{'' if errors == 1 else 's'}, " in count_line


# --- Cloud Build triggers: which function a Cloud Build file ships --------------------------

CLOUDBUILD = """steps:
  - name: 'gcr.io/cloud-builders/gsutil'
    entrypoint: bash
    args:
      - '-c'
      - |
        mkdir -p /workspace/deploy_pkg
        cp ${_SOURCE_DIR}/main.py /workspace/deploy_pkg/
        cp -r shared /workspace/deploy_pkg/
  - name: 'gcr.io/google.com/cloudsdktool/cloud-sdk'
    entrypoint: gcloud
    args: ['functions', 'deploy', '${_FUNCTION_NAME}', '--gen2', '--source=/workspace/deploy_pkg',
           '--entry-point=${_ENTRY_POINT}', '--runtime=python311']
substitutions:
  _SOURCE_DIR: ''
  _FUNCTION_NAME: ''
  _ENTRY_POINT: 'main'
"""

TRIGGERS_SCRIPT = """#!/bin/bash
set -euo pipefail
BUILD_CONFIG="cloudbuild-functions.yaml"
create() {
    local name=$1 function=$2 source_dir=$3
    local cmd=(
        gcloud builds triggers create github
        --name="${name}"
        --build-config="${BUILD_CONFIG}"
        --substitutions="_FUNCTION_NAME=${function},_ENTRY_POINT=h,_SOURCE_DIR=${source_dir}"
    )
    if [[ "${DRY_RUN:-false}" == "true" ]]; then
        echo "${cmd[*]}"
    else
        "${cmd[@]}"
    fi
}
create deploy-fn-a fn-a orchestration/cloud_functions/fn_a
"""


def _triggered_repo(tmp_path: Path, how: str) -> Path:
    """fn_a imports shared.util, which its folder lacks: bare, it fails; the Cloud Build
    file its trigger runs copies shared/ in."""
    files = {
        **function("fn_a", "import shared.util\n\ndef h(e):\n    return e\n"),
        "shared/__init__.py": "",
        "shared/util.py": "X = 1\n",
        "cloudbuild-functions.yaml": CLOUDBUILD,
    }
    if how == "script":
        files["bin/create_triggers.sh"] = TRIGGERS_SCRIPT
    else:
        files["triggers/deploy-fn-a.trigger.yaml"] = (
            "name: deploy-fn-a\nfilename: cloudbuild-functions.yaml\nsubstitutions:\n"
            "  _FUNCTION_NAME: fn-a\n  _ENTRY_POINT: h\n"
            "  _SOURCE_DIR: orchestration/cloud_functions/fn_a\n"
        )
    return build(tmp_path / "r", files)


@pytest.mark.parametrize("how", ["script", "exported"])
def test_a_cloud_build_trigger_ships_its_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    repo = _triggered_repo(tmp_path, how)
    assert main(["validate", str(repo), "--no-cache", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [fn] = report["functions"]
    [via] = [v for v in fn["variants"] if "via trigger deploy-fn-a" in v]
    assert via.startswith("cloudbuild:cloudbuild-functions.yaml via trigger deploy-fn-a (")
    where = "bin/create_triggers.sh:" if how == "script" else "triggers/deploy-fn-a.trigger.yaml"
    assert where in via
    # the bare folder lacks shared/: a warning naming the trigger, not an error
    [bare] = [f for f in report["findings"] if f["variant"] == "source"]
    assert bare["severity"] == "warning" and bare["rule"] == "missing-module"
    assert f"not how it ships: {via} ships it" in bare["message"]


def test_without_its_trigger_the_bare_folder_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _triggered_repo(tmp_path, "script")
    (repo / "bin/create_triggers.sh").unlink()
    assert main(["validate", str(repo), "--no-cache"]) == 1
    assert "No module named 'shared'" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("_A=x,_B=y/z", {"_A": "x", "_B": "y/z"}),
        ("_SOURCE_DIR=", {"_SOURCE_DIR": ""}),
        ("not a dict", None),
        ("A=x", None),  # user substitutions start with an underscore
    ],
)
def test_trigger_substitutions(text: str, parsed: dict[str, str] | None) -> None:
    from orchwatch.validate.triggers import parse_substitutions

    assert parse_substitutions(text) == parsed
