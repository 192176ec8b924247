"""The compact model family: small, fully convolutional networks the project trains on CPU.

* :class:`CompactVAE` - a convolutional VAE (trains on crops, runs on full volumes) that
  downsamples ``2 ** (len(widths) - 1)`` times per axis to ``latent_channels`` channels. Two-phase
  volumes go in as one 0/1 channel and come out as one logit; three-phase volumes go in one-hot and
  come out as 3-class logits (argmax -> labels).
* :class:`CompactFP` - an MLP feature predictor on the flattened (scaled) latent; it predicts
  standardised targets (descriptors and the recipe).
* :class:`CompactDenoiser` - a small 3-D U-Net on the latent predicting the noise, with a
  sinusoidal time embedding of ``t = i / T``, a condition embedding (a row of NaN means "no
  condition": it gets a learned null embedding, which is what classifier-free guidance needs) and
  optional self-attention at the lowest resolution.
* :class:`EMA` - an exponential moving average of a module's weights.

Tensors are ``(B, C, X, Y, Z)``; the last axis is the film thickness.
"""

from __future__ import annotations

import copy
import functools
import math

import torch
import torch.nn.functional as F
from torch import nn


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c) if c % min(8, c) == 0 else 1, c)


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> Conv3d, twice, with an optional embedding added in between.

    ``padding_mode="circular"`` makes the block translation-equivariant on a periodic box.
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int | None = None, dropout: float = 0.0,
                 padding_mode: str = "zeros", film: bool = False):
        super().__init__()
        self.n1, self.c1 = _norm(c_in), nn.Conv3d(c_in, c_out, 3, padding=1, padding_mode=padding_mode)
        self.n2, self.c2 = _norm(c_out), nn.Conv3d(c_out, c_out, 3, padding=1, padding_mode=padding_mode)
        self.film = bool(film and emb_dim)
        self.emb = nn.Linear(emb_dim, 2 * c_out if self.film else c_out) if emb_dim else None
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        if self.emb is not None and emb is not None:
            e = self.emb(emb)[:, :, None, None, None]
            if self.film:  # scale and shift of the normalised features (FiLM / ADM's scale-shift norm)
                scale, shift = e.chunk(2, dim=1)
                h = self.n2(h) * (1 + scale) + shift
            else:
                h = self.n2(h + e)
        else:
            h = self.n2(h)
        h = self.c2(self.drop(F.silu(h)))
        return self.skip(x) + h


