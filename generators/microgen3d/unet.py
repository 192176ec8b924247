"""The MicroGen3D denoiser network: a two-level 3-D conditional U-Net (``nn_model`` in ``ddpm.pt``).

Inputs are latents ``(B, L, x, y, z)`` with every spatial size divisible by 4, the diffusion time as
``t = step / T`` (a plain scalar embedding, not sinusoidal) and the raw condition vector.
The output is the predicted noise epsilon, the same shape as the latent.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualConvBlock(nn.Module):
    """Two ``Conv3d(k3) -> InstanceNorm3d (no affine) -> GELU`` layers with a scaled residual.

    ``out = (x + x2) / 1.414`` when ``in_ch == out_ch``, else ``(x1 + x2) / 1.414``.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.same_channels = in_ch == out_ch
        self.conv1 = nn.Sequential(nn.Conv3d(in_ch, out_ch, 3, 1, 1), nn.InstanceNorm3d(out_ch), nn.GELU())
        self.conv2 = nn.Sequential(nn.Conv3d(out_ch, out_ch, 3, 1, 1), nn.InstanceNorm3d(out_ch), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.conv1(x)
        x2 = self.conv2(x1)
        return ((x if self.same_channels else x1) + x2) / 1.414


class UnetDown(nn.Module):
    """``ResidualConvBlock`` then ``MaxPool3d(2)``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.model = nn.Sequential(ResidualConvBlock(in_ch, out_ch), nn.MaxPool3d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class UnetUp(nn.Module):
    """``ConvTranspose3d(k2, s2)`` on ``cat(x, skip)`` then two ``ResidualConvBlock``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.model = nn.Sequential(
            nn.ConvTranspose3d(in_ch, out_ch, kernel_size=2, stride=2),
            ResidualConvBlock(out_ch, out_ch),
            ResidualConvBlock(out_ch, out_ch),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat((x, skip), dim=1))


class EmbedFC(nn.Module):
    """``Linear(in, e) -> GELU -> Linear(e, e)`` on a ``(B, in)`` vector."""

    def __init__(self, in_dim: int, emb_dim: int) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.model = nn.Sequential(nn.Linear(in_dim, emb_dim), nn.GELU(), nn.Linear(emb_dim, emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.reshape(-1, self.in_dim))


class ContextUnet(nn.Module):
    """The conditional U-Net (150.8 M parameters with ``n_feat=512``).

    Parameters
    ----------
    in_ch : int
        Latent channels ``L`` (input and output).
    n_feat : int
        Base width ``n`` (512 in the paper; must be divisible by 8 for the GroupNorms).
    context_dim : int
        Length of the condition vector.
    """

    def __init__(self, in_ch: int = 4, n_feat: int = 512, context_dim: int = 3) -> None:
        super().__init__()
        if n_feat % 8:
            raise ValueError(f"n_feat must be divisible by 8 (GroupNorm(8, .)), got {n_feat}")
        if context_dim < 1:
            raise ValueError(f"context_dim must be >= 1, got {context_dim}")
        n = n_feat
        self.in_ch, self.n_feat, self.context_dim = in_ch, n, context_dim
        self.init_conv = ResidualConvBlock(in_ch, n)
        self.down1 = UnetDown(n, n)
        self.down2 = UnetDown(n, 2 * n)
        self.timeembed1 = EmbedFC(1, 2 * n)
        self.timeembed2 = EmbedFC(1, n)
        self.contextembed1 = EmbedFC(context_dim, 2 * n)
        self.contextembed2 = EmbedFC(context_dim, n)
        self.up0 = nn.Sequential(
            nn.ConvTranspose3d(2 * n, 2 * n, 1, 1), nn.GroupNorm(8, 2 * n), nn.LeakyReLU(0.2)
        )
        self.up1 = UnetUp(4 * n, n)
        self.up2 = UnetUp(2 * n, n)
        self.out = nn.Sequential(
            nn.Conv3d(2 * n, n, 3, 1, 1), nn.GroupNorm(8, n), nn.Tanh(), nn.Conv3d(n, in_ch, 3, 1, 1)
        )
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Predict epsilon for latents ``x`` at times ``t`` (``(B, 1)``) under ``context`` ``(B, d)``."""
        b, n = x.shape[0], self.n_feat
        x0 = self.init_conv(x)
        d1 = self.down1(x0)
        d2 = self.down2(d1)
        temb1 = self.timeembed1(t).view(b, 2 * n, 1, 1, 1)
        temb2 = self.timeembed2(t).view(b, n, 1, 1, 1)
        cemb1 = self.contextembed1(context).view(b, 2 * n, 1, 1, 1)
        cemb2 = self.contextembed2(context).view(b, n, 1, 1, 1)
        u1 = self.up0(self.gelu(d2))
        u2 = self.up1(u1 + temb1 + cemb1, d2)
        u3 = self.up2(u2 + temb2 + cemb2, d1)
        return self.out(torch.cat((u3, x0), dim=1))
