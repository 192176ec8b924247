"""Samplers in k-diffusion's form: short functions over a denoiser callable and a step grid.

Every sampler has one signature::

    sampler(eps_fn, x, grid, *, context=None, generator=None, **options) -> x_0

- ``x`` ``(B, C, *S)``: the start ``x_T``, drawn by the caller (standard normal noise). Updates run
  in ``x``'s dtype and device (float32, or float64 for reference checks) even if the network runs
  in bf16: its output is cast back before use.
- ``grid`` (:class:`StepGrid`): the decreasing schedule indices to visit, built by the caller
  (:func:`spaced_grid` for DDIM / DPM-Solver++, :func:`unit_grid` for the published loop) with
  the schedule they index.
- ``context`` ``(B, d)`` or ``None``: passed to ``eps_fn`` untouched.
- ``generator``: the ``torch.Generator`` of the per-step noise (stochastic samplers only); the
  same generator state gives the same samples. Noise is drawn on the generator's device, then
  moved, so a seed means the same numbers wherever the network runs.

The denoiser callable (:data:`EpsFn`)
-------------------------------------
``eps_fn(x, t, context) -> eps`` predicts the **noise** (epsilon), not the clean sample:

- ``x`` ``(B, C, *S)``: the noisy latent ``x_i = alpha_i x_0 + sigma_i eps`` at step ``i``;
- ``t`` ``(B,)``: the network time ``i / T`` in ``x``'s dtype (not a sigma);
- ``context`` ``(B, d)`` raw condition values, or ``None`` (rows of NaN mean "unconditional" to
  models trained with condition dropout);
- returns ``eps`` ``(B, C, *S)``.

The model never knows which sampler runs it. Guidance is a wrapper around ``eps_fn`` with the same
contract: :func:`cfg` (classifier-free guidance) and :func:`guide_x0` (edit the predicted clean
latent ``x0 = (x - sigma eps) / alpha``, e.g. with the gradient of a property predictor, and
return the epsilon that predicts the edited ``x0``).

:data:`SAMPLERS` names the registered samplers with their grid rule and options;
:data:`DEFAULT_SAMPLER` is the one default (a model's ``config.sampler`` overrides it);
:func:`sampler_settings` resolves call arguments over a model's defaults.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from generators.diffusion.schedule import DiscreteSchedule, linear_schedule

EpsFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]

#: The published loop runs i = 998 .. 1 (T - 2 for T = 1000).
PAPER_FIRST_STEP = 998

#: The default sampler and its settings; a model's ``config.sampler`` overrides them.
DEFAULT_SAMPLER: dict[str, Any] = {"name": "dpmpp2m", "steps": 20, "guidance": 1.0, "fp_guidance": 0.0}


@dataclass(frozen=True)
class StepGrid:
    """Decreasing schedule indices a sampler visits, from ``x_T``'s step down to 0.

    Attributes
    ----------
    indices : tuple of int
        ``(i_0 > i_1 > ... > i_n = 0)``; each pair ``(i_k, i_{k+1})`` is one network evaluation
        at ``i_k``, so ``len(grid) == n`` evaluations.
    schedule : DiscreteSchedule
        What the indices index.
    """

    indices: tuple[int, ...]
    schedule: DiscreteSchedule

    def __post_init__(self) -> None:
        idx = self.indices
        if len(idx) < 2 or any(a <= b for a, b in zip(idx[:-1], idx[1:])) or idx[-1] < 0 \
                or idx[0] > self.schedule.T - 1:
            raise ValueError(f"a step grid needs strictly decreasing indices in [0, {self.schedule.T - 1}] "
                             f"(at least two), got {list(idx)[:6]}{'...' if len(idx) > 6 else ''}")

    def __len__(self) -> int:
        return len(self.indices) - 1

    def pairs(self) -> list[tuple[int, int]]:
        """``(i, j)`` of every step, ``i > j``."""
        return list(zip(self.indices[:-1], self.indices[1:]))


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


def spaced_grid(schedule: DiscreteSchedule, steps: int | None = None, *, first: int | None = None,
                spacing: str = "logsnr") -> StepGrid:
    """``steps`` (default 20) evaluations from ``first`` (default ``T - 2``) down to 0, spaced by
    :func:`step_indices` (log-SNR by default): the grid of DDIM and DPM-Solver++."""
    first = schedule.T - 2 if first is None else int(first)
    steps = DEFAULT_SAMPLER["steps"] if steps is None else int(steps)
    return StepGrid(tuple(step_indices(steps, first, spacing, schedule)), schedule)


def unit_grid(schedule: DiscreteSchedule, steps: int | None = None) -> StepGrid:
    """Every index from ``steps`` (default ``T - 2``, the published 998) down to 0: the grid of the
    published ancestral loop (``steps`` network evaluations).

    Raises
    ------
    ValueError
        ``steps`` outside ``[1, T - 1]`` (the message names ``first_step``, the published name).
    """
    first = schedule.T - 2 if steps is None else int(steps)
    if not 1 <= first <= schedule.T - 1:
        raise ValueError(f"the first step (first_step) must lie in [1, {schedule.T - 1}], got {first}")
    if first < 0.9 * (schedule.T - 2):
        # the loop starts from pure noise at `first`: a low first step skips the high-noise steps
        warnings.warn(f"the ancestral loop starts from pure noise at step {first} (the published loop starts "
                      f"at {schedule.T - 2}); its steps are every index down to 0, not a spacing: use ddim or "
                      f"dpmpp2m for fewer steps", UserWarning, stacklevel=2)
    return StepGrid(tuple(range(first, -1, -1)), schedule)


def _noise(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # drawn on the generator's device, then moved: identical numbers for a given seed
    gdev = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=gdev, dtype=x.dtype).to(x.device)


def _eps(eps_fn: EpsFn, x: torch.Tensor, i: int, grid: StepGrid, context) -> torch.Tensor:
    t = grid.schedule.model_time(i, x.shape[0], x.device, x.dtype)
    return eps_fn(x, t, context).to(x.dtype)


def ancestral(eps_fn: EpsFn, x: torch.Tensor, grid: StepGrid, *, context: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The published MicroGen3D (DDPM) loop over a unit grid (:func:`unit_grid`).

    For each step ``i -> i - 1``: ``eps = eps_fn(x, i / T, context)`` and
    ``x = oneover_sqrta[i] * (x - eps * mab_over_sqrtmab[i]) + sqrt_beta_t[i] * z`` with
    ``z ~ N(0, I)``, except ``z = 0`` on the last step (``i = 1``): 998 network evaluations from
    ``i = 998``, as published. The buffers are the schedule's (:meth:`DiscreteSchedule.buffers`:
    a model's stored ones when given), cast to ``x``'s dtype.

    Parameters
    ----------
    eps_fn : EpsFn
        Noise prediction (see the module docstring).
    x : Tensor ``(B, C, *S)``
        ``x_T``.
    grid : StepGrid
        Consecutive indices ending at 0.
    context : Tensor ``(B, d)``, optional
    generator : torch.Generator, optional

    Returns
    -------
    Tensor ``(B, C, *S)``
    """
    if any(i - j != 1 for i, j in grid.pairs()) or grid.indices[-1] != 0:
        raise ValueError("the ancestral loop needs a unit grid (every index down to 0): use unit_grid")
    buffers = grid.schedule.buffers()
    for name in ("oneover_sqrta", "mab_over_sqrtmab", "sqrt_beta_t"):
        if name not in buffers:
            raise ValueError(f"the schedule buffers lack {name!r}")
    coef_a, coef_e, coef_z = (buffers[k].to(x.device, x.dtype)
                              for k in ("oneover_sqrta", "mab_over_sqrtmab", "sqrt_beta_t"))
    for i, j in grid.pairs():
        eps = _eps(eps_fn, x, i, grid, context)
        x = coef_a[i] * (x - eps * coef_e[i])
        if j > 0:
            x = x + coef_z[i] * _noise(x, generator)
    return x


