"""Samplers: short functions over a noise-prediction callable and a discrete schedule.

Every sampler takes ``eps_fn(x, t, context) -> eps`` where ``x`` is the noisy latent
``(B, C, ...)``, ``t`` the network time ``i / T`` as a float ``(B,)`` tensor and ``context`` the
``(B, d)`` condition batch (or ``None``). The model never knows which sampler runs it
(k-diffusion style). Updates are computed in ``dtype`` (float32 by default, float64 allowed) even
if the network runs in bf16: its output is cast back before use.

Seeds: pass a ``torch.Generator``; the same generator state gives the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from generators.diffusion.schedule import DiscreteSchedule, linear_schedule

EpsFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]

#: The published loop runs i = 998 .. 1.
PAPER_FIRST_STEP = 998


def _noise(shape, generator, device, dtype) -> torch.Tensor:
    # drawn on the generator's device, then moved: identical numbers for a given seed
    gdev = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=gdev, dtype=dtype).to(device)


def _start(x_init, shape, generator, device, dtype) -> torch.Tensor:
    # x_T: the given start, or fresh N(0, I) noise
    return x_init.to(device, dtype) if x_init is not None else _noise(shape, generator, device, dtype)


def _eps(eps_fn: EpsFn, x, i, schedule, context, dtype) -> torch.Tensor:
    t = schedule.model_time(i, x.shape[0], x.device)
    return eps_fn(x, t, context).to(dtype)


def step_indices(
    steps: int, first: int = PAPER_FIRST_STEP, spacing: str = "logsnr", schedule: DiscreteSchedule | None = None
) -> list[int]:
    """Decreasing integer indices from ``first`` down to ``0`` (at most ``steps + 1`` of them).

    ``spacing="time"`` spaces them uniformly in the index; ``"logsnr"`` uniformly in
    ``lambda = log(alpha / sigma)`` (rounded to the nearest index, duplicates dropped, so a very
    large ``steps`` may give fewer), which resolves the low-noise end far better at few steps.

    Raises
    ------
    ValueError
        If ``steps`` is not in ``1 .. first`` or ``spacing`` is unknown.
    """
    if not 1 <= steps <= first:
        raise ValueError(f"steps must be between 1 and {first}, got {steps}")
    if spacing == "time":
        return torch.linspace(first, 0, steps + 1, dtype=torch.float64).round().long().tolist()
    if spacing != "logsnr":
        raise ValueError(f"unknown spacing {spacing!r}; choose 'logsnr' or 'time'")
    ab = (schedule or linear_schedule()).alphabar[: first + 1]
    lam = 0.5 * (torch.log(ab) - torch.log1p(-ab))  # increasing as the index falls
    grid = torch.linspace(float(lam[first]), float(lam[0]), steps + 1, dtype=torch.float64)
    idx = (lam.view(1, -1) - grid.view(-1, 1)).abs().argmin(dim=1).tolist()
    out: list[int] = []
    for i in idx:
        if not out or i < out[-1]:
            out.append(int(i))
    if out[-1] != 0:
        out.append(0)
    return out


def ancestral_loop(
    eps_fn: EpsFn,
    x: torch.Tensor,
    buffers: Mapping[str, torch.Tensor],
    context: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    *,
    first: int | None = None,
    time_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The published reverse diffusion loop from ``x`` (= x_T) over precomputed schedule buffers.

    For ``i = first`` down to 1: ``eps = eps_fn(x, i / T, context)`` and
    ``x = oneover_sqrta[i] * (x - eps * mab_over_sqrtmab[i]) + sqrt_beta_t[i] * z`` with
    ``z ~ N(0, I)``, except ``z = 0`` at ``i = 1`` (998 network evaluations for T = 1000 and
    ``first = T - 2``, as published). The update runs in ``x``'s dtype and device: the buffers
    are cast to it, and so is the network output.

    Parameters
    ----------
    eps_fn : callable
        ``eps_fn(x, t, context) -> eps`` with ``t`` a ``(B,)`` tensor of ``step / T``.
    x : Tensor ``(B, C, ...)``
        Starting noise.
    buffers : mapping
        At least ``oneover_sqrta``, ``mab_over_sqrtmab``, ``sqrt_beta_t`` (each ``(T,)``).
    context : Tensor ``(B, d)``, optional
        Conditions, passed through to ``eps_fn``.
    generator : torch.Generator, optional
        Source of the per-step noise (drawn on its device, then moved to ``x``'s).
    first : int, optional
        Index to start from (default ``T - 2``, as published).
    time_dtype : torch.dtype, optional
        dtype of the time input ``t`` (default ``x``'s).

    Returns
    -------
    Tensor
        The final latent ``x_0``, same shape as ``x``.

    Raises
    ------
    ValueError
        If a buffer is missing or ``first`` is not in ``[1, T - 1]``.
    """
    for name in ("oneover_sqrta", "mab_over_sqrtmab", "sqrt_beta_t"):
        if name not in buffers:
            raise ValueError(f"the schedule buffers lack {name!r}")
    T = int(buffers["oneover_sqrta"].shape[0])
    start = T - 2 if first is None else int(first)
    if not 1 <= start <= T - 1:
        raise ValueError(f"the first step (first_step) must lie in [1, {T - 1}], got {start}")
    dev, dt = x.device, x.dtype
    coef_a = buffers["oneover_sqrta"].to(dev, dt)
    coef_e = buffers["mab_over_sqrtmab"].to(dev, dt)
    coef_z = buffers["sqrt_beta_t"].to(dev, dt)
    b = x.shape[0]
    for i in range(start, 0, -1):
        t = torch.full((b,), i / T, dtype=time_dtype or dt, device=dev)
        eps = eps_fn(x, t, context).to(dt)
        x = coef_a[i] * (x - eps * coef_e[i])
        if i > 1:
            x = x + coef_z[i] * _noise(x.shape, generator, dev, dt)
    return x


