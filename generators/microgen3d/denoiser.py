"""The latent denoiser as stored in ``ddpm.pt``: 7 schedule buffers at top level plus ``nn_model``."""

from __future__ import annotations

import torch
from torch import nn

from generators.diffusion.schedule import SCHEDULE_NAMES, ddpm_schedules
from generators.microgen3d.unet import ContextUnet

__all__ = ["SCHEDULE_NAMES", "Denoiser", "ddpm_schedules"]


class Denoiser(nn.Module):
    """Epsilon-prediction network with its DDPM schedule, in the published ``ddpm.pt`` layout.

    Call as ``denoiser(x, t, context)`` with ``x`` ``(B, L, x, y, z)``, ``t = step / T`` a scalar or
    ``(B,)`` tensor, and ``context`` ``(B, d)`` (or ``(d,)``, broadcast over the batch).

    Parameters
    ----------
    latent_ch : int
        Latent channels ``L``.
    n_feat : int
        U-Net base width (512 in the paper).
    context_dim : int
        Number of conditions.
    T, beta1, beta2 : int, float, float
        Diffusion schedule (1000, 1e-4, 0.02 in the paper).
    """

    def __init__(
        self,
        latent_ch: int = 4,
        n_feat: int = 512,
        context_dim: int = 3,
        T: int = 1000,
        beta1: float = 1e-4,
        beta2: float = 0.02,
    ) -> None:
        super().__init__()
        for name, value in ddpm_schedules(beta1, beta2, T).items():
            self.register_buffer(name, value)
        self.nn_model = ContextUnet(latent_ch, n_feat, context_dim)
        self.T = int(T)

    @property
    def context_dim(self) -> int:
        return self.nn_model.context_dim

    def schedule(self) -> dict[str, torch.Tensor]:
        """The 7 schedule buffers by name (views, on the module's device)."""
        return {name: getattr(self, name) for name in SCHEDULE_NAMES}

    def forward(self, x: torch.Tensor, t: torch.Tensor | float, context: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[1] != self.nn_model.in_ch:
            raise ValueError(
                f"denoiser expects (B, {self.nn_model.in_ch}, x, y, z) latents, got {tuple(x.shape)}"
            )
        if any(s % 4 for s in x.shape[2:]):
            raise ValueError(f"latent sizes {tuple(x.shape[2:])} must be divisible by 4")
        b = x.shape[0]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1)
        if t.numel() == 1:
            t = t.expand(b)
        if t.numel() != b:
            raise ValueError(f"t must be a scalar or have one entry per sample ({b}), got {t.numel()}")
        context = torch.as_tensor(context, dtype=x.dtype, device=x.device)
        if context.ndim == 1:
            context = context.unsqueeze(0).expand(b, -1)
        if context.ndim != 2 or context.shape[1] != self.context_dim or context.shape[0] not in (1, b):
            raise ValueError(
                f"context must be ({b}, {self.context_dim}) or ({self.context_dim},), "
                f"got {tuple(context.shape)}"
            )
        context = context.expand(b, -1)
        return self.nn_model(x, t.reshape(b, 1), context)
