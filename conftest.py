"""Test-session setup shared by the whole suite.

The notebooks in ``notebooks/`` run under pytest (nbmake) in CI. Each reads
``EIESIM_NOTEBOOK_QUICK`` in its first cell and, when it is "1", uses small layers and few sweep
points, so a test run executes them in well under the CI time budget. The variable is set here,
at import, before nbmake starts any kernel (kernels inherit this process's environment); a value
already set by the caller wins, so ``EIESIM_NOTEBOOK_QUICK=0 python3 -m pytest`` runs them at
full size.
"""

import os

os.environ.setdefault("EIESIM_NOTEBOOK_QUICK", "1")
