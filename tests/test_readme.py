"""The README's Python examples run as written; its two set-up commands are what CI runs."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[f"block{i}" for i in
                                                       range(len(PYTHON_BLOCKS))])
def test_readme_python_block_runs(block):
    exec(compile(block, str(README), "exec"), {})


def test_readme_has_python_examples():
    assert len(PYTHON_BLOCKS) >= 2


def test_ci_runs_the_readme_test_command():
    bash_blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    test_command = next(block.strip() for block in bash_blocks if "pytest" in block)
    ci_script = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci_script
