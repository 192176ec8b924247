"""Descriptor guidance: steer every sampler step toward the requested condition with the feature
predictor's gradient on the predicted clean latent.

At step ``t`` the denoiser's noise estimate ``eps`` gives the predicted clean latent

    x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t).

The feature predictor (FP) reads the conditions off ``x0``; the loss is half the squared error of
the condition outputs in standardised units, ``L(x0) = 1/2 sum_k (FP_k(x0) - c_k)^2``. Guidance moves
each sample's ``x0`` down that loss by a Gauss-Newton step along the gradient,

    x0' = x0 - scale * 2 L / |grad L|^2 * grad L     (``inner`` times),

which, for an FP linear near ``x0``, removes the fraction ``scale`` of the FP's error on the
conditions (``scale = 1`` lands on them; the step needs no tuning to the latent's size). It returns
the noise estimate consistent with ``x0'``:

    eps' = (x_t - sqrt(abar_t) x0') / sqrt(1 - abar_t).

So any sampler written over an ``eps(x, t, context)`` callable runs guided without knowing it
(:func:`generators.diffusion.samplers.guide_x0` does the ``x0`` bookkeeping). The gradient does
not pass through the denoiser, as in score-distillation guidance: one FP backward per step. Rows
whose condition is NaN (unconditional) are left alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from generators.diffusion.samplers import guide_x0

Eps = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def condition_columns(fp_names, condition_names) -> list[int]:
    """Index of each condition among the FP outputs (a condition the FP does not predict is an error)."""
    fp_names = list(fp_names)
    missing = [n for n in condition_names if n not in fp_names]
    if missing:
        raise ValueError(f"descriptor guidance needs the feature predictor to predict {missing}")
    return [fp_names.index(n) for n in condition_names]


def fp_guided(eps_fn: Eps, model, schedule, scale: float, inner: int = 1) -> Eps:
    """Wrap ``eps_fn`` with descriptor guidance (an ``x0`` edit run by
    :func:`generators.diffusion.samplers.guide_x0`).

    Parameters
    ----------
    eps_fn : callable
        ``eps(x (B, *latent), t (B,) = i / T, context (B, d) raw conditions) -> (B, *latent)``.
    model : latent model
        Has ``predict_normalised(latent) -> (B, n_outputs)`` (standardised FP outputs), ``y_mean``,
        ``y_std`` and ``config`` (condition and FP output names).
    schedule : DiscreteSchedule
        The sampler's schedule.
    scale : float
        Fraction of the FP's error on the conditions removed per step (0 = no guidance).
    inner : int
        Gauss-Newton steps per sampler step.
    """
    if scale < 0 or inner < 1:
        raise ValueError(f"descriptor guidance needs scale >= 0 and inner >= 1, got {scale}, {inner}")
    if scale == 0:
        return eps_fn
    cols = condition_columns(model.config.fp_outputs.names, model.config.conditions.names)

    def edit(x0: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        view = (-1,) + (1,) * (x0.dim() - 1)
        target = (context.float() - model.y_mean[cols]) / model.y_std[cols]
        active = torch.isfinite(target).all(dim=1)
        target = torch.nan_to_num(target)
        with torch.inference_mode(False), torch.enable_grad():
            target, active = target.clone(), active.clone()  # normal tensors: autograd may save them
            z = x0.detach().float().clone()
            for _ in range(inner):
                z.requires_grad_(True)
                pred = model.predict_normalised(z)[:, cols]
                loss = 0.5 * ((pred - target) ** 2).sum(dim=1)  # (B,): rows are independent
                (grad,) = torch.autograd.grad(loss.sum(), z)
                norm2 = grad.flatten(1).pow(2).sum(dim=1).clamp_min(1e-12)
                step = (scale * 2 * loss.detach() / norm2 * active).view(view)
                z = (z - step * grad).detach()
        return z.to(x0.dtype)

    return guide_x0(eps_fn, schedule, edit)
