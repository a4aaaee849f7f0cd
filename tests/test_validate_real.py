"""The validator on what real repositories do: one minimal repository per cause of the
false alarms and misses found against the oracle (issue 12), written here, not copied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from repo_builder import FUNC, build, function

from orchwatch.cli import main
from orchwatch.validate.cache import FactsCache
from orchwatch.validate.engine import ValidateSettings, validate_repo
from orchwatch.validate.model import ValidationReport
from orchwatch.validate.runtime import find_interpreter

ENTRY = "def handler(event):\n    return event\n"


def check(root: Path, **settings: object) -> ValidationReport:
    return validate_repo(root, settings=ValidateSettings(**settings), cache=FactsCache())  # type: ignore[arg-type]


def rows(report: ValidationReport, variant: str | None = None) -> list[tuple[str, str, str | None]]:
    return [
        (f.rule.value, f.severity.value, f.module)
        for f in report.findings
        if (variant is None or f.variant == variant) and f.severity.value != "info"
    ]


SHIPS_SHARED = (
    "B=$(mktemp -d)\nrsync -aL orchestration/cloud_functions/f/ $B/\n"
    "rsync -aL shared $B/\ngcloud functions deploy f --source=$B --entry-point=handler\n"
)
"""A deploy script that ships the function folder with the repository's shared/."""


# --- 1. a real bash grammar ------------------------------------------------------------------

HOSTILE_SCRIPT = r"""#!/bin/bash
set -euo pipefail
RED='\033[0;31m'
YELLOW=$'\e[1;33m'
NC='\033[0m'
echo -e "${YELLOW}⚠ Make sure Firestore it's initialized (\"default\")${NC}"
echo "it's \"quoted\" $'not ansi' \$HOME"
cat <<'EOF'
  unbalanced ( " ' ` $(
EOF
SOURCE_DIR="orchestration/cloud_functions/f"
run_command() {
    echo "+ $*"
    "$@"
}
case "${MODE:-deploy}" in
    deploy|release) ACTION=deploy ;;
    *) ACTION=skip ;;
esac
run_command gcloud functions deploy f \
    --gen2 --runtime=python311 \
    --source="$SOURCE_DIR" \
    --entry-point=handler
"""


def test_quotes_escapes_heredocs_case_functions_and_continuations(tmp_path: Path) -> None:
    build(tmp_path, {**function("f", ENTRY), "bin/deploy_f.sh": HOSTILE_SCRIPT})
    report = check(tmp_path)
    assert report.functions[0].variants == ("source", "script:bin/deploy_f.sh")
    assert report.functions[0].same_upload_as_source == ("script:bin/deploy_f.sh",)
    assert rows(report) == []


# --- 2. control flow ---------------------------------------------------------------------------


def test_a_dry_run_branch_that_empties_the_package_and_exits_is_not_the_deploy(
    tmp_path: Path,
) -> None:
    build(
        tmp_path,
        {
            **function("f", ENTRY),
            "bin/deploy_f.sh": (
                "set -e\nDRY_RUN=false\n"
                'if [ "${1:-}" = "--dry-run" ]; then DRY_RUN=true; fi\n'
                "DEPLOY_DIR=$(mktemp -d)\n"
                'rsync -aL orchestration/cloud_functions/f/ "$DEPLOY_DIR/"\n'
                'if [ "$DRY_RUN" = true ]; then\n  echo would deploy\n  rm -rf "$DEPLOY_DIR"\n'
                "  exit 0\nfi\n"
                'gcloud functions deploy f --source="$DEPLOY_DIR" --entry-point=handler\n'
            ),
        },
    )
    assert rows(check(tmp_path)) == []


def test_an_appending_heredoc_adds_to_requirements(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            **function("f", "import yaml\nimport pandas\n" + ENTRY, "pandas\n"),
            "bin/deploy_f.sh": (
                "B=$(mktemp -d)\nrsync -aL orchestration/cloud_functions/f/ $B/\n"
                "cat >> $B/requirements.txt <<EOF\nPyYAML==6.0\nEOF\n"
                "gcloud functions deploy f --source=$B --entry-point=handler\n"
            ),
        },
    )
    report = check(tmp_path)
    assert rows(report, "script:bin/deploy_f.sh") == []  # pandas kept, PyYAML appended
    assert rows(report, "source") == [("missing-requirement", "error", "yaml")]


