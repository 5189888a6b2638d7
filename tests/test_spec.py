"""HardwareSpec: defaults are EIE's design point; every bad value is rejected clearly."""

import dataclasses

import pytest

from eiesim import HardwareSpec, SpecError


def test_defaults_are_eie_design_point():
    spec = HardwareSpec()
    assert (spec.num_pes, spec.act_queue_depth, spec.weight_index_bits, spec.rel_index_bits,
            spec.pointer_bits, spec.spmat_sram_width_bits) == (64, 8, 4, 4, 16, 64)
    assert (spec.spmat_sram_bytes, spec.ptr_sram_bytes, spec.act_sram_bytes) == (
        128 * 1024, 32 * 1024, 2 * 1024)
    assert spec.act_regs_per_file == 64 and spec.clock_hz == 800e6
    assert spec.arithmetic == "fixed16" and spec.data_bits == 16
    assert spec.entries_per_sram_line == 8
    assert spec.lnzd_nodes == 21  # 16 + 4 + 1
    assert spec.max_entries_per_pe == 65535  # the 16-bit pointer, not the 128 K-entry SRAM
    assert spec.act_frac_bits_effective == 8


def test_sram_line_holds_whole_entries():
    assert HardwareSpec(rel_index_bits=2).entries_per_sram_line == 10  # 64 // 6
    assert HardwareSpec(spmat_sram_width_bits=128).entries_per_sram_line == 16


def test_rtl_queue_mapping():
    assert HardwareSpec.from_rtl_queue_slots(8).act_queue_depth == 7
    with pytest.raises(SpecError, match="at least 2 slots"):
        HardwareSpec.from_rtl_queue_slots(1)


def test_frozen_and_round_trips_through_dict():
    spec = HardwareSpec(num_pes=16, arithmetic="float32")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.num_pes = 3  # type: ignore[misc]
    assert HardwareSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("changes, message", [
    ({"num_pes": 0}, r"num_pes = 0 \(--pes\) is below the minimum 1"),
    ({"act_queue_depth": 0}, r"act_queue_depth = 0 \(--fifo\) is below the minimum 1"),
    ({"rel_index_bits": 0}, r"rel_index_bits = 0 \(--index-bits\) is below the minimum 1"),
    ({"weight_index_bits": 9}, r"weight_index_bits = 9 \(--weight-bits\) is above the maximum 8"),
    ({"num_pes": 2.5}, "must be a whole number"),
    ({"num_pes": True}, "must be a whole number"),
    ({"spmat_sram_width_bits": 7}, "narrower than one 8-bit entry"),
    ({"clock_hz": 0}, "below the minimum 1e.06 Hz"),
    ({"clock_hz": 1e30}, "above the maximum 1e.10 Hz"),
    ({"clock_hz": float("inf")}, "must be a finite number"),
    ({"arithmetic": "int8"}, "not supported"),
    ({"arithmetic": "fixed64"}, "outside 4..32"),
    ({"act_frac_bits": 16}, r"act_frac_bits = 16 \(--act-frac-bits\) is above the maximum 15"),
    ({"act_frac_bits": -1}, "below the minimum 0"),
    ({"spmat_sram_bytes": 1 << 41}, "above the maximum"),
    ({"lnzd_fanin": 1}, r"lnzd_fanin = 1 \(--lnzd-fanin\) is below the minimum 2"),
])
def test_bad_values_rejected(changes, message):
    with pytest.raises(SpecError, match=message):
        HardwareSpec(**changes)


def test_unknown_keys_rejected_by_name():
    with pytest.raises(SpecError, match="unknown hardware parameter.*num_pe\\b"):
        HardwareSpec.from_dict({"num_pe": 4})


def test_every_field_declares_doc_unit_range_and_flag():
    from eiesim.spec import AXES, PARAMETERS, field_for

    flags = [param.flag for param in PARAMETERS.values()]
    assert len(set(flags)) == len(flags)  # one flag per field
    for name, param in PARAMETERS.items():
        assert param.doc and param.hint and param.flag.startswith("--"), name
        assert field_for(param.flag) == name
        if param.kind in (int, float):  # a number; str and bool fields have no unit or range
            assert param.unit and (param.low is not None), name
    assert AXES["pes"] == "num_pes" and field_for("fifo") == "act_queue_depth"


def test_presets_are_the_defaults_and_the_authors_model():
    from eiesim.spec import PRESETS

    assert HardwareSpec.preset("eie") == HardwareSpec()
    authors = HardwareSpec.preset("authors-model")
    changed = {name: value for name, value in authors.to_dict().items()
               if value != getattr(HardwareSpec(), name)}
    assert changed == {"act_queue_depth": 7, "arith_pipeline_stages": 3,
                       "end_of_layer_latency_cycles": 2, "source_regs_hold_whole_input": True}
    assert changed == PRESETS["authors-model"].values
    # The RTL model's 8-slot buffer, as --fifo counts it (entries held).
    assert authors.act_queue_depth == HardwareSpec.from_rtl_queue_slots(8).act_queue_depth


def test_preset_is_a_base_that_changes_override():
    spec = HardwareSpec.preset("authors-model", act_queue_depth=3, num_pes=16)
    assert (spec.act_queue_depth, spec.num_pes, spec.end_of_layer_latency_cycles) == (3, 16, 2)
    with pytest.raises(SpecError, match=r"act_queue_depth = 0"):
        HardwareSpec.preset("authors-model", act_queue_depth=0)


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(SpecError, match=r"unknown preset 'authors'.*did you mean "
                                        r"'authors-model'.*known presets are eie, authors-model"):
        HardwareSpec.preset("authors")


def test_every_preset_is_documented_with_each_change_and_why():
    from pathlib import Path

    from eiesim.spec import PRESETS

    hardware_md = (Path(__file__).parent.parent / "docs" / "hardware.md").read_text()
    for name, preset in PRESETS.items():
        assert f"`{name}`" in hardware_md, name
        assert preset.doc
        for field, _, why in preset.changes:
            assert f"`{field}`" in hardware_md and why, (name, field)


def test_flag_fields_take_booleans_only():
    import numpy as np

    assert HardwareSpec(source_regs_hold_whole_input=np.bool_(True)) \
        .source_regs_hold_whole_input is True
    for bad in (1, 0, "true", None):
        with pytest.raises(SpecError, match=r"source_regs_hold_whole_input = .* "
                                            r"\(--whole-input-regs\) must be true or false"):
            HardwareSpec(source_regs_hold_whole_input=bad)
    with pytest.raises(SpecError, match=r"end_of_layer_latency_cycles = -1 \(--end-latency\) "
                                        r"is below the minimum 0"):
        HardwareSpec(end_of_layer_latency_cycles=-1)
