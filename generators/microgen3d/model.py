"""The paper's three modules as a latent model of :mod:`generators.diffusion` (same samplers, same
generator class as the project's own models).

:func:`pack_model_config` describes a pack (:data:`~generators.microgen3d.packs.PACKS` or a
custom :class:`~generators.microgen3d.packs.PackConfig`) as a
:class:`~generators.diffusion.config.ModelConfig`; :class:`MicroGen3DLatentModel` puts the VAE,
feature predictor and denoiser behind the latent-model interface.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch
from torch import nn

from generators.diffusion.config import ModelConfig, Stats
from generators.diffusion.schedule import DiscreteSchedule, linear_schedule
from generators.microgen3d.labels import from_grey, to_grey
from generators.microgen3d.packs import PackConfig

#: The published sampler: the 998-step ancestral loop.
PAPER_SAMPLER = {"name": "ancestral", "steps": None, "guidance": 1.0}

Bounds = torch.Tensor | Mapping[str, Sequence[float]] | None


def pack_bounds(pack: PackConfig, bounds: Bounds = None) -> torch.Tensor:
    """Condition bounds ``(2, d)`` float64: the pack's (``[0, 1]`` for names it does not list),
    updated by a mapping name -> ``(low, high)``, or a full ``(2, d)`` tensor.

    Raises
    ------
    ValueError
        Unknown names, a wrong shape, or not ``low < high`` everywhere.
    """
    names = tuple(pack.condition_names)
    if bounds is None or isinstance(bounds, Mapping):
        given = dict(pack.bounds)
        if bounds is not None:
            unknown = set(bounds) - set(names)
            if unknown:
                raise ValueError(f"bounds for unknown conditions {sorted(unknown)}; known: {names}")
            given.update(bounds)
        b = torch.tensor([tuple(given.get(n, (0.0, 1.0))) for n in names], dtype=torch.float64).T
    else:
        b = torch.as_tensor(bounds, dtype=torch.float64)
    if b.shape != (2, len(names)):
        raise ValueError(f"bounds must have shape (2, {len(names)}), got {tuple(b.shape)}")
    if not torch.isfinite(b).all() or (b[0] >= b[1]).any():
        raise ValueError(f"bounds need finite low < high for every condition, got {b.tolist()}")
    return b


def pack_model_config(pack: PackConfig, bounds: Bounds = None, phases: int | None = None) -> ModelConfig:
    """A pack as a :class:`ModelConfig` (family ``microgen3d``): conditions within
    :func:`pack_bounds` (mean the centre, std a quarter of the range; the denoiser takes them
    raw), FP outputs raw, the pack's schedule, the published sampler by default."""
    b = pack_bounds(pack, bounds)
    lo, hi = b[0].tolist(), b[1].tolist()
    n = len(pack.fp_names)
    return ModelConfig(
        family="microgen3d", phases=int(phases or pack.phases), shape=list(pack.volume_shape),
        latent_shape=list(pack.latent_shape), architecture={"pack": {"name": pack.name}},
        conditions=Stats(list(pack.condition_names), lo, hi, [(a + c) / 2 for a, c in zip(lo, hi)],
                         [(c - a) / 4 for a, c in zip(lo, hi)]),
        fp_outputs=Stats(list(pack.fp_names), [0.0] * n, [1.0] * n, [0.0] * n, [1.0] * n),
        schedule={"beta_1": pack.beta1, "beta_T": pack.beta2, "T": pack.T},
        sampler=dict(PAPER_SAMPLER))


class MicroGen3DLatentModel(nn.Module):
    """The paper's VAE, feature predictor and denoiser behind the latent-model interface
    (``eps``, ``encode``, ``decode``, ``predict``, ``null_context``, ``schedule``).

    Parameters
    ----------
    vae, fp, denoiser : nn.Module
        :class:`~generators.microgen3d.vae.VAE` (``decode(z)`` -> sigmoid volume ``(B, 1, X, Y, Z)``),
        :class:`~generators.microgen3d.feature_predictor.FeaturePredictor` (flattened latent ->
        raw outputs) and :class:`~generators.microgen3d.denoiser.Denoiser` (``(x, t, context)``,
        ``t = i / T``, raw context -> eps).
    config : ModelConfig
        From :func:`pack_model_config`; ``config.phases`` chooses the decoding
        (:func:`~generators.microgen3d.labels.from_grey`).

    Notes
    -----
    The diffusion-space latent is the VAE latent itself (``latent_scale`` 1). Inputs are cast to
    the modules' dtype (float32 as published, float64 for reference checks).
    """

    def __init__(self, vae: nn.Module, fp: nn.Module, denoiser: nn.Module, config: ModelConfig):
        super().__init__()
        self.vae, self.fp, self.denoiser, self.config = vae, fp, denoiser, config
        self.eval()

    @property
    def dtype(self) -> torch.dtype:
        return self.denoiser.alpha_t.dtype

    @property
    def schedule(self) -> DiscreteSchedule:
        """The config's linear schedule, whose ancestral buffers are the denoiser's stored ones
        (the published loop runs on exactly the ``ddpm.pt`` numbers)."""
        s = self.config.schedule
        return replace(linear_schedule(s["beta_1"], s["beta_T"], s["T"]), stored=self.denoiser.schedule())

    @property
    def null_context(self) -> torch.Tensor:
        # the paper trains without condition dropout; zeros are the closest "no condition"
        return torch.zeros(len(self.config.conditions.names), device=self.denoiser.alpha_t.device)

    def eps(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Noise prediction ``(B, L, x, y, z)`` (see :data:`generators.diffusion.samplers.EpsFn`)."""
        return self.denoiser(x.to(self.dtype), t, context)

    def encode(self, volumes: torch.Tensor, sample: bool = False, generator=None) -> torch.Tensor:
        """uint8 labels ``(B, X, Y, Z)`` -> latents ``(B, L, x, y, z)`` (``mu``, or a draw)."""
        x = to_grey(volumes.to(self.denoiser.alpha_t.device), self.dtype)
        mu, logvar = self.vae.encode(x.unsqueeze(1))
        if sample:
            mu = mu + torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype) * (0.5 * logvar).exp()
        return mu

    def decode_grey(self, latent: torch.Tensor) -> torch.Tensor:
        """Latents -> grey volumes ``(B, X, Y, Z)`` in [0, 1] (the VAE decoder's sigmoid output)."""
        return self.vae.decode(latent.to(self.dtype))[:, 0]

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Latents -> uint8 labels ``(B, X, Y, Z)`` by the one grey-level rule."""
        return from_grey(self.decode_grey(latent), self.config.phases)

    def predict(self, latent: torch.Tensor) -> dict[str, torch.Tensor]:
        """FP outputs on the flattened latents, by name, each ``(B,)``."""
        y = self.fp(latent.to(self.dtype).flatten(1))
        return {name: y[:, k] for k, name in enumerate(self.config.fp_outputs.names)}
