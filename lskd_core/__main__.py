"""``python -m lskd_core ...`` is the ``lskd`` command, for machines where the package is not installed."""

import sys

from .cli import main

sys.exit(main())
