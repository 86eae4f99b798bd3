"""``python -m infra.bench``: the performance benchmark (see ``infra.bench.benchmark``)."""

from infra.bench.benchmark import main
from infra.cli import exit_with

exit_with(main)