def ddim(eps_fn: EpsFn, x: torch.Tensor, grid: StepGrid, *, context: torch.Tensor | None = None,
         generator: torch.Generator | None = None, eta: float = 0.0) -> torch.Tensor:
    """DDIM (Song et al. 2021) over ``grid``: ``eta = 0`` is deterministic, ``eta = 1`` matches
    DDPM's posterior variance (fresh noise from ``generator`` at every step).

    With ``x0 = (x_i - sigma_i eps) / alpha_i`` and
    ``s = eta * sqrt(sigma_j^2 / sigma_i^2 * (1 - alpha_i^2 / alpha_j^2))``:
    ``x_j = alpha_j x0 + sqrt(sigma_j^2 - s^2) eps + s z``. Shapes as :func:`ancestral`.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    sched = grid.schedule
    for i, j in grid.pairs():
        a_i, s_i = sched.alpha_sigma(i)
        a_j, s_j = sched.alpha_sigma(j)
        eps = _eps(eps_fn, x, i, grid, context)
        x0 = (x - s_i * eps) / a_i
        sig = eta * math.sqrt(max(s_j**2 / s_i**2 * (1.0 - a_i**2 / a_j**2), 0.0))
        x = a_j * x0 + math.sqrt(max(s_j**2 - sig**2, 0.0)) * eps
        if sig > 0:
            x = x + sig * _noise(x, generator)
    return x


def dpm_solver_pp_2m(eps_fn: EpsFn, x: torch.Tensor, grid: StepGrid, *, context: torch.Tensor | None = None,
                     generator: torch.Generator | None = None, lower_order_final: bool = True) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022) over ``grid``: multistep, second order, data prediction.

    With ``lambda = log(alpha / sigma)``, ``h = lambda_j - lambda_i`` and the data prediction
    ``D``: ``x_j = (sigma_j / sigma_i) x_i - alpha_j (exp(-h) - 1) D`` where ``D`` is the
    current ``x0`` estimate (first step) or ``(1 + 1/(2r)) x0_i - 1/(2r) x0_prev`` with
    ``r = h_prev / h``. One network call per step; the last step is first order when
    ``lower_order_final`` and the grid has fewer than 15 steps (stabler at few steps).
    Deterministic (``generator`` is accepted for the common signature and unused).
    """
    sched = grid.schedule

    def lam(i: int) -> float:
        a, s = sched.alpha_sigma(i)
        return math.log(a / s)

    pairs = grid.pairs()
    x0_prev, h_prev = None, None
    for k, (i, j) in enumerate(pairs):
        a_i, s_i = sched.alpha_sigma(i)
        a_j, s_j = sched.alpha_sigma(j)
        eps = _eps(eps_fn, x, i, grid, context)
        x0 = (x - s_i * eps) / a_i
        h = lam(j) - lam(i)
        last = k == len(pairs) - 1
        if x0_prev is None or (last and lower_order_final and len(pairs) < 15):
            d = x0
        else:
            r = h_prev / h
            d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * x0_prev
        x = (s_j / s_i) * x + (-a_j * math.expm1(-h)) * d
        x0_prev, h_prev = x0, h
    return x


