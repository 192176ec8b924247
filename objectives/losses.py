"""Losses between measured descriptors and targets.

Every loss is in units of the tolerance: a normalised error ``e_k = |measured_k - target_k| /
tolerance_k``; a measurement meets every target exactly when its distance (the max of ``e_k``) is
``<= 1``. Functions take torch tensors whose last dimension runs over the target names (in the
order of :attr:`Targets.names`) and keep every leading (batch) dimension, so they also serve as a
Monte-Carlo objective over posterior samples.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from objectives.targets import Targets

DISTANCES = ("max", "l2")


def target_tensors(
    targets: Targets, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, tolerances)`` as 1-D tensors in the order of ``targets.names``."""
    names = targets.names
    values = torch.tensor([targets.values[n] for n in names], dtype=dtype, device=device)
    tols = torch.tensor([targets.tolerances[n] for n in names], dtype=dtype, device=device)
    return values, tols


def normalized_errors(
    measured: torch.Tensor, target: torch.Tensor, tolerance: torch.Tensor
) -> torch.Tensor:
    """``|measured - target| / tolerance`` element-wise, shape ``(..., k)``."""
    return (measured - target).abs() / tolerance


def distance(
    measured: torch.Tensor,
    target: torch.Tensor,
    tolerance: torch.Tensor,
    kind: str = "max",
) -> torch.Tensor:
    """Distance to the targets in tolerance units, shape ``measured.shape[:-1]``.

    Parameters
    ----------
    measured : Tensor ``(..., k)``
        Measured descriptor values, last dimension over the targets.
    target, tolerance : Tensor ``(k,)``
    kind : {"max", "l2"}
        ``"max"``: the largest normalised error (<= 1 means every target is met). ``"l2"``: the
        root mean square of the normalised errors (smooth; <= 1 does not imply success).
    """
    err = normalized_errors(measured, target, tolerance)
    if kind == "max":
        return err.amax(dim=-1)
    if kind == "l2":
        return err.pow(2).mean(dim=-1).sqrt()
    raise ValueError(f"unknown distance {kind!r}; choose one of {', '.join(DISTANCES)}")


def within_tolerance(
    measured: torch.Tensor, target: torch.Tensor, tolerance: torch.Tensor
) -> torch.Tensor:
    """Boolean ``(...)``: every target met, ``|measured - target| <= tolerance``."""
    return ((measured - target).abs() <= tolerance).all(dim=-1)


def measured_matrix(
    measured: Mapping[str, torch.Tensor | float], targets: Targets
) -> torch.Tensor:
    """Stack ``measured[name]`` over the target names into ``(..., k)`` (float64).

    Raises
    ------
    ValueError
        A target name missing from ``measured``.
    """
    missing = [n for n in targets.names if n not in measured]
    if missing:
        raise ValueError(f"measurement lacks target descriptor(s): {', '.join(missing)}")
    cols = [torch.as_tensor(measured[n], dtype=torch.float64) for n in targets.names]
    return torch.stack([c.cpu() for c in cols], dim=-1)


def descriptor_losses(
    measured: Mapping[str, float], targets: Targets
) -> dict[str, float]:
    """Per-descriptor normalised error ``|measured - target| / tolerance`` for one measurement."""
    return {
        n: abs(float(measured[n]) - targets.values[n]) / targets.tolerances[n]
        for n in targets.names
    }


def target_distance(
    measured: Mapping[str, torch.Tensor | float], targets: Targets, kind: str = "max"
) -> torch.Tensor:
    """:func:`distance` of a name -> value(s) mapping to ``targets`` (float64, CPU)."""
    values, tols = target_tensors(targets)
    return distance(measured_matrix(measured, targets), values, tols, kind)
