"""``python -m eiesim.cli``: the same as the ``eiesim`` command."""

from eiesim.cli import console_main

console_main()
