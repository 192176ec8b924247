"""Sample a generator at conditions and measure the volumes' descriptors on the same device."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

DescribeBatch = Callable[..., Mapping[str, torch.Tensor]]


def default_describe() -> DescribeBatch:
    """``objectives.describe_batch`` (looked up at call time)."""
    import objectives

    fn = getattr(objectives, "describe_batch", None)
    if fn is None:
        raise ValueError("objectives.describe_batch is not available in this installation")
    return fn


@dataclass
class Measurement:
    """Volumes and descriptors of ``m`` conditions with ``n`` samples each.

    Attributes
    ----------
    volumes : ndarray uint8 ``(m, n, X, Y, Z)``
        Phase labels, on the CPU.
    descriptors : dict[str, ndarray (m, n)]
        Every measured descriptor per sample (float64).
    predicted : dict[str, ndarray (m, n)]
        The generator's per-sample predictions (e.g. the recipe phi, chi, log_time).
    """

    volumes: np.ndarray
    descriptors: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]

    def means(self) -> dict[str, np.ndarray]:
        """Per-condition mean of every descriptor, ``(m,)``."""
        return {k: v.mean(axis=1) for k, v in self.descriptors.items()}

    def variances(self) -> dict[str, np.ndarray]:
        """Per-condition replicate variance (ddof=1 when n > 1, else 0), ``(m,)``."""
        n = next(iter(self.descriptors.values())).shape[1] if self.descriptors else 1
        return {k: (v.var(axis=1, ddof=1) if n > 1 else np.zeros(len(v))) for k, v in self.descriptors.items()}


def measure(
    generator,
    conditions: torch.Tensor,
    n: int,
    seed: int,
    describe: DescribeBatch | None = None,
    periodic: bool = False,
) -> Measurement:
    """Generate ``n`` volumes per row of ``conditions (m, d)`` and measure them.

    The volumes stay on the generator's device for the measurement; only the results move to
    the CPU.
    """
    describe = describe or default_describe()
    conditions = torch.as_tensor(conditions, dtype=torch.float32)
    if getattr(generator, "device", None) is not None:
        conditions = conditions.to(generator.device)
    m = conditions.shape[0]
    samples = generator.sample(conditions, n=n, seed=int(seed))
    vols = samples.volumes
    if vols.shape[0] != m * n:
        raise ValueError(f"generator returned {vols.shape[0]} volumes for {m} x {n} requested")
    raw = describe(vols, periodic=periodic)
    descriptors = {
        k: torch.as_tensor(v).detach().double().cpu().numpy().reshape(m, n) for k, v in raw.items()
    }
    predicted = {
        k: torch.as_tensor(v).detach().double().cpu().numpy().reshape(m, n)
        for k, v in (samples.predicted or {}).items()
    }
    volumes = vols.detach().to(torch.uint8).cpu().numpy().reshape(m, n, *vols.shape[1:])
    return Measurement(volumes=volumes, descriptors=descriptors, predicted=predicted)


def measurable_names(generator, describe: DescribeBatch | None = None) -> tuple[str, ...]:
    """Descriptor names measured on this generator's volumes (probed on a tiny volume).

    A generator may declare them as ``descriptor_names``; otherwise a small probe volume with the
    generator's phases is described.
    """
    declared = getattr(generator, "descriptor_names", None)
    if declared:
        return tuple(declared)
    describe = describe or default_describe()
    probe = torch.zeros(1, 6, 6, 6, dtype=torch.uint8)
    probe[0, :3] = 1
    if getattr(generator, "phases", 2) == 3:
        probe[0, :, :2] = 2
    return tuple(describe(probe))
