"""Compression front end: prune, quantize (weight sharing) and encode (interleaved CSC).

Pure numpy; never imports eiesim.sim (the two share only EncodedLayer).
"""

from eiesim.compress.encode import encode

__all__ = ["encode"]
