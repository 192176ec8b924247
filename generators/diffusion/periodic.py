"""The periodic model family: fully convolutional networks for volumes of a periodic box, fast on CPU.

Cahn-Hilliard volumes are periodic in every axis, so every convolution here pads circularly: the
networks are translation-equivariant on the torus (by multiples of the VAE factor) and have no
edge effects. Most work happens on coarse grids, where 3-D convolutions are cheap.

* :class:`PatchVAE` - a VAE that patchifies the volume (a ``patch``-strided convolution), works on
  the coarse grids with residual blocks and stride-2 steps, and decodes back with a per-cell MLP
  whose outputs are shuffled into ``patch ** 3`` voxels (3-D pixel shuffle). Factor
  ``patch * 2 ** (len(widths) - 1)`` per axis.
* :class:`ConvFP` - a feature predictor on the latent: a convolution, a stride-2 step, a residual
  block, a mean over the two in-plane axes (descriptors do not depend on in-plane position) and an MLP over
  the remaining thickness profile (they do depend on the distance to the electrodes).

The denoiser of this family is :class:`generators.diffusion.compact.CompactDenoiser` with
``padding_mode="circular"``. Tensors are ``(B, C, X, Y, Z)``; the last axis is the film thickness.
"""

from __future__ import annotations

import torch
from torch import nn

from generators.diffusion.compact import LabelVAE, ResBlock, _norm

CIRCULAR = "circular"


def pixel_shuffle_3d(x: torch.Tensor, p: int) -> torch.Tensor:
    """``(B, C * p**3, X, Y, Z)`` -> ``(B, C, X * p, Y * p, Z * p)`` (channel-major sub-voxel order)."""
    b, cp, X, Y, Z = x.shape
    c = cp // p ** 3
    x = x.reshape(b, c, p, p, p, X, Y, Z).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, c, X * p, Y * p, Z * p)


class PatchVAE(LabelVAE):
    """VAE of periodic label volumes.

    Parameters
    ----------
    phases : int
        2 (one 0/1 input channel, one logit out) or 3 (one-hot in, 3 logits out).
    patch : int
        Side of the cubic patches the first layer embeds (and the last layer emits).
    widths : sequence of int
        Channels on the patch grid, then after each stride-2 step.
    latent_channels : int
        Channels of the latent.
    blocks : int
        Residual blocks per level (encoder and decoder alike).
    head : int
        Hidden width of the per-cell output MLP.
    """

    def __init__(self, phases: int = 2, patch: int = 4, widths=(32, 64), latent_channels: int = 8,
                 blocks: int = 1, head: int = 64):
        super().__init__()
        if phases not in (2, 3):
            raise ValueError(f"phases must be 2 or 3, got {phases}")
        if patch < 1 or not widths:
            raise ValueError("PatchVAE needs patch >= 1 and at least one width")
        self.phases, self.patch, self.widths = phases, int(patch), tuple(widths)
        self.latent_channels = latent_channels
        c_in, self.n_out = (1, 1) if phases == 2 else (3, 3)
        enc: list[nn.Module] = [nn.Conv3d(c_in, widths[0], patch, stride=patch)]
        for k, w in enumerate(widths):
            enc += [ResBlock(w, w, padding_mode=CIRCULAR) for _ in range(blocks)]
            if k < len(widths) - 1:
                enc.append(nn.Conv3d(w, widths[k + 1], 3, stride=2, padding=1, padding_mode=CIRCULAR))
        enc += [_norm(widths[-1]), nn.SiLU(), nn.Conv3d(widths[-1], 2 * latent_channels, 1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv3d(latent_channels, widths[-1], 3, padding=1, padding_mode=CIRCULAR)]
        for k in range(len(widths) - 1, -1, -1):
            dec += [ResBlock(widths[k], widths[k], padding_mode=CIRCULAR) for _ in range(blocks)]
            if k > 0:
                dec += [nn.ConvTranspose3d(widths[k], widths[k - 1], 2, stride=2), nn.SiLU()]
        dec += [_norm(widths[0]), nn.SiLU(), nn.Conv3d(widths[0], head, 1), nn.SiLU(),
                nn.Conv3d(head, self.n_out * patch ** 3, 1)]
        self.decoder = nn.Sequential(*dec)

    @property
    def factor(self) -> int:
        """Downsampling factor per axis."""
        return self.patch * 2 ** (len(self.widths) - 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network input -> ``(mu, logvar)``, each ``(B, L, X/f, Y/f, Z/f)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent -> logits ``(B, 1 or 3, X, Y, Z)``."""
        return pixel_shuffle_3d(self.decoder(z), self.patch)


class ConvFP(nn.Module):
    """Feature predictor on a periodic latent ``(B, L, x, y, z)`` -> ``(B, n_outputs)`` (standardised).

    Parameters
    ----------
    latent_shape : sequence of int
        ``(L, x, y, z)``; ``z`` must be even.
    n_outputs : int
    width : int
        Channels of the first convolution (doubled after the stride-2 step, where the residual
        block works: most of the cost stays on the coarser grid).
    hidden : int
        Width of the MLP on the pooled thickness profile.
    dropout : float
    """

    def __init__(self, latent_shape, n_outputs: int, width: int = 32, hidden: int = 256,
                 dropout: float = 0.1):
        super().__init__()
        L, _, _, z = latent_shape
        w2 = 2 * width
        self.conv = nn.Sequential(
            nn.Conv3d(L, width, 3, padding=1, padding_mode=CIRCULAR), nn.SiLU(),
            nn.Conv3d(width, w2, 3, stride=2, padding=1, padding_mode=CIRCULAR), ResBlock(w2, w2, padding_mode=CIRCULAR),
            _norm(w2), nn.SiLU())
        self.mlp = nn.Sequential(
            nn.Linear(w2 * ((z + 1) // 2), hidden), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, n_outputs))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv(z).mean(dim=(2, 3))  # (B, C, z/2): in-plane mean, thickness profile kept
        return self.mlp(h.flatten(1))


def symmetry_copy(volumes: torch.Tensor, generator: torch.Generator | None = None,
                  roll_z: bool = True) -> torch.Tensor:
    """A random symmetry of each periodic volume ``(B, X, Y, Z)``: rolls along every axis, flips,
    and an X/Y swap when X == Y. The result is another valid volume of the same periodic box
    (its descriptors may differ: the thickness axis has electrodes)."""
    out = []
    for v in volumes:
        r = torch.randint(0, 2 ** 20, (6,), generator=generator).tolist()
        shifts = (r[0] % v.shape[0], r[1] % v.shape[1], (r[2] % v.shape[2]) if roll_z else 0)
        v = torch.roll(v, shifts=shifts, dims=(0, 1, 2))
        flips = [d for d, bit in zip((0, 1, 2), r[3:6]) if bit % 2 and (d < 2 or roll_z)]
        if flips:
            v = torch.flip(v, dims=flips)
        if v.shape[0] == v.shape[1] and r[5] % 4 >= 2:
            v = v.transpose(0, 1)
        out.append(v.contiguous())
    return torch.stack(out)


__all__ = ["ConvFP", "PatchVAE", "pixel_shuffle_3d", "symmetry_copy"]
