"""Validation of label volumes: any array-like -> a checked ``uint8`` torch tensor."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["as_label_tensor", "VALID_LABELS"]

#: Labels a volume may hold: 0 donor, 1 acceptor, 2 mixed.
VALID_LABELS = (0, 1, 2)


def _to_tensor(volume: Any) -> torch.Tensor:
    if isinstance(volume, torch.Tensor):
        return volume.detach()
    arr = np.asarray(volume)
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise ValueError(f"volume must be a numeric label array, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize > 1:
        # torch lacks some wide unsigned types on older builds; the range check follows.
        if arr.size and arr.max() > 255:
            raise ValueError(f"labels must be in {{0, 1, 2}}, found {int(arr.max())}")
        arr = arr.astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(arr))


def as_label_tensor(volume: Any, device: torch.device | str | None = None) -> torch.Tensor:
    """Check a label volume and return it as a ``uint8`` tensor.

    Parameters
    ----------
    volume : array-like or torch.Tensor
        Integer labels (0 donor, 1 acceptor, 2 mixed) of shape ``(X, Y)``, ``(X, Y, Z)`` or a batch
        ``(B, X, Y, Z)``; the last axis is the film thickness (voxels). Floating-point input is
        accepted only when every value is finite and integral; booleans count as 0/1.
    device : torch.device or str, optional
        Device of the result; by default the input tensor's device (CPU for arrays).

    Returns
    -------
    torch.Tensor
        ``uint8`` tensor of the same shape, values in {0, 1, 2}.

    Raises
    ------
    ValueError
        Empty input, ``ndim`` not in 2..4, a film thinner than 2 voxels (last axis < 2), complex or
        non-numeric dtype, NaN/inf, non-integral floats, or labels outside {0, 1, 2}.
    """
    t = _to_tensor(volume)
    if t.ndim not in (2, 3, 4):
        raise ValueError(
            f"volume must have 2 to 4 dimensions ((X, Y), (X, Y, Z) or (B, X, Y, Z)), got ndim={t.ndim}"
        )
    if t.numel() == 0:
        raise ValueError(f"volume is empty (shape {tuple(t.shape)})")
    if t.shape[-1] < 2:
        raise ValueError(
            f"film thickness (last axis) must be at least 2 voxels, got shape {tuple(t.shape)}"
        )
    if t.is_complex():
        raise ValueError(f"volume must hold integer labels, got complex dtype {t.dtype}")
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    elif t.is_floating_point():
        if not bool(torch.isfinite(t).all()):
            raise ValueError("volume holds NaN or infinite values")
        if not bool((t == torch.round(t)).all()):
            raise ValueError("volume holds non-integral values; labels must be integers 0, 1, 2")
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi > 2:
        bad = lo if lo < 0 else hi
        raise ValueError(f"labels must be in {{0, 1, 2}} (0 donor, 1 acceptor, 2 mixed), found {bad}")
    return t.to(device=device if device is not None else t.device, dtype=torch.uint8)
