"""`orchwatch demo-repo PATH`: the pipeline's repo in miniature, incidents included.

What `orchwatch validate` finds in it, and why (see PIPELINE.md):

| function                    | incident                                                         |
|-----------------------------|------------------------------------------------------------------|
| phase3_to_phase4            | no symlink for shared/validation/phase3_data_quality_check.py,   |
|                             | which shared/validation/__init__.py imports: the crash loop      |
| phase4_to_phase5            | its deploy script copies orchestration/shared/utils/ (deleted by |
|                             | a refactor, errors hidden by `|| true`) and not shared/clients,  |
|                             | shared/validation or shared/config, which main.py imports        |
| auto_backfill_orchestrator  | a typo'd link shared/utils/espon_nba_team_ids.py points nowhere  |
| daily_health_summary        | shared/utils/__init__.py eagerly imports pandas, psutil and      |
|                             | google-cloud-storage; its requirements.txt lacks them            |

phase2_to_phase3, phase5_to_phase6 and self_heal are healthy.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path

_PHASE3_IMPORT = "from .phase3_data_quality_check import check_phase3_quality\n"
"""The import the second commit of HISTORY adds (the crash loop's missing module)."""
SHARED: dict[str, str] = {
    "shared/__init__.py": "",
    "shared/utils/__init__.py": (
        '"""Shared helpers. Imports heavy modules eagerly (the incident)."""\n'
        "import pandas\nimport psutil\nfrom google.cloud import storage\n\n"
        "from .espn_nba_team_ids import TEAM_IDS\nfrom .logging_utils import get_logger\n"
    ),
    "shared/utils/espn_nba_team_ids.py": 'TEAM_IDS = {"GSW": 9, "MIN": 16}\n',
    "shared/utils/logging_utils.py": (
        "import logging\n\n\ndef get_logger(name):\n    return logging.getLogger(name)\n"
    ),
    "shared/utils/completion_tracker.py": (
        "try:\n    from google.cloud import firestore\nexcept ImportError:  # optional\n"
        "    firestore = None\n\n\ndef record(doc, processor):\n"
        "    if firestore is not None:\n"
        "        doc.set({processor: {'completed_at': firestore.SERVER_TIMESTAMP}}, merge=True)\n"
    ),
    "shared/clients/__init__.py": "from .bigquery_client import get_bigquery\n",
    "shared/clients/bigquery_client.py": (
        "from google.cloud import bigquery\n\n\ndef get_bigquery():\n    return bigquery.Client()\n"
    ),
    "shared/clients/firestore_client.py": (
        "from google.cloud import firestore\n\n\ndef get_firestore():\n"
        "    return firestore.Client()\n"
    ),
    "shared/validation/__init__.py": (
        "from .completeness import expected_processors\n" + _PHASE3_IMPORT
    ),
    "shared/validation/completeness.py": (
        "def expected_processors(phase):\n    return {'phase3': 5}.get(phase, 0)\n"
    ),
    "shared/validation/phase3_data_quality_check.py": (
        "def check_phase3_quality(game_date):\n    return True\n"
    ),
    "shared/config/__init__.py": "",
    "shared/config/phases.py": 'PHASES = ["phase2", "phase3", "phase4", "phase5"]\n',
}

BASE_REQUIREMENTS = (
    "functions-framework==3.*\ngoogle-cloud-firestore>=2.16\ngoogle-cloud-bigquery>=3.20\n"
    "google-cloud-storage>=2.16\ngoogle-cloud-pubsub>=2.21\npandas>=2.2\npsutil>=5.9\n"
)


def _main(entry: str, body: str = "") -> str:
    return (
        '"""Cloud Function entry point."""\n'
        "import functions_framework\nfrom google.cloud import pubsub_v1\n\n"
        "from shared.clients import get_bigquery\nfrom shared.config.phases import PHASES\n"
        "from shared.utils import get_logger\nfrom shared.validation import expected_processors\n\n"
        f"{body}"
        "@functions_framework.cloud_event\n"
        f"def {entry}(cloud_event):\n"
        "    logger = get_logger(__name__)\n"
        "    logger.info('completion received: %s', cloud_event)\n"
        "    return expected_processors('phase3')\n"
    )


FUNCTIONS: dict[str, str] = {
    "phase2_to_phase3": "orchestrate_phase2_to_phase3",
    "phase3_to_phase4": "orchestrate_phase3_to_phase4",
    "phase4_to_phase5": "orchestrate_phase4_to_phase5",
    "phase5_to_phase6": "orchestrate_phase5_to_phase6",
    "auto_backfill_orchestrator": "auto_backfill",
    "daily_health_summary": "daily_health_summary",
    "self_heal": "self_heal",
}

DEPLOY_BUILD = """#!/usr/bin/env bash
# Deploy {name}: build a package with links dereferenced, then deploy it.
set -euo pipefail

FUNCTION_NAME="{service}"
ENTRY_POINT="{entry}"
# In orchwatch's demo (orchwatch --demo --allow-actions), deploys go to the demo's
# simulated Cloud Run instead of Google Cloud.
if [ -n "${{ORCHWATCH_DEMO_SPOOL:-}}" ]; then
  exec "${{ORCHWATCH_PYTHON:-python3}}" -m orchwatch demo-deploy --service "$FUNCTION_NAME" --function {folder} --repo .
fi
SOURCE_DIR="orchestration/cloud_functions/{folder}"
BUILD_DIR=$(mktemp -d)
trap 'rm -rf "$BUILD_DIR"' EXIT

rsync -aL --exclude '__pycache__' --exclude '*.pyc' --exclude 'shared' "$SOURCE_DIR/" "$BUILD_DIR/"
{copies}
gcloud functions deploy "$FUNCTION_NAME" \\
  --gen2 --region=us-west2 --runtime=python311 \\
  --source="$BUILD_DIR" \\
  --entry-point="$ENTRY_POINT" \\
  --trigger-topic=nba-phase-complete
"""

GOOD_COPIES = (
    "".join(
        f'mkdir -p "$BUILD_DIR/shared/{d}"\nrsync -aL --exclude "__pycache__" shared/{d}/ '
        f'"$BUILD_DIR/shared/{d}/"\n'
        for d in ("utils", "clients", "validation", "config")
    )
    + 'cp shared/__init__.py "$BUILD_DIR/shared/__init__.py"\n'
)

STALE_COPIES = (
    "# Still copies the folder a refactor deleted, and hides the error.\n"
    'mkdir -p "$BUILD_DIR/shared"\n'
    'cp shared/__init__.py "$BUILD_DIR/shared/__init__.py"\n'
    'rsync -aL orchestration/shared/utils/ "$BUILD_DIR/shared/utils/" 2>/dev/null || true\n'
)

DEPLOY_FROM_FOLDER = """#!/usr/bin/env bash
# Deploy {name} straight from its folder (gcloud follows the links in shared/).
set -euo pipefail

FUNCTION_NAME="{service}"
ENTRY_POINT="{entry}"
# In orchwatch's demo (orchwatch --demo --allow-actions), deploys go to the demo's
# simulated Cloud Run instead of Google Cloud.
if [ -n "${{ORCHWATCH_DEMO_SPOOL:-}}" ]; then
  exec "${{ORCHWATCH_PYTHON:-python3}}" -m orchwatch demo-deploy --service "$FUNCTION_NAME" --function {folder} --repo .
fi

gcloud functions deploy "$FUNCTION_NAME" \\
  --gen2 --region=us-west2 --runtime=python311 \\
  --source=orchestration/cloud_functions/{folder} \\
  --entry-point="$ENTRY_POINT" \\
  --trigger-topic=nba-phase-complete
"""


HISTORY = (
    ("2026-01-18T16:00:00+00:00", "Orchestrators and shared code"),
    (
        "2026-01-26T15:00:00+00:00",
        "shared.validation: check phase 3 data quality before triggering phase 4",
    ),
    ("2026-01-29T17:00:00+00:00", "phase3_to_phase4: gate phase 4 on the quality check"),
)
"""The demo repo's commits, oldest first: the second one added the shared module that
phase3_to_phase4 never got a link to (its revision 00025 crash-loops on it); the third is
what its failed revision 00026 was built from."""
_QUALITY_GATE = "QUALITY_GATE = True  # phase 4 waits for the phase 3 quality check\n\n\n"


def deployed_from(service: str, revision: str, serving: str | None, latest: str | None) -> int:
    """Which commit of HISTORY (its index) the demo's revision was built from."""
    if service == "phase3-to-phase4-orchestrator":
        if revision == serving:
            return 1
        if revision == latest:
            return 2
        return 0
    return 2 if revision in (serving, latest) else 0


def commit_history(root: Path, deployed: Mapping[str, int]) -> bool:
    """Make `root` (as `write_demo_repo` wrote it) a git repository with HISTORY, and tag
    each commit with the ids the demo's revisions carry (their `commit-sha` labels), so
    drift and a deploy's "would ship" read as they would on the real repository.
    False when git cannot run (the files are there either way)."""
    init = root / "shared/validation/__init__.py"
    final_init = init.read_text(encoding="utf-8")
    main = root / "orchestration/cloud_functions/phase3_to_phase4/main.py"
    final_main = main.read_text(encoding="utf-8")
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "orchwatch demo",
        "GIT_AUTHOR_EMAIL": "demo@orchwatch.invalid",
        "GIT_COMMITTER_NAME": "orchwatch demo",
        "GIT_COMMITTER_EMAIL": "demo@orchwatch.invalid",
    }

    def git(*args: str, when: str = "") -> None:
        dated = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else {}
        subprocess.run(
            ["git", "-C", str(root), *args],
            env={**env, **dated},
            check=True,
            capture_output=True,
            timeout=30,
        )

    try:
        git("init", "-q", "-b", "main")
        # The first commit: before the phase 3 quality check existed.
        init.write_text(final_init.replace(_PHASE3_IMPORT, ""), encoding="utf-8")
        main.write_text(final_main.replace(_QUALITY_GATE, ""), encoding="utf-8")
        (first_when, first), (second_when, second), (third_when, third) = HISTORY
        git("add", "-A", "--", ".", ":!*phase3_data_quality_check.py")
        git("commit", "-q", "-m", first, when=first_when)
        init.write_text(final_init, encoding="utf-8")
        git("add", "-A")
        git("commit", "-q", "-m", second, when=second_when)
        main.write_text(final_main, encoding="utf-8")
        git("add", "-A")
        git("commit", "-q", "-m", third, when=third_when)
        for label, index in sorted(deployed.items()):
            git("tag", label, f"HEAD~{len(HISTORY) - 1 - index}")
    except (OSError, subprocess.SubprocessError):
        return False
    finally:  # the files as written, whatever git did
        init.write_text(final_init, encoding="utf-8")
        main.write_text(final_main, encoding="utf-8")
    return True


