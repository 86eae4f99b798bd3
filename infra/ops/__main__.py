"""``python -m infra.ops``: the operator commands (see ``infra.ops.cli``)."""

import sys

from infra.ops.cli import main

sys.exit(main())
