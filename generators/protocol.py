"""The small protocol every generator meets.

A generator maps a batch of *conditions* (a point in its condition space, one row per condition)
to volumes. The design loop only relies on what is declared here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

#: The processing recipe a generator may predict (``Samples.predicted``) and a design reports:
#: blend ratio ``phi``, Flory-Huggins ``chi`` and ``log_time`` = log10 of the annealing time
#: (simulation units). The one list every layer uses.
RECIPE_NAMES: tuple[str, ...] = ("phi", "chi", "log_time")


@dataclass
class Samples:
    """What :meth:`Generator.sample` returns for ``m`` conditions and ``n`` samples each.

    Attributes
    ----------
    volumes : Tensor, uint8, ``(m * n, X, Y, Z)``
        Phase labels (0 donor, 1 acceptor, 2 mixed). Sample ``j`` of condition ``i`` is row
        ``i * n + j``.
    conditions : Tensor, float, ``(m * n, d)``
        The condition each volume was generated at (repeated ``n`` times).
    latents : Tensor or None
        The generator's latent per volume, if it has one.
    predicted : dict[str, Tensor]
        Per-volume predictions (e.g. a feature predictor's descriptors and the recipe
        ``phi``, ``chi``, ``log_time``), each of shape ``(m * n,)``.
    """

    volumes: torch.Tensor
    conditions: torch.Tensor
    latents: torch.Tensor | None = None
    predicted: dict[str, torch.Tensor] = field(default_factory=dict)


@runtime_checkable
class Generator(Protocol):
    """Anything that can be asked for volumes at conditions.

    Attributes
    ----------
    condition_names : tuple of str
        Names of the condition dimensions, in order.
    bounds : Tensor ``(2, d)``
        Lower and upper bound of each condition (e.g. from the training data).
    phases : int
        2 or 3.
    shape : tuple of int
        Shape of one volume.

    Optional attributes the design loop also reads when present:

    inequality_constraints : list of (indices, coefficients, rhs)
        Linear constraints on the conditions in BoTorch's format,
        ``sum_i coefficients[i] * x[indices[i]] >= rhs`` (e.g. ``vol_frac_D + vol_frac_M <= 1``
        is ``([0, 1], [-1.0, -1.0], -1.0)``).
    predicted_names : tuple of str
        Names of ``Samples.predicted`` (e.g. a feature predictor's outputs and the recipe).
    """

    condition_names: tuple[str, ...]
    bounds: torch.Tensor
    phases: int
    shape: tuple[int, ...]

    def sample(self, conditions: torch.Tensor, n: int = 1, seed: int | None = None) -> Samples:
        """Generate ``n`` volumes for each row of ``conditions`` ``(m, d)``."""
        ...