def write_demo_repo(root: Path) -> list[Path]:
    """Write the demo pipeline repo under `root` (created if missing); returns the files written.

    Raises:
        FileExistsError: `root` exists and is not empty.
    """
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not empty")
    written: list[Path] = []

    def write(rel: str, text: str, executable: bool = False) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if executable:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        written.append(path)

    def link(rel: str, target_rel: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(root / target_rel, path.parent), path)
        written.append(path)

    for rel, text in SHARED.items():
        write(rel, text)
    write("README.md", "# nba-props-platform (orchwatch demo repo)\n\nRun `orchwatch validate .`\n")
    for folder, entry in FUNCTIONS.items():
        base = f"orchestration/cloud_functions/{folder}"
        body = _QUALITY_GATE if folder == "phase3_to_phase4" else ""
        if folder == "self_heal":
            body = "def heal():\n    import requests  # lazy\n    return requests\n\n\n"
        write(f"{base}/main.py", _main(entry, body))
        requirements = BASE_REQUIREMENTS + ("requests>=2.31\n" if folder == "self_heal" else "")
        if folder == "daily_health_summary":
            requirements = (
                "functions-framework==3.*\ngoogle-cloud-bigquery>=3.20\ngoogle-cloud-pubsub>=2.21\n"
            )
        write(f"{base}/requirements.txt", requirements)
        link(f"{base}/shared/__init__.py", "shared/__init__.py")
        for rel in SHARED:
            if rel == "shared/__init__.py":
                continue
            if folder == "phase3_to_phase4" and rel.endswith("phase3_data_quality_check.py"):
                continue  # the missing link that crash-looped the orchestrator
            link(f"{base}/{rel}", rel)
        if folder == "auto_backfill_orchestrator":
            link(f"{base}/shared/utils/espon_nba_team_ids.py", "shared/utils/espon_nba_team_ids.py")
        service = folder.replace("_", "-") + ("-orchestrator" if folder.startswith("phase") else "")
        fields = {"name": folder, "service": service, "entry": entry, "folder": folder}
        script = f"bin/orchestrators/deploy_{folder}.sh"
        if folder in ("phase3_to_phase4", "phase5_to_phase6"):
            write(script, DEPLOY_FROM_FOLDER.format(**fields), executable=True)
        elif folder.startswith("phase"):
            copies = STALE_COPIES if folder == "phase4_to_phase5" else GOOD_COPIES
            write(script, DEPLOY_BUILD.format(copies=copies, **fields), executable=True)
    return written