def test_a_finding_on_some_paths_is_a_warning_naming_the_branch(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/__init__.py": "",
            "shared/extra.py": "",
            **function("f", "import shared.extra\n" + ENTRY),
            "bin/deploy_f.sh": (
                "B=$(mktemp -d)\nrsync -aL orchestration/cloud_functions/f/ $B/\n"
                'if [ "$WITH_SHARED" = yes ]; then\n  rsync -aL shared $B/\nfi\n'
                "gcloud functions deploy f --source=$B --entry-point=handler\n"
            ),
        },
    )
    report = check(tmp_path)
    script = [f for f in report.findings if f.variant == "script:bin/deploy_f.sh"]
    assert [(f.rule.value, f.severity.value) for f in script] == [("missing-module", "warning")]
    assert 'when if `[ "$WITH_SHARED" = yes ]` (line 3) is false' in script[0].message
    assert "on 1 of 2 paths" in script[0].message


# --- 3. nothing dropped in silence ---------------------------------------------------------------


def test_an_unmodelled_substitution_on_the_gcloud_line_keeps_the_deploy(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            **function("f", "import missing_thing_xyz\n" + ENTRY),
            "bin/deploy_f.sh": (
                "set -e\nBUILD_COMMIT=$(git rev-parse --short HEAD)\n"
                'CMD="gcloud functions deploy f --source=orchestration/cloud_functions/f '
                '--entry-point=handler --update-labels=commit-sha=$BUILD_COMMIT"\neval "$CMD"\n'
            ),
        },
    )
    report = check(tmp_path)
    assert "script:bin/deploy_f.sh" in report.functions[0].variants
    assert not report.functions[0].ok


def test_a_dangling_link_under_set_e_is_a_deploy_that_never_happens(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/utils/ok.py": "",
            **function("f", ENTRY),
            "bin/deploy_f.sh": (
                "set -e\nB=$(mktemp -d)\nrsync -aL orchestration/cloud_functions/f/ $B/\n"
                "rsync -aL shared $B/\n"
                "gcloud functions deploy f --source=$B --entry-point=handler\n"
            ),
        },
        {"shared/utils/espon_ids.py": "shared/utils/espn_ids.py"},
    )
    report = check(tmp_path)
    aborts = [f for f in report.findings if f.rule.value == "deploy-aborts"]
    assert [(f.severity.value, f.line) for f in aborts] == [("error", 4)]
    assert "espon_ids.py" in aborts[0].message and "rsync exits 23" in aborts[0].message


# --- 4. gcloud's upload and rsync's copies ----------------------------------------------------


def test_gcloud_does_not_enter_folder_links(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/__init__.py": "",
            "shared/utils/__init__.py": "",
            **function("f", "import shared.utils\n" + ENTRY),
        },
        {f"{FUNC}/f/shared": "shared"},  # a folder link: listed by os.walk, never entered
    )
    assert rows(check(tmp_path)) == [("missing-module", "error", "shared")]


def test_a_dangling_file_link_stops_the_upload(tmp_path: Path) -> None:
    build(tmp_path, function("f", ENTRY), {f"{FUNC}/f/gone.py": "nowhere.py"})
    report = check(tmp_path)
    assert rows(report) == [("broken-symlink", "error", None)]
    assert "gcloud's upload stops on it" in report.findings[0].message


def test_a_broken_link_inside_a_folder_link_is_never_read(tmp_path: Path) -> None:
    build(
        tmp_path,
        {"tools/ok.py": "", **function("f", ENTRY)},
        {"tools/broken.py": "tools/nowhere.py", f"{FUNC}/f/tools": "tools"},
    )
    assert rows(check(tmp_path)) == []


def test_gcloudignore_leaves_files_out(tmp_path: Path) -> None:
    build(
        tmp_path,
        function(
            "f",
            "import helpers\n" + ENTRY,
            extra={"helpers.py": "", ".gcloudignore": "# not uploaded\nhelpers.py\n"},
        ),
    )
    assert rows(check(tmp_path)) == [("missing-module", "error", "helpers")]


# --- 5. the function's runtime, with compile semantics ------------------------------------------


def test_code_that_parses_but_does_not_compile_is_an_error(tmp_path: Path) -> None:
    build(tmp_path, function("f", "log(exc_info=True, exc_info=False)\n" + ENTRY))
    report = check(tmp_path)
    assert rows(report) == [("syntax-error", "error", "main")]
    assert "keyword argument repeated" in report.findings[0].message


def test_an_older_runtime_judges_with_its_own_grammar(tmp_path: Path) -> None:
    build(tmp_path, function("f", "match 1:\n    case 1:\n        pass\n" + ENTRY))
    assert rows(check(tmp_path, runtime="python39")) == [("syntax-error", "error", "main")]
    assert rows(check(tmp_path, runtime="python311")) == []


PEP701 = 'NAME = "x"\nGREETING = f"{"hello"} {NAME}"\n' + ENTRY


