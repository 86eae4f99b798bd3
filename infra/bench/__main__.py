"""``python -m infra.bench``: the performance benchmark (see ``infra.bench.benchmark``)."""

import sys

from infra.bench.benchmark import main

sys.exit(main())
