"""Start a deployed package the way Cloud Functions does, and print one JSON verdict.

Run with the package's virtualenv Python, from the unpacked package:
    python startup_check.py ENTRY_POINT|-
The Functions Framework loads main.py and looks up the entry point (`create_app`),
which is what a gen2 instance does at start-up. The verdict says how it ended:
`ok`, or the exception's type and message, with `kind` one of `import` (the package
or its requirements lack a module), `syntax`, `entry-point`, `code` (main.py loads
but its module-level code raises) or `environment` (an exception that needs the
cloud: credentials, network; counted as a start-up that would succeed there).
"""

from __future__ import annotations

import json
import os
import sys

_CLOUD_MODULES = {"google", "requests", "urllib3", "grpc", "socket", "http"}
"""Exceptions from these need Google Cloud or the network, which the oracle does not have."""


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else None
    verdict: dict[str, object] = {"ok": True, "kind": None, "error": None}
    try:
        from functions_framework import create_app
        from functions_framework.exceptions import MissingTargetException

        try:
            create_app(target or "__oracle_no_target__", os.path.abspath("main.py"))
        except MissingTargetException as exc:
            if target is not None:
                raise
            del exc  # only main.py's import was asked for
    except SyntaxError as exc:
        verdict = {"ok": False, "kind": "syntax", "error": f"{type(exc).__name__}: {exc}"}
    except ImportError as exc:  # ModuleNotFoundError included
        verdict = {"ok": False, "kind": "import", "error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:
        name = type(exc).__name__
        if name in ("MissingTargetException", "MissingSourceException"):
            kind = "entry-point"
        elif isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in _CLOUD_MODULES:
            kind = "environment"
        else:
            kind = "code"  # the package loads but its start-up code raises
        ok = kind == "environment"
        verdict = {"ok": ok, "kind": kind, "error": f"{name}: {exc}"[:500]}
    print("ORACLE-VERDICT " + json.dumps(verdict))


if __name__ == "__main__":
    main()
