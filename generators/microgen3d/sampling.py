"""The published MicroGen3D ancestral (DDPM) sampler, as a plain function over an epsilon model."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

EpsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def ancestral_sample(
    eps_fn: EpsFn,
    x: torch.Tensor,
    sched_buffers: Mapping[str, torch.Tensor],
    context: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    first_step: int | None = None,
) -> torch.Tensor:
    """Run the published reverse diffusion loop from ``x`` (= x_T, standard normal noise).

    For ``i = T - 2`` down to 1: ``eps = eps_fn(x, i / T, context)`` and
    ``x = oneover_sqrta[i] * (x - eps * mab_over_sqrtmab[i]) + sqrt_beta_t[i] * z`` with
    ``z ~ N(0, I)``, except ``z = 0`` at ``i = 1`` (998 network evaluations for T = 1000).

    Parameters
    ----------
    eps_fn : callable
        ``eps_fn(x, t, context) -> eps`` with ``t`` a ``(B,)`` tensor of ``step / T``.
    x : Tensor ``(B, L, x, y, z)``
        Starting noise.
    sched_buffers : mapping
        At least ``oneover_sqrta``, ``mab_over_sqrtmab``, ``sqrt_beta_t`` (each ``(T,)``).
    context : Tensor ``(B, d)``
        Conditions, passed through to ``eps_fn``.
    generator : torch.Generator, optional
        Source of the per-step noise (on ``x``'s device).
    first_step : int, optional
        Index to start from (default ``T - 2``, as published); smaller values give a truncated,
        lower-quality loop that is only useful for smoke tests.

    Returns
    -------
    Tensor
        The final latent ``x_0``, same shape as ``x``.
    """
    for name in ("oneover_sqrta", "mab_over_sqrtmab", "sqrt_beta_t"):
        if name not in sched_buffers:
            raise ValueError(f"sched_buffers lacks {name!r}")
    T = int(sched_buffers["oneover_sqrta"].shape[0])
    start = T - 2 if first_step is None else int(first_step)
    if not 1 <= start <= T - 1:
        raise ValueError(f"first_step must lie in [1, {T - 1}], got {start}")
    coef_a = sched_buffers["oneover_sqrta"].to(x.device, x.dtype)
    coef_e = sched_buffers["mab_over_sqrtmab"].to(x.device, x.dtype)
    coef_z = sched_buffers["sqrt_beta_t"].to(x.device, x.dtype)
    b = x.shape[0]
    for i in range(start, 0, -1):
        t = torch.full((b,), i / T, dtype=x.dtype, device=x.device)
        eps = eps_fn(x, t, context)
        x = coef_a[i] * (x - eps * coef_e[i])
        if i > 1:
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + coef_z[i] * z
    return x
