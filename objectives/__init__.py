"""Pure functions on voxel volumes: GraSPI descriptors, file formats, targets and losses.

Volumes are integer label arrays ``(X, Y, Z)`` or batches ``(B, X, Y, Z)`` (2-D: ``(X, Y)`` /
``(B, X, Y)``): 0 donor, 1 acceptor, 2 mixed; the last axis is the film thickness.
This package needs only numpy and torch (h5py/tifffile are imported lazily by the readers).
"""

from .descriptors import THREE_PHASE_NAMES, TWO_PHASE_NAMES, describe, describe_batch
from .labels import as_label_tensor

__all__ = ["describe", "describe_batch", "as_label_tensor", "TWO_PHASE_NAMES", "THREE_PHASE_NAMES"]
