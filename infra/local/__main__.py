"""``python -m infra.local``: run the local stack (see ``infra.local.stack``)."""

import sys

from infra.local.stack import main

sys.exit(main())
