"""``python -m infra.local``: run the local stack (``infra.local.stack``) with the console in its
local mode at ``/`` (``infra.console``). This entry point composes the two: the stack sits below
the console, so it takes the console as ``stack.main``'s argument instead of importing it."""

import functools

from infra.cli import exit_with
from infra.console.launch import local_console
from infra.local.stack import main

exit_with(functools.partial(main, console=local_console))
