"""A tiny synthetic data set for tests and demos: thresholded smoothed noise with labels
computed from each volume. The labels are simple (named for what they are), not GraSPI's."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_volume(shape, phi: float, chi: float, rng: np.random.Generator, phases: int = 2) -> np.ndarray:
    """Gaussian-smoothed noise (width ``chi`` voxels, periodic) thresholded so a fraction ``phi``
    is donor (0); with ``phases=3`` a band around the threshold is mixed (2)."""
    noise = rng.standard_normal(shape)
    k = [np.fft.fftfreq(s) for s in shape]
    kk = sum(np.meshgrid(*[ki**2 for ki in k], indexing="ij"))
    field = np.real(np.fft.ifftn(np.fft.fftn(noise) * np.exp(-2 * (np.pi * chi) ** 2 * kk)))
    q = np.quantile(field, phi)
    vol = (field > q).astype(np.uint8)  # 0 below the phi quantile: donor fraction phi
    if phases == 3:
        lo, hi = np.quantile(field, [max(phi - 0.1, 0.0), min(phi + 0.1, 1.0)])
        vol[(field > lo) & (field < hi)] = 2
    return vol


def volume_labels(vol: np.ndarray) -> dict[str, float]:
    """Donor/acceptor/mixed volume fractions and the fraction of unlike face neighbours."""
    unlike = np.mean([np.mean(np.diff(vol.astype(np.int16), axis=a) != 0) for a in range(3)])
    return {
        "vol_frac_D": float(np.mean(vol == 0)),
        "vol_frac_A": float(np.mean(vol == 1)),
        "vol_frac_M": float(np.mean(vol == 2)),
        "interface_frac": float(unlike),
    }


def write_synthetic_shards(directory: str | Path, n: int = 32, shape=(32, 32, 16), phases: int = 2,
                           seed: int = 0, per_shard: int = 16) -> Path:
    """Write ``n`` synthetic samples as HDF5 shards (one dataset per sample, labels as attributes,
    recipe ``phi``, ``chi``, ``log_time`` included)."""
    import h5py

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for s in range(0, n, per_shard):
        with h5py.File(d / f"shard_{s // per_shard:04d}.h5", "w") as h:
            for i in range(s, min(n, s + per_shard)):
                phi, chi, log_time = rng.uniform(0.35, 0.65), rng.uniform(1.0, 2.5), rng.uniform(0.0, 1.0)
                vol = synthetic_volume(shape, phi, chi, rng, phases)
                ds = h.create_dataset(f"sample_{i:06d}", data=vol, compression="gzip")
                for k, v in {**volume_labels(vol), "phi": phi, "chi": chi, "log_time": log_time}.items():
                    ds.attrs[k] = v
    return d
