"""The discrete DDPM noise schedule shared by every sampler and by training.

Conventions (as in MicroGen3D): linear betas from ``beta_1 = 1e-4`` to ``beta_T = 0.02`` over
``T = 1000`` steps, step index ``i`` in ``0 .. T-1``, ``alphabar[i] = prod_{j<=i} (1 - beta[j])``
(by a cumulative sum of logs), a noisy latent ``x_i = sqrt(alphabar[i]) x_0 + sqrt(1 - alphabar[i]) eps``
and the network time input ``t = i / T`` (a float in ``[0, 1)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DiscreteSchedule:
    """A discrete variance-preserving schedule held in float64.

    Attributes
    ----------
    betas : Tensor ``(T,)``
        Per-step noise variances.
    alphabar : Tensor ``(T,)``
        Cumulative signal fraction ``prod (1 - beta)``.
    """

    betas: torch.Tensor
    alphabar: torch.Tensor

    @property
    def T(self) -> int:  # noqa: N802 - the paper's name
        return int(self.betas.shape[0])

    def alpha_sigma(self, i: int) -> tuple[float, float]:
        """``(sqrt(alphabar_i), sqrt(1 - alphabar_i))``; ``i = -1`` means clean data ``(1, 0)``."""
        if i < 0:
            return 1.0, 0.0
        ab = float(self.alphabar[i])
        return ab**0.5, (1.0 - ab) ** 0.5

    def model_time(self, i: int, batch: int, device: torch.device | str) -> torch.Tensor:
        """The network's time input ``i / T`` as a float32 ``(batch,)`` tensor."""
        return torch.full((batch,), i / self.T, dtype=torch.float32, device=device)

    def buffers(self) -> dict[str, torch.Tensor]:
        """The 7 MicroGen3D buffers (alpha_t, oneover_sqrta, sqrt_beta_t, alphabar_t, sqrtab,
        sqrtmab, mab_over_sqrtmab), float64."""
        a = 1.0 - self.betas
        ab = self.alphabar
        return {
            "alpha_t": a,
            "oneover_sqrta": 1.0 / a.sqrt(),
            "sqrt_beta_t": self.betas.sqrt(),
            "alphabar_t": ab,
            "sqrtab": ab.sqrt(),
            "sqrtmab": (1.0 - ab).sqrt(),
            "mab_over_sqrtmab": (1.0 - a) / (1.0 - ab).sqrt(),
        }


def linear_schedule(beta_1: float = 1e-4, beta_T: float = 0.02, T: int = 1000) -> DiscreteSchedule:
    """The paper's linear schedule (``linspace(beta_1, beta_T, T)``).

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
    alphabar = torch.exp(torch.cumsum(torch.log1p(-betas), dim=0))
    return DiscreteSchedule(betas=betas, alphabar=alphabar)
