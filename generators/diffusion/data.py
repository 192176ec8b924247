"""Training data for the diffusion pipeline: volumes and their labels from HDF5 shards.

Layout read (MicroGen3D's): every ``*.h5`` / ``*.hdf5`` file under a directory holds one 3-D
(or ``(1, X, Y, Z)``) dataset per sample (any group depth); the sample's labels (descriptors, recipe ``phi``, ``chi``,
``log_time``) are scalar attributes of that dataset. Volumes are stored as labels (0/1/2) or as
floats (two-phase 0/1; rounded). Only labels present on every sample are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


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


def load_shards(path: str | Path, limit: int | None = None) -> VolumeSet:
    """Read every sample of the HDF5 shards under ``path`` (a directory or one file).

    Raises
    ------
    ValueError
        If no shard or sample is found or volume shapes differ.
    """
    import h5py

    p = Path(path)
    files = [p] if p.is_file() else sorted([*p.rglob("*.h5"), *p.rglob("*.hdf5")]) if p.is_dir() else []
    if not files:
        raise ValueError(f"no HDF5 shards (*.h5, *.hdf5) at {p}")
    vols: list[np.ndarray] = []
    labels: list[dict[str, float]] = []

    def visit(_name, obj) -> None:
        is_volume = isinstance(obj, h5py.Dataset) and (obj.ndim == 3 or (obj.ndim == 4 and obj.shape[0] == 1))
        if is_volume and (limit is None or len(vols) < limit):
            v = obj[()].reshape(obj.shape[-3:])
            vols.append(np.rint(v).astype(np.uint8) if v.dtype.kind == "f" else v.astype(np.uint8))
            labels.append({k: float(a) for k, a in obj.attrs.items() if np.ndim(a) == 0 and _is_number(a)})

    for f in files:
        with h5py.File(f, "r") as h:
            h.visititems(visit)
    if not vols:
        raise ValueError(f"no 3-D sample datasets in the shards at {p}")
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
