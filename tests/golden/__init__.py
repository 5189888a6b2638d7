"""Golden results of the real fc8 layer: see regenerate.py (how they are made) and
tests/test_golden.py (what must match them)."""