def test_a_newer_runtime_is_judged_by_its_interpreter(tmp_path: Path) -> None:
    interpreter = find_interpreter((3, 12))
    assert interpreter is not None, (
        "no Python 3.12 here: the Google Cloud CLI's bundled Python is expected on this machine"
    )
    build(tmp_path, function("f", PEP701))
    assert rows(check(tmp_path, runtime="python312")) == []  # valid under 3.12
    assert rows(check(tmp_path, runtime="python311")) == [("syntax-error", "error", "main")]


def test_a_newer_runtime_without_an_interpreter_cannot_be_judged(tmp_path: Path) -> None:
    build(tmp_path, function("f", PEP701))
    report = check(tmp_path, runtime="python399")
    assert rows(report) == [("syntax-error", "warning", "main")]
    assert "cannot judge main for python399: no Python 3.99 was found" in report.findings[0].message


# --- 6. requirements and what they bring along --------------------------------------------------


@pytest.mark.parametrize(
    ("imports", "requirements"),
    [
        ("import google.cloud.exceptions\n", "google-cloud-bigquery\n"),
        ("import botocore\n", "boto3\n"),
        ("import flask\n", ""),  # the runtime installs functions-framework, which brings Flask
        ("import numpy\nimport dateutil\n", "pandas\n"),
    ],
)
def test_a_module_installed_with_a_requirement_is_provided(
    tmp_path: Path, imports: str, requirements: str
) -> None:
    build(tmp_path, function("f", imports + ENTRY, requirements))
    assert rows(check(tmp_path)) == []


def test_an_unknown_module_is_certain_only_when_every_requirement_is_known(tmp_path: Path) -> None:
    build(tmp_path / "known", function("f", "import frobnicate\n" + ENTRY, "requests\n"))
    assert rows(check(tmp_path / "known")) == [("missing-module", "error", "frobnicate")]
    build(tmp_path / "unknown", function("f", "import frobnicate\n" + ENTRY, "some-private-sdk\n"))
    report = check(tmp_path / "unknown")
    assert rows(report) == [("missing-requirement", "warning", "frobnicate")]
    assert "cannot tell which distribution provides frobnicate" in report.findings[0].message


# --- 7. every deploy path ---------------------------------------------------------------------------


def test_deploy_scripts_anywhere_and_beside_main(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            **function(
                "f",
                ENTRY,
                extra={"deploy.sh": "gcloud functions deploy f --source=. --entry-point=handler\n"},
            ),
            "monitoring/g/main.py": "import missing_g_dep\n" + ENTRY,
            "monitoring/g/requirements.txt": "",
            "scripts/ops/ship_g.sh": (
                'deploy() { gcloud functions deploy "$1" --source="$2" --entry-point=handler; }\n'
                "deploy g monitoring/g\n"
            ),
        },
    )
    report = check(tmp_path)
    variants = {f.name: f.variants for f in report.functions}
    assert variants == {
        "f": ("source", f"script:{FUNC}/f/deploy.sh"),
        "g": ("source", "script:scripts/ops/ship_g.sh"),
    }
    assert [f.name for f in report.functions if not f.ok] == ["g"]


def test_a_pinned_deploy_path_makes_other_paths_findings_warnings(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/__init__.py": "",
            **function("f", "import shared\n" + ENTRY),
            "bin/deploy_f.sh": SHIPS_SHARED,
        },
    )
    assert not check(tmp_path).functions[0].ok  # the bare folder lacks shared/
    pinned = check(tmp_path, deploy_paths={"f": "script:bin/deploy_f.sh"})
    assert pinned.functions[0].ok
    assert "script:bin/deploy_f.sh ships it" in pinned.findings[0].message


# --- 8. one message for a missing top-level package ----------------------------------------------


def test_a_missing_top_level_package_is_said_once_with_the_folder_to_ship(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/__init__.py": "",
            "shared/clients/__init__.py": "",
            "shared/clients/bigquery_pool.py": "def get_bigquery_client(): ...\n",
            **function(
                "f",
                "from shared.clients.bigquery_pool import get_bigquery_client\n"
                "from shared.clients import bigquery_pool\nimport shared.config\n" + ENTRY,
            ),
        },
    )
    report = check(tmp_path)
    assert rows(report) == [("missing-module", "error", "shared")]
    assert "No module named 'shared'" in report.findings[0].message
    assert "shared/" in report.findings[0].hint


# --- 9. nothing checked is not a pass --------------------------------------------------------------