class LabelVAE(nn.Module):
    """What every VAE of label volumes shares: input encoding, label decoding and the loss.

    Subclasses set ``phases`` and ``factor`` and define ``encode(x) -> (mu, logvar)`` and
    ``decode(z) -> logits``.
    """

    def to_input(self, volumes: torch.Tensor) -> torch.Tensor:
        """uint8 labels ``(B, X, Y, Z)`` -> network input ``(B, C, X, Y, Z)`` float."""
        if volumes.dim() != 4:
            raise ValueError(f"volumes must be (B, X, Y, Z), got shape {tuple(volumes.shape)}")
        bad = [s for s in volumes.shape[1:] if s % self.factor]
        if bad:
            raise ValueError(f"volume sides {tuple(volumes.shape[1:])} must be divisible by {self.factor}")
        v = volumes.long()
        if self.phases == 2:
            if int(v.max()) > 1:
                raise ValueError("a two-phase model got labels > 1")
            return v.unsqueeze(1).float()
        return F.one_hot(v.clamp(0, 2), 3).permute(0, 4, 1, 2, 3).float()

    def labels(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> uint8 labels ``(B, X, Y, Z)`` (threshold 0.5 / argmax)."""
        if self.phases == 2:
            return (logits[:, 0] > 0).to(torch.uint8)
        return logits.argmax(dim=1).to(torch.uint8)

    def loss(self, volumes: torch.Tensor, kl_weight: float = 1e-6, generator=None) -> tuple[torch.Tensor, dict]:
        """Reconstruction (BCE / cross-entropy, mean per voxel) + ``kl_weight`` * KL (mean per latent)."""
        x = self.to_input(volumes)
        mu, logvar = self.encode(x)
        z = mu + torch.randn(mu.shape, generator=generator, device=mu.device) * (0.5 * logvar).exp()
        logits = self.decode(z)
        if self.phases == 2:
            rec = F.binary_cross_entropy_with_logits(logits, x)
        else:
            rec = F.cross_entropy(logits, volumes.long())
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        acc = (self.labels(logits) == volumes).float().mean()
        return rec + kl_weight * kl, {"rec": rec.item(), "kl": kl.item(), "acc": acc.item()}


class CompactVAE(LabelVAE):
    """Fully convolutional VAE.

    Parameters
    ----------
    phases : int
        2 (one 0/1 input channel, one logit out) or 3 (one-hot in, 3 logits out).
    widths : sequence of int
        Channels at full resolution, then after each stride-2 step; ``len(widths) - 1``
        halvings per axis (e.g. ``(8, 16, 32, 64, 64)``: 16x).
    latent_channels : int
        Channels of the latent.
    """

    def __init__(self, phases: int = 2, widths=(16, 32, 64, 64), latent_channels: int = 4):
        super().__init__()
        if phases not in (2, 3):
            raise ValueError(f"phases must be 2 or 3, got {phases}")
        if len(widths) < 2:
            raise ValueError("widths needs at least two entries (one downsampling)")
        self.phases, self.widths, self.latent_channels = phases, tuple(widths), latent_channels
        c_in = 1 if phases == 2 else 3
        enc: list[nn.Module] = [nn.Conv3d(c_in, widths[0], 3, padding=1), nn.SiLU()]
        for a, b in zip(widths[:-1], widths[1:]):
            enc += [nn.Conv3d(a, b, 3, stride=2, padding=1), ResBlock(b, b)]
        enc += [_norm(widths[-1]), nn.SiLU(), nn.Conv3d(widths[-1], 2 * latent_channels, 1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv3d(latent_channels, widths[-1], 3, padding=1), ResBlock(widths[-1], widths[-1])]
        rev = list(widths[::-1])
        for k, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            dec += [nn.ConvTranspose3d(a, b, 2, stride=2), nn.SiLU()]
            if k < len(rev) - 2:
                dec.append(ResBlock(b, b))
        dec += [nn.Conv3d(widths[0], 1 if phases == 2 else 3, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    @property
    def factor(self) -> int:
        """Downsampling factor per axis."""
        return 2 ** (len(self.widths) - 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network input -> ``(mu, logvar)``, each ``(B, L, X/f, Y/f, Z/f)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent -> logits ``(B, 1 or 3, X, Y, Z)``."""
        return self.decoder(z)



class CompactFP(nn.Module):
    """MLP feature predictor on the flattened latent (C order), predicting standardised targets."""

    def __init__(self, in_features: int, n_outputs: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.SiLU(), nn.Dropout(dropout),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.flatten(1))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of ``t = i / T`` (scaled by 1000 so frequencies match integer steps)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class Attention(nn.Module):
    """Multi-head self-attention over all voxels of a (small) 3-D feature map."""

    def __init__(self, c: int, heads: int = 4):
        super().__init__()
        self.norm, self.heads = _norm(c), heads
        self.qkv, self.proj = nn.Conv3d(c, 3 * c, 1), nn.Conv3d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *sp = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, -1).unbind(1)
        h = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(h.transpose(-1, -2).reshape(b, c, *sp))


PREDICTIONS = ("eps", "v")


def eps_from_output(out: torch.Tensor, x: torch.Tensor, alphabar: torch.Tensor, prediction: str) -> torch.Tensor:
    """The noise estimate from a denoiser's output ``out`` at noisy ``x`` ``(B, ...)`` and
    ``alphabar`` ``(B,)``: ``out`` itself for ``eps``, ``sqrt(abar) v + sqrt(1 - abar) x`` for ``v``."""
    if prediction == "eps":
        return out
    a = alphabar.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
    return a.sqrt() * out + (1 - a).sqrt() * x


