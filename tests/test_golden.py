"""Both engines must reproduce the golden results of the real fc8 layer exactly.

The golden file comes from running the engines (``python -m tests.golden.regenerate``), so
this test catches any change of cycles, counters or outputs, including one that moves both
engines together. A deliberate change of the timing contract regenerates the file.
"""

import json

import pytest
from golden.regenerate import CONFIGS, GOLDEN_PATH, run, spec_of, summary

GOLDEN = json.loads(GOLDEN_PATH.read_text())
BY_NAME = {config["name"]: config for config in GOLDEN["configs"]}


def test_golden_file_covers_every_configuration():
    assert list(BY_NAME) == list(CONFIGS)


def differences(expected: dict, actual: dict) -> list[str]:
    lines = []
    for key, value in expected.items():
        if key in ("name", "spec"):
            continue
        if isinstance(value, dict):
            lines += [f"{key}.{name}: golden {value[name]}, now {actual[key][name]}"
                      for name in value if value[name] != actual[key][name]]
        elif value != actual[key]:
            lines.append(f"{key}: golden {value}, now {actual[key]}")
    return lines


@pytest.mark.parametrize("engine", ["fast", pytest.param("reference", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_engine_matches_golden(name, engine):
    golden = BY_NAME[name]
    spec = spec_of(CONFIGS[name])
    assert spec.to_dict() == golden["spec"]
    lines = differences(golden, summary(run(spec, engine)))
    assert not lines, "\n".join(lines[:40])