def test_a_repository_without_functions_exits_2_and_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build(tmp_path, {"README.md": "no functions here\n", "bin/tool.sh": "echo hi\n"})
    assert main(["validate", str(tmp_path), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "no Cloud Function found" in err and "orchestration/cloud_functions/*/" in err


# --- the repository is never left, never written ---------------------------------------------------


def test_links_and_copies_outside_the_repository_are_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    build(outside, {"secret.py": "raise SystemExit('read me')\n"})
    repo = tmp_path / "repo"
    build(
        repo,
        {
            **function("f", "import secret\n" + ENTRY),
            "bin/deploy_f.sh": (
                f"B=$(mktemp -d)\nrsync -aL orchestration/cloud_functions/f/ $B/\ncp {outside}/secret.py $B/\n"
                "gcloud functions deploy f --source=$B --entry-point=handler\n"
            ),
        },
    )
    (repo / FUNC / "f" / "secret.py").symlink_to(outside / "secret.py")
    (repo / FUNC / "f" / "root").symlink_to("/")  # never walked: not /etc, not /proc
    (repo / "etc_link").symlink_to("/etc")
    before = sorted(p.name for p in repo.rglob("*"))
    report = check(repo)
    assert sorted(p.name for p in repo.rglob("*")) == before
    outside_rows = sorted(
        (f.variant, f.path, f.severity.value)
        for f in report.findings
        if f.rule.value == "outside-repo"
    )
    # rsync -aL in the script follows both links; gcloud's upload of the bare folder reads
    # the file link and never enters the folder link.
    assert outside_rows == [
        ("script:bin/deploy_f.sh", "bin/deploy_f.sh", "warning"),
        ("script:bin/deploy_f.sh", f"{FUNC}/f/root", "warning"),
        ("script:bin/deploy_f.sh", f"{FUNC}/f/secret.py", "warning"),
        ("source", f"{FUNC}/f/secret.py", "warning"),
    ]
    assert f"leads to {outside / 'secret.py'}" in next(
        f.message
        for f in report.findings
        if f.variant == "source" and f.rule.value == "outside-repo"
    )
    shutil.rmtree(outside)


# --- CI configuration: Cloud Build files and workflows ----------------------------------------

CLOUD_BUILD = """
substitutions:
  _SOURCE_DIR: orchestration/cloud_functions/f
steps:
  - name: gcr.io/cloud-builders/gsutil
    entrypoint: bash
    args:
      - -c
      - |
        mkdir -p /workspace/deploy_pkg
        cp ${_SOURCE_DIR}/main.py /workspace/deploy_pkg/
        for m in $$MODULES; do echo "$$m"; done
  - name: gcr.io/google.com/cloudsdktool/cloud-sdk
    entrypoint: gcloud
    args: [functions, deploy, f, --gen2, --source, /workspace/deploy_pkg, --entry-point, handler]
"""


def test_a_cloud_build_file_is_a_deploy_path(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/__init__.py": "",
            **function("f", "import shared\n" + ENTRY, extra={"shared/__init__.py": ""}),
            "cloudbuild-functions.yaml": CLOUD_BUILD,
        },
    )
    report = check(tmp_path)
    assert report.functions[0].variants == ("source", "cloudbuild:cloudbuild-functions.yaml")
    built = [f for f in report.findings if f.variant == "cloudbuild:cloudbuild-functions.yaml"]
    # Cloud Build copies main.py alone: shared/ is not in its package, which is how it ships.
    assert [(f.rule.value, f.severity.value, f.module) for f in built] == [
        ("missing-module", "error", "shared")
    ]


def test_a_workflow_that_runs_a_deploy_script_pins_the_function_to_it(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            "shared/__init__.py": "",
            **function("f", "import shared\n" + ENTRY),
            "bin/deploy_f.sh": SHIPS_SHARED,
            ".github/workflows/deploy.yml": (
                "on: push\njobs:\n  ship:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4\n"
                "      - run: ./bin/deploy_f.sh ${{ github.sha }}\n"
            ),
        },
    )
    report = check(tmp_path)
    assert report.functions[0].ok  # the bare folder lacks shared/, but CI ships the script
    assert "script:bin/deploy_f.sh ships it, per the repository's CI" in report.findings[0].message


def test_hostile_ci_files_are_notes_never_crashes(tmp_path: Path) -> None:
    build(
        tmp_path,
        {
            **function("f", ENTRY),
            "cloudbuild.yaml": "steps: [ {deploy: [unclosed\n",
            "ops/cloudbuild-x.yml": "- a list, not a mapping: deploy\n",
            ".github/workflows/w.yml": "jobs: {a: {steps: [{run: 'gcloud functions deploy f --source=$(\n'}]}}\n",
        },
    )
    report = check(tmp_path)
    assert [f.name for f in report.functions] == ["f"]
