"""Workloads at hand: the shipped real layer, the paper's nine layers and three networks of them.

``eiesim run --example NAME`` and ``eiesim sweep --example NAME`` take these names;
``eiesim run --list-examples`` prints this catalog. The real layer is AlexNet fc8 as EIE's
authors encoded it, with a real input (``eiesim/data/alexnet_fc8.npz``); the nine paper layers
(docs/hardware.md §5) are made by :func:`eiesim.explore.workloads.synthetic_layer` with seed 0, at
the
paper's shapes, weight densities and activation densities; the networks hold three of them, each
layer with its own input, as the paper benchmarks them (a network file with
``layer{K}_activations``).

This module imports nothing heavy, so that the command line can list the names quickly.

>>> sorted(NETWORKS)
['alexnet-fc', 'neuraltalk', 'vgg-fc']
>>> EXAMPLES["alex-7"].paper_name, EXAMPLES["vgg-fc"].layers
('Alex-7', ('vgg-6', 'vgg-7', 'vgg-8'))
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from eiesim.errors import UsageError

EXAMPLE_SEED = 0
"""Seed of the synthetic examples (the energy table is calibrated on the same layers)."""


@dataclass(frozen=True)
class Example:
    """A named workload: a shipped layer file, a paper layer made by the generator, or a network
    of examples."""
    name: str
    description: str
    file: str | None = None  # a layer file shipped in eiesim/data/
    paper_name: str | None = None  # a layer of the paper's Table III
    layers: tuple[str, ...] = ()  # a network: the examples it is made of

    @property
    def is_network(self) -> bool:
        return bool(self.layers)


_PAPER = {"alex-6": "Alex-6", "alex-7": "Alex-7", "alex-8": "Alex-8", "vgg-6": "VGG-6",
          "vgg-7": "VGG-7", "vgg-8": "VGG-8", "nt-we": "NT-We", "nt-wd": "NT-Wd",
          "nt-lstm": "NT-LSTM"}
NETWORKS = {"alexnet-fc": ("alex-6", "alex-7", "alex-8"),
            "vgg-fc": ("vgg-6", "vgg-7", "vgg-8"),
            "neuraltalk": ("nt-we", "nt-wd", "nt-lstm")}

EXAMPLES: dict[str, Example] = {
    "alexnet-fc8": Example("alexnet-fc8", "AlexNet fc8 as EIE's authors encoded it (pruned "
                                          "and 4-bit weight-shared), with a real fc7 input",
                           file="alexnet_fc8.npz"),
    **{name: Example(name, f"synthetic {paper} at the paper's shape and densities "
                           f"(seed {EXAMPLE_SEED})", paper_name=paper)
       for name, paper in _PAPER.items()},
    **{name: Example(name, f"network of {', '.join(parts)}, each layer on its own input",
                     layers=parts)
       for name, parts in NETWORKS.items()},
}


def example(name: str) -> Example:
    """The catalog entry ``name``, or a UsageError naming the closest known example."""
    if name not in EXAMPLES:
        import difflib

        close = difflib.get_close_matches(name, list(EXAMPLES), n=1)
        raise UsageError(f"example {name!r} is unknown" + (f" (did you mean {close[0]!r}?)"
                                                           if close else "")
                         + f"; the examples are {', '.join(EXAMPLES)} (eiesim run "
                           f"--list-examples describes them)")
    return EXAMPLES[name]


def example_path(name: str) -> Path:
    """Path of a layer file shipped with eiesim (``alexnet-fc8``: AlexNet fc8 as EIE's authors
    encoded it, with a real fc7 activation vector)."""
    entry = example(name)
    if entry.file is None:
        shipped = ", ".join(n for n, e in EXAMPLES.items() if e.file)
        raise UsageError(f"example {name!r} is made by a generator, not shipped as a file; the "
                         f"shipped layer files are {shipped} (eiesim.explore.catalog."
                         f"load_example({name!r}) makes any example)")
    return Path(str(resources.files("eiesim") / "data" / entry.file))


def load_example(name: str) -> Any:
    """The example as a :class:`~eiesim.format.quantized.QuantizedLayer` (with its input) or, for a
    network, a :class:`~eiesim.network.NetworkData` whose layers each carry their own input."""
    entry = example(name)
    if entry.is_network:
        from eiesim.network import NetworkData

        layers = [load_example(part) for part in entry.layers]
        return NetworkData(layers=tuple(layers), activations=None, source=name,
                           checksum=f"example {name}",
                           layer_inputs=tuple(layer.activations for layer in layers))
    if entry.file is not None:
        from eiesim.format.files import load_layer

        return load_layer(example_path(name))
    from eiesim.explore.workloads import synthetic_layer

    return synthetic_layer(entry.paper_name, seed=EXAMPLE_SEED).replace(source=name)


def describe() -> str:
    """The catalog as text: name, shape, densities and what it is."""
    from eiesim.explore.workloads import paper_layer

    lines = []
    for entry in EXAMPLES.values():
        if entry.is_network:
            shape = " + ".join(_shape(paper_layer(_PAPER[part])) for part in entry.layers)
        elif entry.paper_name is not None:
            row = paper_layer(entry.paper_name)
            shape = (f"{_shape(row)}, weights {row.weight_density:.0%}, "
                     f"inputs {row.activation_density:.1%} non-zero")
        else:  # the real layer: its densities as stored
            layer = load_example(entry.name)
            nonzero = float((layer.activations != 0).mean())
            shape = (f"{layer.out_features} x {layer.in_features}, weights "
                     f"{layer.density:.1%}, inputs {nonzero:.1%} non-zero")
        lines.append(f"{entry.name:<12} {shape}\n{'':<12} {entry.description}")
    return "\n".join(lines)


def _shape(row: Any) -> str:
    return f"{row.out_features} x {row.in_features}"
