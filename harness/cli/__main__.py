"""``python -m harness.cli``: the same ``otaloop`` command line, for a checkout without the entry point."""

import sys

from harness.cli import main

sys.exit(main())
