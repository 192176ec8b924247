"""The self-describing ``config.json`` of a model directory.

A model directory holds ``config.json`` (this file's :class:`ModelConfig`) and the weights
``vae.safetensors``, ``fp.safetensors`` and ``denoiser.safetensors``. The config names the family,
the architecture, the volume shape and phases, the condition names with their ranges in the
training data (the generator's bounds), the FP output names (descriptors and the recipe ``phi``,
``chi``, ``log_time`` when trained with them) with their standardisation, the latent scale, the
schedule, the sampler defaults and a training summary.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from generators.diffusion.samplers import DEFAULT_SAMPLER

FORMAT = "invdesign-latent-diffusion"
FAMILIES = ("compact", "periodic", "microgen3d")


@dataclass
class Stats:
    """Names with per-name min, max, mean and std (raw units) over the training data."""

    names: list[str]
    min: list[float]
    max: list[float]
    mean: list[float]
    std: list[float]

    def __post_init__(self) -> None:
        n = len(self.names)
        for key in ("min", "max", "mean", "std"):
            if len(getattr(self, key)) != n:
                raise ValueError(f"stats field {key!r} has {len(getattr(self, key))} entries for {n} names")


@dataclass
class ModelConfig:
    """Everything needed to rebuild and use a latent diffusion model.

    Attributes
    ----------
    family : str
        ``"compact"`` or ``"periodic"`` (this project's designs) or ``"microgen3d"`` (the paper's
        modules).
    phases : int
        2 or 3.
    shape : list of int
        One volume ``[X, Y, Z]`` (Z = film thickness).
    latent_shape : list of int
        One latent ``[C, X/f, Y/f, Z/f]``.
    architecture : dict
        ``{"vae": {...}, "fp": {...}, "denoiser": {...}}`` constructor arguments.
    conditions : Stats
        Denoiser condition names and their training ranges.
    fp_outputs : Stats
        Feature predictor outputs (raw units; the network predicts standardised values).
    latent_scale : float
        Multiplies the VAE latent before diffusion (1 / std of the training latents).
    schedule : dict
        ``beta_1``, ``beta_T``, ``T``.
    sampler : dict
        Defaults: ``name``, ``steps``, ``guidance`` (and options such as DDIM's ``eta``); see
        :func:`generators.diffusion.samplers.sampler_settings`. Default
        :data:`~generators.diffusion.samplers.DEFAULT_SAMPLER`.
    training : dict
        Free-form summary (data, epochs, final losses, time).
    simulator : dict
        How the training data were simulated: ``CahnHilliardGenerator`` keyword arguments
        (``shape``, ``upsample``, ``params``). Recipe verification runs the same simulator.
    """

    family: str
    phases: int
    shape: list[int]
    latent_shape: list[int]
    architecture: dict[str, dict[str, Any]]
    conditions: Stats
    fp_outputs: Stats
    latent_scale: float = 1.0
    schedule: dict[str, Any] = field(default_factory=lambda: {"beta_1": 1e-4, "beta_T": 0.02, "T": 1000})
    sampler: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SAMPLER))
    training: dict[str, Any] = field(default_factory=dict)
    simulator: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.conditions, dict):
            self.conditions = Stats(**self.conditions)
        if isinstance(self.fp_outputs, dict):
            self.fp_outputs = Stats(**self.fp_outputs)
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}; expected one of {FAMILIES}")
        if self.phases not in (2, 3):
            raise ValueError(f"phases must be 2 or 3, got {self.phases}")
        if len(self.shape) != 3 or len(self.latent_shape) != 4:
            raise ValueError(f"shape must be [X, Y, Z] and latent_shape [C, x, y, z], got {self.shape}, {self.latent_shape}")
        if not self.latent_scale > 0:
            raise ValueError(f"latent_scale must be positive, got {self.latent_scale}")

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        data = json.loads(text)
        if data.pop("format", None) != FORMAT:
            raise ValueError(f"not a {FORMAT} config")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"malformed model config: {exc}") from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"no model config at {p}")
        return cls.from_json(p.read_text())
