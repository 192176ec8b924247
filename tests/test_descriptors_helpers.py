"""Shared helpers of the descriptor tests (no tests here): fixtures and random morphologies."""

from __future__ import annotations

import json
import numpy as np
from scipy import ndimage

from tests.reference_data import GRASPI  # noqa: F401 - re-exported for the descriptor tests


def load_fixture(name: str) -> np.ndarray:
    z = np.load(GRASPI / f"{name}.npz")
    shape = tuple(int(s) for s in z["shape"])
    return np.unpackbits(z["packed"])[: int(np.prod(shape))].reshape(shape)


def reference() -> dict:
    return json.loads((GRASPI / "graspi_cpp_reference.json").read_text())


def random_volume(seed: int, shape: tuple[int, ...], frac: float = 0.5, sigma: float = 1.0,
                  mixed: float = 0.0) -> np.ndarray:
    """Thresholded Gaussian-smoothed noise: 0 donor with fraction ``frac``; a band of 2 if mixed."""
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    lo = np.quantile(f, frac)
    vol = (f > lo).astype(np.uint8)
    if mixed > 0:
        hi = np.quantile(f, min(1.0, frac + mixed))
        vol[(f > lo) & (f <= hi)] = 2
    return vol


def sig6(x: float) -> float:
    return float(f"{x:.6g}")
