"""The published MicroGen3D ancestral (DDPM) loop over an epsilon model and the 7 stored buffers.

The loop is :func:`generators.diffusion.samplers.ancestral`; this is its entry point in the
published terms (the buffers as stored in ``ddpm.pt``, ``first_step``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from generators.diffusion.samplers import ancestral, unit_grid
from generators.diffusion.schedule import DiscreteSchedule

EpsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def ancestral_sample(
    eps_fn: EpsFn,
    x: torch.Tensor,
    sched_buffers: Mapping[str, torch.Tensor],
    context: torch.Tensor | None,
    generator: torch.Generator | None = None,
    *,
    first_step: int | None = None,
) -> torch.Tensor:
    """Run the published reverse diffusion loop from ``x`` (= x_T, standard normal noise).

    For ``i = first_step`` (default ``T - 2``) down to 1: ``eps = eps_fn(x, i / T, context)`` and
    ``x = oneover_sqrta[i] * (x - eps * mab_over_sqrtmab[i]) + sqrt_beta_t[i] * z`` with
    ``z ~ N(0, I)``, except ``z = 0`` at ``i = 1`` (998 network evaluations for T = 1000).

    Parameters
    ----------
    eps_fn : callable
        ``eps_fn(x, t, context) -> eps`` with ``t`` a ``(B,)`` tensor of ``step / T`` (``x``'s dtype).
    x : Tensor ``(B, L, x, y, z)``
        Starting noise.
    sched_buffers : mapping
        At least ``oneover_sqrta``, ``mab_over_sqrtmab``, ``sqrt_beta_t`` (each ``(T,)``).
    context : Tensor ``(B, d)``
        Conditions, passed through to ``eps_fn``.
    generator : torch.Generator, optional
        Source of the per-step noise.
    first_step : int, optional
        Index to start from (default ``T - 2``, as published); smaller values give a truncated,
        lower-quality loop that is only useful for smoke tests.

    Returns
    -------
    Tensor
        The final latent ``x_0``, same shape as ``x``.
    """
    schedule = DiscreteSchedule.from_buffers(sched_buffers)
    return ancestral(eps_fn, x, unit_grid(schedule, first_step), context=context, generator=generator)
