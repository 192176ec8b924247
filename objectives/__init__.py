"""Pure functions on voxel volumes: GraSPI descriptors, file formats, targets and losses.

Volumes are integer label arrays ``(X, Y, Z)`` or batches ``(B, X, Y, Z)`` (2-D: ``(X, Y)`` /
``(B, X, Y)``): 0 donor, 1 acceptor, 2 mixed; the last axis is the film thickness.
This package needs only numpy and torch (h5py/tifffile are imported lazily by the readers).
"""
