"""Tooling, in folders that say who each tool is for. Imports the function package, never the reverse.

local/      the local stack and the developer tools that talk to it (make run, trigger, inspect)
ops/        operating a deployed stack (make ops, make cost)
bench/      performance: the benchmark and the burst load tool (make bench, make burst)
fixtures/   Stripe payloads, variants, flows, signing and HTTP delivery, for tests and tools
template.py template.yaml's resources;  build.py  the one sam build, with python3.13
cli.py      one error type and one runner for every command (no tracebacks; exit 1, or 2 for usage)
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"

# The deployed function's code root is functions/ (its CodeUri); make it importable the same way.
if str(FUNCTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS_DIR))
