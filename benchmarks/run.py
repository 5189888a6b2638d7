"""``python -m benchmarks.run``: the former name of ``python -m benchmarks``, kept as an alias."""

import sys

from benchmarks.__main__ import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m benchmarks.run"))
