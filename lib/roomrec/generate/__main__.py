"""Run ``python -m roomrec.generate``, the same as ``roomrec generate``."""

import sys

from roomrec.generate.command import main

sys.exit(main())