def ancestral(
    eps_fn: EpsFn,
    shape: tuple[int, ...],
    context: torch.Tensor | None = None,
    *,
    schedule: DiscreteSchedule | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    first: int = PAPER_FIRST_STEP,
    x_init: torch.Tensor | None = None,
) -> torch.Tensor:
    """MicroGen3D's published DDPM loop (998 network calls with ``first = 998``).

    ``x ~ N(0, I)``, then :func:`ancestral_loop` over ``schedule``'s buffers (the network time
    input is float32, as :meth:`DiscreteSchedule.model_time` gives it).
    """
    sched = schedule or linear_schedule()
    x = _start(x_init, shape, generator, device, dtype)
    return ancestral_loop(eps_fn, x, sched.buffers(), context, generator, first=first, time_dtype=torch.float32)


def ddim(
    eps_fn: EpsFn,
    shape: tuple[int, ...],
    context: torch.Tensor | None = None,
    *,
    steps: int = 50,
    eta: float = 0.0,
    schedule: DiscreteSchedule | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    first: int = PAPER_FIRST_STEP,
    spacing: str = "logsnr",
    x_init: torch.Tensor | None = None,
) -> torch.Tensor:
    """DDIM (Song et al. 2021) on ``steps`` time-uniform steps; ``eta = 0`` is deterministic,
    ``eta = 1`` matches DDPM's posterior variance."""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    sched = schedule or linear_schedule()
    idx = step_indices(steps, first, spacing, sched)
    x = _start(x_init, shape, generator, device, dtype)
    for i, j in zip(idx[:-1], idx[1:]):
        a_i, s_i = sched.alpha_sigma(i)
        a_j, s_j = sched.alpha_sigma(j)
        eps = _eps(eps_fn, x, i, sched, context, dtype)
        x0 = (x - s_i * eps) / a_i
        sig = eta * math.sqrt(max(s_j**2 / s_i**2 * (1.0 - a_i**2 / a_j**2), 0.0))
        x = a_j * x0 + math.sqrt(max(s_j**2 - sig**2, 0.0)) * eps
        if sig > 0:
            x = x + sig * _noise(x.shape, generator, device, dtype)
    return x


def dpm_solver_pp_2m(
    eps_fn: EpsFn,
    shape: tuple[int, ...],
    context: torch.Tensor | None = None,
    *,
    steps: int = 20,
    schedule: DiscreteSchedule | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    first: int = PAPER_FIRST_STEP,
    lower_order_final: bool = True,
    spacing: str = "logsnr",
    x_init: torch.Tensor | None = None,
) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022): multistep, second order, data prediction.

    With ``lambda = log(alpha / sigma)``, ``h = lambda_j - lambda_i`` and the data prediction
    ``D``: ``x_j = (sigma_j / sigma_i) x_i - alpha_j (exp(-h) - 1) D`` where ``D`` is the
    current ``x0`` estimate (first step) or ``(1 + 1/(2r)) x0_i - 1/(2r) x0_prev`` with
    ``r = h_prev / h``. ``steps`` network calls; the last step is first order when
    ``lower_order_final`` and ``steps < 15`` (stabler at few steps).
    """
    sched = schedule or linear_schedule()
    idx = step_indices(steps, first, spacing, sched)
    x = _start(x_init, shape, generator, device, dtype)

    def lam(i: int) -> float:
        a, s = sched.alpha_sigma(i)
        return math.log(a / s)

    x0_prev, h_prev = None, None
    for k, (i, j) in enumerate(zip(idx[:-1], idx[1:])):
        a_i, s_i = sched.alpha_sigma(i)
        a_j, s_j = sched.alpha_sigma(j)
        eps = _eps(eps_fn, x, i, sched, context, dtype)
        x0 = (x - s_i * eps) / a_i
        h = lam(j) - lam(i)
        last = k == len(idx) - 2
        if x0_prev is None or (last and lower_order_final and len(idx) < 16):
            d = x0
        else:
            r = h_prev / h
            d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * x0_prev
        x = (s_j / s_i) * x + (-a_j * math.expm1(-h)) * d
        x0_prev, h_prev = x0, h
    return x


def cfg(eps_fn: EpsFn, scale: float, null_context: torch.Tensor) -> EpsFn:
    """Classifier-free guidance: ``eps = eps_u + scale * (eps_c - eps_u)``.

    ``scale = 1`` is the plain conditional model, ``0`` the unconditional one. Both branches run
    in one batched call. ``null_context`` is one ``(d,)`` row (or ``(B, d)``) the model reads as
    "no condition".
    """
    if scale == 1.0:
        return eps_fn

    def guided(x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        if context is None:
            raise ValueError("classifier-free guidance needs a context")
        null = null_context.to(context.device, context.dtype).expand_as(context)
        out = eps_fn(torch.cat([x, x]), torch.cat([t, t]), torch.cat([context, null]))
        eps_c, eps_u = out.chunk(2)
        return eps_u + scale * (eps_c - eps_u)

    return guided


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "ancestral": ancestral,
    "ddim": ddim,
    "dpmpp2m": dpm_solver_pp_2m,
}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    """The sampler called ``name`` (``ancestral``, ``ddim``, ``dpmpp2m``)."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}") from None