class CompactDenoiser(nn.Module):
    """Small 3-D U-Net predicting the noise of a latent.

    Parameters
    ----------
    latent_channels : int
    n_conditions : int
        Size ``d`` of the (normalised) condition vector.
    channels : sequence of int
        Width per resolution level; ``len(channels) - 1`` halvings (latent sides must divide).
    attention : bool
        Self-attention at the lowest resolution.
    padding_mode : {"zeros", "circular"}
        ``circular`` for latents of periodic volumes (the periodic family).
    film : bool
        Time and condition embedding scale and shift the normalised features of every block
        (FiLM) instead of only being added to them.
    prediction : {"eps", "v"}
        What the network outputs: the noise, or ``v = sqrt(abar) eps - sqrt(1 - abar) x0``
        (Salimans & Ho 2022). Callers convert with :func:`eps_from_output`; samplers always see eps.
    """

    def __init__(self, latent_channels: int = 4, n_conditions: int = 3, channels=(64, 128),
                 attention: bool = True, dropout: float = 0.0, padding_mode: str = "zeros",
                 film: bool = False, prediction: str = "eps"):
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
        self.prediction = prediction
        pm = padding_mode
        block = functools.partial(ResBlock, padding_mode=pm, film=film)
        self.channels, self.n_conditions = tuple(channels), n_conditions
        e = 4 * channels[0]
        self.temb = nn.Sequential(nn.Linear(channels[0], e), nn.SiLU(), nn.Linear(e, e))
        self.cemb = nn.Sequential(nn.Linear(n_conditions, e), nn.SiLU(), nn.Linear(e, e))
        self.null = nn.Parameter(torch.zeros(e))
        self.inp = nn.Conv3d(latent_channels, channels[0], 3, padding=1, padding_mode=pm)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        c = channels[0]
        for k, ch in enumerate(channels):
            self.down.append(block(c, ch, e, dropout))
            c = ch
            if k < len(channels) - 1:
                self.downsample.append(nn.Conv3d(c, c, 3, stride=2, padding=1, padding_mode=pm))
        self.mid1 = block(c, c, e, dropout)
        self.attn = Attention(c) if attention else nn.Identity()
        self.mid2 = block(c, c, e, dropout)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for k, ch in reversed(list(enumerate(channels))):
            self.up.append(block(c + ch, ch, e, dropout))
            c = ch
            if k > 0:
                self.upsample.append(nn.ConvTranspose3d(c, channels[k - 1], 2, stride=2))
                c = channels[k - 1]
        self.out = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv3d(c, latent_channels, 3, padding=1, padding_mode=pm))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        emb = self.temb(timestep_embedding(t, self.channels[0]))
        if context is None:
            cond = self.null.expand(x.shape[0], -1)
        else:
            isnull = torch.isnan(context).any(dim=1, keepdim=True)
            cond = torch.where(isnull, self.null.to(emb.dtype), self.cemb(torch.nan_to_num(context)).to(emb.dtype))
        emb = emb + cond
        h = self.inp(x)
        skips = []
        for k, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if k < len(self.downsample):
                h = self.downsample[k](h)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        for k, block in enumerate(self.up):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if k < len(self.upsample):
                h = self.upsample[k](h)
        return self.out(h)


class EMA:
    """Exponential moving average of a module's parameters and buffers.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the average
    forgets the random initialisation: with a fixed 0.999, 8% of the initial weights are still in
    the average after 2,500 updates. ``updates`` is restored on resume.
    """

    def __init__(self, module: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay, self.updates = decay, 0
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    def current_decay(self) -> float:
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        d = self.current_decay()
        self.updates += 1
        for e, p in zip(self.module.state_dict().values(), module.state_dict().values()):
            if e.dtype.is_floating_point:
                e.lerp_(p.detach(), 1.0 - d)
            else:
                e.copy_(p)
