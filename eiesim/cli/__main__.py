"""``python -m eiesim.cli``: the same as the ``eiesim`` command."""

import sys

from eiesim.cli import main

sys.exit(main())