# ------------------------------------------------------------------ denoiser wrappers (guidance)
def cfg(eps_fn: EpsFn, scale: float, null_context: torch.Tensor) -> EpsFn:
    """Classifier-free guidance: ``eps = eps_u + scale * (eps_c - eps_u)``.

    ``scale = 1`` is the plain conditional model (``eps_fn`` itself is returned), ``0`` the
    unconditional one. Both branches run in one batched call. ``null_context`` is one ``(d,)`` row
    (or ``(B, d)``) the model reads as "no condition".
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


X0Edit = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def guide_x0(eps_fn: EpsFn, schedule: DiscreteSchedule, edit: X0Edit) -> EpsFn:
    """Guidance on the predicted clean latent, as a denoiser wrapper.

    The wrapped callable computes ``eps = eps_fn(x, t, context)``, the predicted clean latent
    ``x0 = (x - sigma_t eps) / alpha_t``, lets ``edit(x0, t, context) -> x0'`` change it (e.g.
    ``x0 - scale * grad`` of a feature-predictor loss), and returns the epsilon that predicts
    ``x0'``: ``(x - alpha_t x0') / sigma_t``. Shapes: ``x``, ``x0``, ``x0'`` ``(B, C, *S)``;
    ``t`` ``(B,)`` (= ``i / T``, see the module docstring). Works with every sampler.
    """

    def guided(x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        eps = eps_fn(x, t, context).to(x.dtype)
        a, s = schedule.alpha_sigma_at(t.to(x.dtype))
        shape = (-1, *[1] * (x.dim() - 1))
        a, s = a.view(shape), s.view(shape)
        x0 = edit((x - s * eps) / a, t, context)
        return (x - a * x0) / s

    return guided


# ------------------------------------------------------------------ registry
@dataclass(frozen=True)
class Sampler:
    """A registered sampler: its update loop, how its grid is built, the options it takes.

    Attributes
    ----------
    run : callable
        ``run(eps_fn, x, grid, *, context, generator, **options)``.
    grid : callable
        ``grid(schedule, steps) -> StepGrid`` (``steps`` network evaluations, None: its default).
    options : tuple of str
        Settings (beyond ``steps``) passed on to ``run``, e.g. ``("eta",)`` for DDIM.
    """

    run: Callable[..., torch.Tensor]
    grid: Callable[[DiscreteSchedule, "int | None"], StepGrid]
    options: tuple[str, ...] = ()


SAMPLERS: dict[str, Sampler] = {
    "ancestral": Sampler(ancestral, unit_grid),
    "ddim": Sampler(ddim, spaced_grid, ("eta",)),
    "dpmpp2m": Sampler(dpm_solver_pp_2m, spaced_grid),
}


def get_sampler(name: str) -> Sampler:
    """The registered sampler called ``name`` (``ancestral``, ``ddim``, ``dpmpp2m``)."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}") from None


