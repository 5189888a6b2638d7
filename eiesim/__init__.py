"""eiesim: a cycle-level simulator of EIE, the Efficient Inference Engine (Han et al., ISCA 2016)."""

from eiesim.compress import encode
from eiesim.errors import CapacityError, EiesimError, LayerError, SpecError
from eiesim.layer import EncodedLayer, StorageStats
from eiesim.sim import SimResult, simulate
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SPEC", "CapacityError", "EiesimError", "EncodedLayer", "HardwareSpec", "LayerError",
    "SimResult", "SpecError", "StorageStats", "__version__", "encode", "simulate",
]
