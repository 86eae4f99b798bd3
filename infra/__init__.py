"""Local stack, operator tooling and test support. Imports the function package, never the reverse."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"

# The deployed function's code root is functions/ (its CodeUri); make it importable the same way.
if str(FUNCTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS_DIR))