def sampler_settings(defaults: Mapping[str, Any] | None = None, name: str | None = None,
                     **given: Any) -> dict[str, Any]:
    """The settings a sampling call runs with: ``name``, ``steps``, ``guidance`` and options.

    Call arguments (``given``; ``None`` means not given) win over ``defaults`` (a model's
    ``config.sampler``), which win over :data:`DEFAULT_SAMPLER`. ``defaults``' ``steps`` and
    options belong to the sampler it names: a call naming another sampler starts from that
    sampler's own defaults (e.g. the published loop's 998 steps). ``guidance`` and ``fp_guidance``
    (descriptor guidance, :mod:`generators.diffusion.guidance`) apply to all.
    """
    defaults = dict(defaults or {})
    configured = defaults.get("name") or DEFAULT_SAMPLER["name"]
    name = name or configured
    get_sampler(name)  # a clear error for an unknown name
    base = {k: DEFAULT_SAMPLER[k] for k in ("guidance", "fp_guidance")}
    if name == DEFAULT_SAMPLER["name"]:
        base.update(DEFAULT_SAMPLER)
    if name == configured:
        base.update(defaults)
    else:
        for key in ("guidance", "fp_guidance"):
            base[key] = defaults.get(key, base[key])
    base.update({k: v for k, v in given.items() if v is not None})
    base["name"] = name
    return base


def run_sampler(settings: Mapping[str, Any], eps_fn: EpsFn, x: torch.Tensor, schedule: DiscreteSchedule, *,
                context: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the sampler ``settings`` name (see :func:`sampler_settings`) from ``x`` on its grid."""
    s = get_sampler(settings["name"])
    grid = s.grid(schedule, settings.get("steps"))
    options = {k: settings[k] for k in s.options if settings.get(k) is not None}
    return s.run(eps_fn, x, grid, context=context, generator=generator, **options)


def start_noise(shape: Sequence[int], generator: torch.Generator | None, device: torch.device | str,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``x_T ~ N(0, I)`` of ``shape``, drawn on the generator's device and moved to ``device``."""
    gdev = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=gdev, dtype=dtype).to(device)
