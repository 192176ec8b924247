"""The one rule between phase labels and the paper family's one-channel grey volumes.

Labels: 0 donor, 1 acceptor, 2 mixed. Grey levels: donor 0, mixed 0.5, acceptor 1 (the mixed
phase is a blend of the two, so it sits between them). Two-phase volumes are the published 0/1
encoding and are decoded by the published threshold 0.5; three-phase volumes decode to the
nearest grey level (boundaries 0.25 and 0.75), so ``from_grey(to_grey(labels)) == labels``.
"""

from __future__ import annotations

import torch

#: Grey level of label 0 (donor), 1 (acceptor) and 2 (mixed).
GREY_LEVELS = (0.0, 1.0, 0.5)


def to_grey(labels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Labels ``(...)`` (0, 1, 2) -> grey values ``(...)`` in ``dtype`` (0, 1, 0.5).

    Raises
    ------
    ValueError
        A label outside 0, 1, 2.
    """
    lab = torch.as_tensor(labels)
    if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) > 2):
        raise ValueError(f"labels must be 0 (donor), 1 (acceptor) or 2 (mixed), got values in "
                         f"[{int(lab.min())}, {int(lab.max())}]")
    levels = torch.tensor(GREY_LEVELS, dtype=dtype, device=lab.device)
    return levels[lab.long()]


def binarize(volume: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """The published two-phase decoding: ``uint8(volume > threshold)`` (0 donor, 1 acceptor)."""
    return (volume > threshold).to(torch.uint8)


def three_levels(volume: torch.Tensor) -> torch.Tensor:
    """Three-phase decoding of grey values to the nearest level: ``< 0.25`` -> 0 (donor),
    ``> 0.75`` -> 1 (acceptor), otherwise 2 (mixed). ``uint8``, same shape."""
    out = torch.full(volume.shape, 2, dtype=torch.uint8, device=volume.device)
    out[volume < 0.25] = 0
    out[volume > 0.75] = 1
    return out


def from_grey(volume: torch.Tensor, phases: int) -> torch.Tensor:
    """Grey volume -> uint8 labels: :func:`binarize` for 2 phases, :func:`three_levels` for 3."""
    if phases == 2:
        return binarize(volume)
    if phases == 3:
        return three_levels(volume)
    raise ValueError(f"phases must be 2 or 3, got {phases!r}")
