"""Sample a generator at conditions and measure the volumes' descriptors on the same device."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

_log = logging.getLogger(__name__)

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


class SamplingOutOfMemory(RuntimeError):
    """The generator ran out of GPU memory even at one volume per ``sample`` call."""


class SampleBatches:
    """``generator.sample`` in chunks of at most ``size`` volumes per condition, halving after a
    CUDA out-of-memory error (the size only shrinks, so later trials start small).

    Parameters
    ----------
    generator : Generator
    size : int, optional
        Volumes per condition per call to start with (default: all of them in one call).
    """

    def __init__(self, generator, size: int | None = None) -> None:
        self.generator = generator
        self.size = size

    def __call__(self, conditions: torch.Tensor, n: int, seed: int):
        """Volumes ``(m, n, X, Y, Z)`` (generator device) and predictions ``{name: (m, n)}``.

        The first chunk uses ``seed``; chunk at sample offset ``k > 0`` a seed derived from both,
        so one call with every sample reproduces a run that was never split.
        """
        m = conditions.shape[0]
        vols, preds, done = [], [], 0
        while done < n:
            b = min(self.size or n, n - done)
            chunk_seed = int(seed) if done == 0 else int(
                np.random.SeedSequence([int(seed), done]).generate_state(1)[0] % (2**31))
            try:
                samples = self.generator.sample(conditions, n=b, seed=chunk_seed)
            except torch.OutOfMemoryError:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if b <= 1:
                    raise SamplingOutOfMemory(
                        "out of GPU memory while sampling even one volume per batch") from None
                self.size = max(1, b // 2)
                _log.warning("out of GPU memory at %d volumes per call; retrying with %d", b, self.size)
                continue
            v = samples.volumes
            if v.shape[0] != m * b:
                raise ValueError(f"generator returned {v.shape[0]} volumes for {m} x {b} requested")
            vols.append(v.reshape(m, b, *v.shape[1:]))
            preds.append({k: torch.as_tensor(p).reshape(m, b) for k, p in (samples.predicted or {}).items()})
            done += b
        volumes = torch.cat(vols, dim=1)
        predicted = {k: torch.cat([p[k] for p in preds], dim=1) for k in preds[0]}
        return volumes, predicted


def measure(
    generator,
    conditions: torch.Tensor,
    n: int,
    seed: int,
    describe: DescribeBatch | None = None,
    periodic: bool = False,
    batches: SampleBatches | None = None,
) -> Measurement:
    """Generate ``n`` volumes per row of ``conditions (m, d)`` and measure them.

    The volumes stay on the generator's device for the measurement; only the results move to
    the CPU. ``describe`` defaults to the generator's own ``describe_batch`` if it has one, else
    ``objectives.describe_batch``; ``batches`` (default: one call) splits the sampling and shrinks
    it after a CUDA out-of-memory error.
    """
    from invdesign.threads import refresh

    refresh()  # a running design's thread count follows the free cores
    describe = describe or getattr(generator, "describe_batch", None) or default_describe()
    conditions = torch.as_tensor(conditions, dtype=torch.float32)
    if getattr(generator, "device", None) is not None:
        conditions = conditions.to(generator.device)
    m = conditions.shape[0]
    vols, pred = (batches or SampleBatches(generator))(conditions, n, seed)
    raw = describe(vols.reshape(m * n, *vols.shape[2:]), periodic=periodic)
    descriptors = {
        k: torch.as_tensor(v).detach().double().cpu().numpy().reshape(m, n) for k, v in raw.items()
    }
    predicted = {k: v.detach().double().cpu().numpy() for k, v in pred.items()}
    volumes = vols.detach().to(torch.uint8).cpu().numpy()
    return Measurement(volumes=volumes, descriptors=descriptors, predicted=predicted)


def measurable_names(generator, describe: DescribeBatch | None = None) -> tuple[str, ...]:
    """Descriptor names measured on this generator's volumes (probed on a tiny volume).

    A generator may declare them as ``descriptor_names``; otherwise a small probe volume with the
    generator's phases is described.
    """
    declared = getattr(generator, "descriptor_names", None)
    if declared:
        return tuple(declared)
    describe = describe or getattr(generator, "describe_batch", None) or default_describe()
    probe = torch.zeros(1, 6, 6, 6, dtype=torch.uint8)
    probe[0, :3] = 1
    if getattr(generator, "phases", 2) == 3:
        probe[0, :, :2] = 2
    return tuple(describe(probe))
