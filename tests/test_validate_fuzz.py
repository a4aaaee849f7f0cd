"""No deploy script makes the validator crash: mutations of real-looking scripts (quotes,
heredocs, unbalanced constructs, binary bytes, deep nesting) never raise and never make
`orchwatch validate` exit 70. Seeded, so a failure reproduces."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from repo_builder import build, function

from orchwatch.cli import main
from orchwatch.validate.cache import FactsCache
from orchwatch.validate.engine import validate_repo
from orchwatch.validate.shell import evaluate_script

SEEDS = r"""#!/bin/bash
set -euo pipefail
RED='\033[0;31m'; NC=$'\e[0m'
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
cd "$REPO_ROOT"
FUNC="${1:-f}"; shift || true
while [[ $# -gt 0 ]]; do case "$1" in --dry-run) DRY=1; shift;; *) shift;; esac; done
echo -e "${RED}it's \"quoted\" ${FUNC}${NC}"
BUILD_DIR=$(mktemp -d); trap 'rm -rf "$BUILD_DIR"' EXIT
rsync -aL --exclude='__pycache__' "orchestration/cloud_functions/$FUNC/" "$BUILD_DIR/"
mkdir -p "$BUILD_DIR/shared" && cp -rL shared/. "$BUILD_DIR/shared" 2>/dev/null || true
for pkg in utils config; do [ -d "shared/$pkg" ] && rsync -a "shared/$pkg/" "$BUILD_DIR/shared/$pkg/"; done
cat >> "$BUILD_DIR/requirements.txt" <<EOF
requests==2.*  # $(date)
EOF
deploy() { local name="$1"; shift; gcloud functions deploy "$name" "$@"; }
if [ -n "${DRY:-}" ]; then echo "dry"; exit 0; elif [[ "$FUNC" == f* ]]; then :; else exit 2; fi
deploy "$FUNC" --gen2 --runtime=python311 --source="$BUILD_DIR" \
  --entry-point=handler --update-labels="commit=$(git rev-parse --short HEAD)"
eval "echo ${FUNC} | tr -d ' '" >/dev/null
""".splitlines(keepends=True)

TOKENS = [
    '"',
    "'",
    "`",
    "$(",
    ")",
    "${",
    "}",
    "<<EOF\n",
    "<<-'X'\n",
    "\nEOF\n",
    "\\\n",
    "|| ",
    "&& ",
    ";;",
    "case $x in\n",
    "esac\n",
    "if [ ",
    " ]; then\n",
    "fi\n",
    "done\n",
    "{ ",
    " }",
    "$'\\x",
    "\x00",
    "\xff",
    "\u202e",
    "$((",
    "))",
    "[[",
    "]]",
    "((",
    "$",
    "#",
    "\n",
    "function f() {",
    "rsync -aL / $BUILD_DIR/",
    "cp -r .. $BUILD_DIR",
    "ln -s /etc/passwd $BUILD_DIR/x.py",
    "source /etc/profile\n",
    ". ./$0\n",
    "f() { f; }; f\n",
    "gcloud functions deploy",
]


def mutate(rng: random.Random) -> str:
    lines = list(SEEDS)
    for _ in range(rng.randrange(1, 12)):
        index = rng.randrange(len(lines))
        line = lines[index]
        choice = rng.random()
        if choice < 0.4:
            cut = rng.randrange(len(line) + 1)
            lines[index] = line[:cut] + rng.choice(TOKENS) + line[cut:]
        elif choice < 0.6:
            lines[index] = line[: rng.randrange(len(line) + 1)]
        elif choice < 0.8:
            lines.insert(index, rng.choice(lines))
        else:
            lines[index] = "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(40)))
    if rng.random() < 0.1:
        lines.append("if true; then\n" * 300 + "fi\n" * 300)  # deep nesting
    return "".join(lines)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return build(
        tmp_path,
        {
            "shared/__init__.py": "",
            "shared/utils/__init__.py": "",
            **function("f", "import shared.utils\n\ndef handler(e):\n    return e\n"),
        },
        {"shared/utils/gone.py": "shared/utils/nowhere.py"},
    )


def test_mutated_scripts_never_raise(repo: Path) -> None:
    rng = random.Random(12)
    script = repo / "bin" / "deploy_f.sh"
    script.parent.mkdir(exist_ok=True)
    reached_a_deploy = 0
    for _ in range(150):
        text = mutate(rng)
        script.write_bytes(text.encode("utf-8", "surrogateescape"))
        result = evaluate_script(script, repo)  # raising here is the failure
        # The evaluator turns an exception in one construct into a note; none may happen.
        internal = [i.message for i in result.issues if "could not be evaluated (" in i.message]
        assert internal == [], text
        reached_a_deploy += bool(result.deploys)
    assert reached_a_deploy > 20  # the mutations leave most scripts meaningful
    report = validate_repo(repo, cache=FactsCache())
    assert [f.name for f in report.functions] == ["f"]


def test_binary_and_empty_scripts_never_make_the_verb_exit_70(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = repo / "bin" / "deploy_f.sh"
    script.parent.mkdir(exist_ok=True)
    rng = random.Random(5)
    samples = [
        b"",
        bytes(rng.randrange(256) for _ in range(4000)) + b"gcloud functions deploy f",
        b"gcloud functions deploy \x00\xff --source=\xc3\x28",
        b"gcloud functions deploy f --source=" + b"../" * 2000,
        ("x=$(" * 500 + "gcloud functions deploy f" + ")" * 500).encode(),
    ]
    for sample in samples:
        script.write_bytes(sample)
        code = main(["validate", str(repo), "--no-cache", "--format", "json"])
        assert code in (0, 1), capsys.readouterr().err
        capsys.readouterr()
