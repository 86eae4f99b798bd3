"""``python -m infra.ops``: the operator commands (see ``infra.ops.cli``)."""

from infra.cli import exit_with
from infra.ops.cli import main

exit_with(main, interrupted="interrupted; a backfill continues with --resume")
