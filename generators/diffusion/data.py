"""Training data for the diffusion pipeline: volumes and their labels from HDF5 shards.

Layout read (MicroGen3D's, :mod:`objectives.io.hdf5`): every ``*.h5`` / ``*.hdf5`` shard holds one
3-D (or ``(1, X, Y, Z)``) root dataset per sample; the sample's labels (descriptors, recipe ``phi``,
``chi``, ``log_time``) are scalar attributes of that dataset. Volumes are stored as labels (0/1/2),
integer or integral floats. Only labels present on every sample are kept. The same shards are
served lazily, with per-item random crops, by :class:`generators.datasets.H5VolumeDataset`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generators.datasets import shard_paths
from objectives.io.hdf5 import h5_sample_names, read_h5_samples


@dataclass
class VolumeSet:
    """Volumes ``(N, X, Y, Z)`` uint8 and labels ``name -> (N,)`` float64 arrays."""

    volumes: torch.Tensor
    labels: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.volumes.shape[0])

    @property
    def phases(self) -> int:
        return 3 if int(self.volumes.max()) >= 2 else 2

    def subset(self, idx) -> "VolumeSet":
        idx = np.asarray(idx)
        return VolumeSet(self.volumes[torch.as_tensor(idx)], {k: v[idx] for k, v in self.labels.items()})

    def split(self, val_fraction: float, seed: int = 0) -> tuple["VolumeSet", "VolumeSet"]:
        """A seeded train/validation split (at least one sample in each)."""
        n = len(self)
        if n < 2:
            raise ValueError(f"need at least 2 samples to split into train and validation, got {n}")
        perm = np.random.default_rng(seed).permutation(n)
        k = min(max(1, int(round(val_fraction * n))), n - 1)
        return self.subset(perm[k:]), self.subset(perm[:k])

    def table(self, names) -> np.ndarray:
        """Labels ``names`` as an ``(N, len(names))`` array."""
        missing = [k for k in names if k not in self.labels]
        if missing:
            raise ValueError(f"labels {missing} not in the data (have {sorted(self.labels)})")
        return np.stack([self.labels[k] for k in names], axis=1).astype(np.float64)


def load_shards(path: str | Path | Sequence[str | Path], limit: int | None = None) -> VolumeSet:
    """Read every sample (or the first ``limit``) of the HDF5 shards at ``path`` into memory.

    ``path`` is a directory (searched recursively), a file, a glob or a list of them
    (:func:`generators.datasets.shard_paths`); shards are read in path order, samples in
    MicroGen3D's order, by :mod:`objectives.io.hdf5`.

    Raises
    ------
    ValueError
        If no shard or sample is found, a volume is not integer labels, or volume shapes differ.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    files = shard_paths(path, recursive=True)
    vols: list[np.ndarray] = []
    labels: list[dict[str, float]] = []
    for f in files:
        n = len(h5_sample_names(f))
        if limit is not None:
            n = min(n, limit - len(vols))
        if n <= 0:
            continue
        v, attrs, _ = read_h5_samples(f, range(n))
        if v.ndim != 4:
            raise ValueError(f"{f}: samples are {v.ndim - 1}-D, need 3-D volumes")
        vols.extend(v)
        labels.extend({k: float(a) for k, a in at.items() if np.ndim(a) == 0 and _is_number(a)} for at in attrs)
    if not vols:
        raise ValueError(f"no 3-D sample datasets in the shards at {path}")
    shapes = {v.shape for v in vols}
    if len(shapes) > 1:
        raise ValueError(f"samples have different shapes {sorted(shapes)}")
    common = set(labels[0]).intersection(*labels[1:])
    return VolumeSet(torch.from_numpy(np.stack(vols)),
                     {k: np.array([lab[k] for lab in labels]) for k in sorted(common)})


def _is_number(a) -> bool:
    try:
        float(a)
        return not isinstance(a, (str, bytes))
    except (TypeError, ValueError):
        return False


def random_crops(volumes: torch.Tensor, crop: tuple[int, int, int], batch: int,
                 generator: torch.Generator) -> torch.Tensor:
    """``batch`` random crops (periodic wrap in X and Y, none in Z) of random volumes."""
    n, X, Y, Z = volumes.shape
    cx, cy, cz = crop
    if cx > X or cy > Y or cz > Z:
        raise ValueError(f"crop {crop} larger than the volumes {(X, Y, Z)}")
    idx = torch.randint(0, n, (batch,), generator=generator)
    out = torch.empty((batch, cx, cy, cz), dtype=volumes.dtype)
    for b in range(batch):
        ox, oy, oz = (int(torch.randint(0, s, (1,), generator=generator)) for s in (X, Y, Z - cz + 1))
        v = volumes[idx[b]]
        v = torch.roll(v, shifts=(-ox, -oy), dims=(0, 1))
        out[b] = v[:cx, :cy, oz:oz + cz]
    return out
