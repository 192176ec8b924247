"""The MicroGen3D variational autoencoder: a 3-D convolutional encoder/decoder with residual blocks.

Layout and state-dict keys follow the published ``vae.pt`` files exactly (see
``shared/spec/microgen3d.md``): ``encoder.conv_layers.{0..14}``, ``encoder.conv_mu``,
``encoder.conv_logvar``, ``decoder.convs.{i}``, ``decoder.instnorms.{i}``,
``decoder.resblocks.{i}`` and ``decoder.final_conv``.

Volumes are ``(B, 1, X, Y, Z)`` float tensors (two-phase data as 0/1; the last axis is the film
thickness); latents are ``(B, L, X / 8, Y / 8, Z / 8)`` (first stride 1) or ``/ 16`` (first stride 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

DEFAULT_CHANNELS: tuple[int, ...] = (64, 128, 256, 512)


class ResBlock(nn.Module):
    """Channel-preserving residual block: ``ReLU(x + IN(conv(ReLU(IN(conv(x))))))``.

    Parameters
    ----------
    channels : int
        Number of input (= output) channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv3d(channels, channels, kernel_size=3, padding=1),
            nn.InstanceNorm3d(channels, affine=True),
            nn.ReLU(),
            nn.Conv3d(channels, channels, kernel_size=3, padding=1),
            nn.InstanceNorm3d(channels, affine=True),
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.block(x))


def _check_stride(first_stride: int) -> None:
    if first_stride not in (1, 2):
        raise ValueError(f"first_stride must be 1 or 2, got {first_stride!r}")


class Encoder(nn.Module):
    """Volume -> (mu, logvar) of the latent Gaussian.

    Four stages ``Conv3d(k3, pad 1, stride s) -> InstanceNorm3d -> ResBlock`` with strides
    ``(first_stride, 2, 2, 2)``, then ``Conv3d(k1) -> InstanceNorm3d -> ResBlock`` to ``latent_ch``
    channels and two ``k1`` heads.
    """

    def __init__(
        self,
        in_ch: int = 1,
        latent_ch: int = 4,
        first_stride: int = 2,
        channels: Sequence[int] = DEFAULT_CHANNELS,
    ) -> None:
        super().__init__()
        _check_stride(first_stride)
        layers: list[nn.Module] = []
        prev = in_ch
        for stage, ch in enumerate(channels):
            stride = first_stride if stage == 0 else 2
            layers += [
                nn.Conv3d(prev, ch, kernel_size=3, stride=stride, padding=1),
                nn.InstanceNorm3d(ch, affine=True),
                ResBlock(ch),
            ]
            prev = ch
        layers += [
            nn.Conv3d(prev, latent_ch, kernel_size=1),
            nn.InstanceNorm3d(latent_ch, affine=True),
            ResBlock(latent_ch),
        ]
        self.conv_layers = nn.Sequential(*layers)
        self.conv_mu = nn.Conv3d(latent_ch, latent_ch, kernel_size=1)
        self.conv_logvar = nn.Conv3d(latent_ch, latent_ch, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_layers(x)
        return self.conv_mu(h), self.conv_logvar(h)


class Decoder(nn.Module):
    """Latent -> volume in [0, 1] (sigmoid output).

    ``ConvTranspose3d(L -> c_max, k1)`` then three ``k3, stride 2`` up-convolutions, each followed by
    an affine InstanceNorm3d and a ResBlock, then a final ``ConvTranspose3d(c_min -> out_ch, k3)``
    with stride ``first_stride`` and a sigmoid.
    """

    def __init__(
        self,
        out_ch: int = 1,
        latent_ch: int = 4,
        first_stride: int = 2,
        channels: Sequence[int] = DEFAULT_CHANNELS,
    ) -> None:
        super().__init__()
        _check_stride(first_stride)
        chans = [latent_ch, *reversed(list(channels))]
        self.convs = nn.ModuleList()
        self.instnorms = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i in range(len(chans) - 1):
            if i == 0:
                conv = nn.ConvTranspose3d(chans[0], chans[1], kernel_size=1)
            else:
                conv = nn.ConvTranspose3d(
                    chans[i], chans[i + 1], kernel_size=3, stride=2, padding=1, output_padding=1
                )
            self.convs.append(conv)
            self.instnorms.append(nn.InstanceNorm3d(chans[i + 1], affine=True))
            self.resblocks.append(ResBlock(chans[i + 1]))
        self.final_conv = nn.ConvTranspose3d(
            chans[-1],
            out_ch,
            kernel_size=3,
            stride=first_stride,
            padding=1,
            output_padding=first_stride - 1,
        )
        self.final_activation = nn.Sigmoid()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for conv, norm, res in zip(self.convs, self.instnorms, self.resblocks):
            z = res(norm(conv(z)))
        return self.final_activation(self.final_conv(z))


class VAE(nn.Module):
    """The MicroGen3D VAE (46.9 M parameters in the published configuration).

    Parameters
    ----------
    in_ch : int
        Channels of the volume (1 in every published pack).
    latent_ch : int
        Latent channels ``L`` (1 for ``experimental``, 4 for the Cahn-Hilliard packs).
    first_stride : int
        Stride of the first encoder stage (1 or 2); the latent is ``2 ** (3 + first_stride - 1)``
        times smaller than the volume along each axis.
    channels : sequence of int
        Encoder stage widths (decoder mirrors them); ``(64, 128, 256, 512)`` in the paper.
    """

    def __init__(
        self,
        in_ch: int = 1,
        latent_ch: int = 4,
        first_stride: int = 2,
        channels: Sequence[int] = DEFAULT_CHANNELS,
    ) -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"channels must list 4 stage widths, got {tuple(channels)}")
        self.in_ch, self.latent_ch, self.first_stride = in_ch, latent_ch, first_stride
        self.encoder = Encoder(in_ch, latent_ch, first_stride, channels)
        self.decoder = Decoder(in_ch, latent_ch, first_stride, channels)

    @property
    def downsampling(self) -> int:
        """Volume size / latent size along each axis."""
        return 8 * self.first_stride

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mu, logvar)``, each ``(B, L, X / f, Y / f, Z / f)`` with ``f = downsampling``."""
        if x.ndim != 5 or x.shape[1] != self.in_ch:
            raise ValueError(
                f"VAE.encode expects (B, {self.in_ch}, X, Y, Z) volumes, got shape {tuple(x.shape)}"
            )
        if any(s % self.downsampling for s in x.shape[2:]):
            raise ValueError(
                f"volume sizes {tuple(x.shape[2:])} must be divisible by {self.downsampling}"
            )
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Return the decoded volume ``(B, in_ch, X, Y, Z)`` with values in (0, 1)."""
        if z.ndim != 5 or z.shape[1] != self.latent_ch:
            raise ValueError(
                f"VAE.decode expects (B, {self.latent_ch}, x, y, z) latents, got shape {tuple(z.shape)}"
            )
        return self.decoder(z)

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Sample ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``."""
        std = torch.exp(0.5 * logvar)
        eps = torch.randn(std.shape, generator=generator, device=std.device, dtype=std.dtype)
        return mu + eps * std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(reconstruction, mu, logvar)``."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar
