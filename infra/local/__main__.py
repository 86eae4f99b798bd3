"""``python -m infra.local``: run the local stack (see ``infra.local.stack``)."""

from infra.cli import exit_with
from infra.local.stack import main

exit_with(main)
