"""Trained example models and the scripts that made them (not part of the installed package).

Run from the repository root: ``python -m examples.make_models`` rewrites the model and data
files; ``from examples import digits`` gives the digits study of notebook 04.
"""
