"""The discrete DDPM noise schedule shared by every sampler, by training and by MicroGen3D.

Conventions (as in MicroGen3D): linear betas from ``beta_1 = 1e-4`` to ``beta_T = 0.02`` over
``T = 1000`` steps, step index ``i`` in ``0 .. T-1``, ``alphabar[i] = prod_{j<=i} (1 - beta[j])``
(by a cumulative sum of logs), a noisy latent ``x_i = sqrt(alphabar[i]) x_0 + sqrt(1 - alphabar[i]) eps``
and the network time input ``t = i / T`` (a float in ``[0, 1)``).

:func:`ddpm_schedules` builds the 7 buffers exactly as the published ``ddpm.pt`` stores them
(checked against the golden ``sched``); :class:`DiscreteSchedule` is the float64 view the samplers
use, built by the same formulas (:func:`schedule_buffers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

#: The published buffer names, in ``ddpm.pt`` order.
SCHEDULE_NAMES: tuple[str, ...] = (
    "alpha_t",
    "oneover_sqrta",
    "sqrt_beta_t",
    "alphabar_t",
    "sqrtab",
    "sqrtmab",
    "mab_over_sqrtmab",
)


def schedule_buffers(beta_t: torch.Tensor) -> dict[str, torch.Tensor]:
    """The 7 DDPM buffers of a ``(T,)`` tensor of betas, in its dtype.

    ``alpha_t = 1 - beta_t``, ``alphabar_t = exp(cumsum(log(alpha_t)))``,
    ``mab_over_sqrtmab = (1 - alpha_t) / sqrt(1 - alphabar_t)``; keys in :data:`SCHEDULE_NAMES` order.
    """
    alpha_t = 1 - beta_t
    alphabar_t = torch.cumsum(torch.log(alpha_t), dim=0).exp()
    sqrtmab = torch.sqrt(1 - alphabar_t)
    return {
        "alpha_t": alpha_t,
        "oneover_sqrta": 1 / torch.sqrt(alpha_t),
        "sqrt_beta_t": torch.sqrt(beta_t),
        "alphabar_t": alphabar_t,
        "sqrtab": torch.sqrt(alphabar_t),
        "sqrtmab": sqrtmab,
        "mab_over_sqrtmab": (1 - alpha_t) / sqrtmab,
    }


def ddpm_schedules(
    beta1: float = 1e-4, beta2: float = 0.02, T: int = 1000, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """The DDPM schedule of the published model, each entry of shape ``(T,)``.

    ``beta_t`` is ``linspace(beta1, beta2, T)``; ``alphabar_t = exp(cumsum(log(1 - beta_t)))``.

    Parameters
    ----------
    beta1, beta2 : float
        First and last noise variance, ``0 < beta1 < beta2 < 1``.
    T : int
        Number of diffusion steps.
    dtype : torch.dtype
        Precision the schedule is computed in (the published buffers are float32).

    Returns
    -------
    dict
        ``alpha_t, oneover_sqrta, sqrt_beta_t, alphabar_t, sqrtab, sqrtmab, mab_over_sqrtmab``
        (in that order), where ``mab_over_sqrtmab = (1 - alpha_t) / sqrt(1 - alphabar_t)``.
    """
    if not 0.0 < beta1 < beta2 < 1.0:
        raise ValueError(f"need 0 < beta1 < beta2 < 1, got beta1={beta1}, beta2={beta2}")
    if int(T) != T or T < 2:
        raise ValueError(f"T must be an integer >= 2, got {T!r}")
    return schedule_buffers(torch.linspace(beta1, beta2, int(T), dtype=dtype))


@dataclass(frozen=True)
class DiscreteSchedule:
    """A discrete variance-preserving schedule held in float64.

    Attributes
    ----------
    betas : Tensor ``(T,)``
        Per-step noise variances.
    alphabar : Tensor ``(T,)``
        Cumulative signal fraction ``prod (1 - beta)``.
    stored : mapping, optional
        The 7 buffers as a model stores them (e.g. the float32 ones of a published ``ddpm.pt``);
        :meth:`buffers` returns them instead of recomputing, so the ancestral loop runs on exactly
        the numbers the model was published with.
    """

    betas: torch.Tensor
    alphabar: torch.Tensor
    stored: Mapping[str, torch.Tensor] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_buffers(cls, buffers: Mapping[str, torch.Tensor]) -> "DiscreteSchedule":
        """The schedule of stored buffers (at least ``sqrt_beta_t``; kept as :attr:`stored`)."""
        if "sqrt_beta_t" not in buffers:
            raise ValueError("the schedule buffers lack 'sqrt_beta_t'")
        betas = buffers["sqrt_beta_t"].detach().double().cpu() ** 2
        alphabar = buffers["alphabar_t"].detach().double().cpu() if "alphabar_t" in buffers \
            else torch.cumprod(1 - betas, 0)
        return cls(betas=betas, alphabar=alphabar, stored=dict(buffers))

    @property
    def T(self) -> int:  # noqa: N802 - the paper's name
        return int(self.betas.shape[0])

    def alpha_sigma(self, i: int) -> tuple[float, float]:
        """``(sqrt(alphabar_i), sqrt(1 - alphabar_i))``; ``i = -1`` means clean data ``(1, 0)``."""
        if i < 0:
            return 1.0, 0.0
        ab = float(self.alphabar[i])
        return ab**0.5, (1.0 - ab) ** 0.5

    def alpha_sigma_at(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(alpha, sigma)`` at network times ``t = i / T`` ``(B,)``, each ``(B,)`` in ``t``'s dtype."""
        i = (t.detach().double().cpu() * self.T).round().long().clamp(0, self.T - 1)
        ab = self.alphabar[i]
        return ab.sqrt().to(t.device, t.dtype), (1 - ab).sqrt().to(t.device, t.dtype)

    def model_time(self, i: int, batch: int, device: torch.device | str,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The network's time input ``i / T`` as a ``(batch,)`` tensor (float32 by default)."""
        return torch.full((batch,), i / self.T, dtype=dtype, device=device)

    def buffers(self) -> dict[str, torch.Tensor]:
        """The 7 MicroGen3D buffers (:data:`SCHEDULE_NAMES`): the stored ones when given, else
        computed from these betas in float64."""
        if self.stored is not None:
            return dict(self.stored)
        return schedule_buffers(self.betas)


def linear_schedule(beta_1: float = 1e-4, beta_T: float = 0.02, T: int = 1000) -> DiscreteSchedule:
    """The paper's linear schedule (``linspace(beta_1, beta_T, T)``), in float64.

    Raises
    ------
    ValueError
        If the betas are not in ``(0, 1)`` or ``T < 2``.
    """
    if T < 2:
        raise ValueError(f"schedule needs T >= 2 steps, got {T}")
    if not (0.0 < beta_1 < 1.0 and 0.0 < beta_T < 1.0):
        raise ValueError(f"betas must lie in (0, 1), got {beta_1} and {beta_T}")
    betas = torch.linspace(beta_1, beta_T, T, dtype=torch.float64)
    return DiscreteSchedule(betas=betas, alphabar=schedule_buffers(betas)["alphabar_t"])
