"""The three published MicroGen3D weight packs (the one pack table): their configurations and how to
build their modules. :func:`generators.microgen3d.load_pack` loads a pack's files."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from generators.microgen3d.denoiser import Denoiser
from generators.microgen3d.feature_predictor import FeaturePredictor
from generators.microgen3d.vae import DEFAULT_CHANNELS, VAE
from generators.protocol import RECIPE_NAMES


@dataclass(frozen=True)
class PackConfig:
    """Architecture and naming of one weight pack (or of a project-trained "paper family" model).

    Attributes
    ----------
    name : str
        Pack name.
    in_shape : tuple of int
        ``(C, X, Y, Z)`` of one input volume; Z is the film thickness.
    latent_ch : int
        Latent channels ``L``.
    first_stride : int
        Stride of the VAE's first stage (1 or 2).
    fp_names : tuple of str
        Feature-predictor outputs, in order.
    condition_names : tuple of str
        Denoiser context entries, in order.
    phases : int
        Number of phases the training volumes hold (2 or 3).
    channels : tuple of int
        VAE stage widths.
    n_feat : int
        Denoiser U-Net base width.
    T, beta1, beta2 : int, float, float
        Diffusion schedule.
    bounds : dict
        Default ``(low, high)`` per condition name; names not listed default to ``(0, 1)``.
    """

    name: str
    in_shape: tuple[int, int, int, int]
    latent_ch: int
    first_stride: int
    fp_names: tuple[str, ...]
    condition_names: tuple[str, ...]
    phases: int = 2
    channels: tuple[int, ...] = DEFAULT_CHANNELS
    n_feat: int = 512
    T: int = 1000
    beta1: float = 1e-4
    beta2: float = 0.02
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.in_shape) != 4:
            raise ValueError(f"in_shape must be (C, X, Y, Z), got {self.in_shape}")
        if self.first_stride not in (1, 2):
            raise ValueError(f"first_stride must be 1 or 2, got {self.first_stride}")
        f = 8 * self.first_stride
        if any(s % (4 * f) for s in self.in_shape[1:]):
            raise ValueError(
                f"pack {self.name!r}: volume sizes {self.in_shape[1:]} must be divisible by {4 * f} "
                f"(VAE downsampling {f} times the denoiser's 4)"
            )
        if not self.condition_names or not self.fp_names:
            raise ValueError(f"pack {self.name!r}: needs condition_names and fp_names")

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """``(L, x, y, z)`` of one latent."""
        f = 8 * self.first_stride
        return (self.latent_ch, *(s // f for s in self.in_shape[1:]))

    @property
    def volume_shape(self) -> tuple[int, int, int]:
        """``(X, Y, Z)`` of one generated volume."""
        return tuple(self.in_shape[1:])  # type: ignore[return-value]

    @property
    def latent_size(self) -> int:
        """Number of entries of one flattened latent (the FP's input size)."""
        return math.prod(self.latent_shape)


_CT_FP = (
    "norm_STAT_e",
    "ABS_wf_D",
    "ABS_f_D",
    "DISS_wf10_D",
    "CT_f_e_conn",
    "CT_f_D_tort1",
    "CT_f_A_tort1",
)
_TWO_PHASE_CONTEXT = ("ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1")

PACKS: dict[str, PackConfig] = {
    "experimental": PackConfig(
        name="experimental",
        in_shape=(1, 64, 64, 64),
        latent_ch=1,
        first_stride=1,
        fp_names=_TWO_PHASE_CONTEXT,
        condition_names=_TWO_PHASE_CONTEXT,
    ),
    "ch_2phase": PackConfig(
        name="ch_2phase",
        in_shape=(1, 128, 128, 64),
        latent_ch=4,
        first_stride=2,
        fp_names=_CT_FP,
        condition_names=_TWO_PHASE_CONTEXT,
    ),
    "ch_3phase": PackConfig(
        name="ch_3phase",
        in_shape=(1, 128, 128, 64),
        latent_ch=4,
        first_stride=2,
        fp_names=(
            "vol_frac_D",
            "vol_frac_M",
            "tortuosity_A",
            "tortuosity_D",
            *RECIPE_NAMES,
        ),
        condition_names=("vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D"),
        phases=3,
        # Tortuosities are >= 1 by definition; the upper end is a broad default, to be overridden
        # with the training data's range where known.
        bounds={"tortuosity_A": (1.0, 2.0), "tortuosity_D": (1.0, 2.0)},
    ),
}


def get_pack(pack: str | PackConfig) -> PackConfig:
    """Return the :class:`PackConfig` for a pack name (or pass a config through)."""
    if isinstance(pack, PackConfig):
        return pack
    if pack not in PACKS:
        raise ValueError(f"unknown MicroGen3D pack {pack!r}; known packs: {', '.join(PACKS)}")
    return PACKS[pack]


def build_vae(cfg: PackConfig, device: torch.device | str | None = None) -> VAE:
    """The pack's VAE (on ``device``; ``"meta"`` builds it without allocating memory)."""
    with torch.device(device or "cpu"):
        return VAE(cfg.in_shape[0], cfg.latent_ch, cfg.first_stride, cfg.channels)


def build_fp(cfg: PackConfig, device: torch.device | str | None = None) -> FeaturePredictor:
    """The pack's feature predictor."""
    with torch.device(device or "cpu"):
        return FeaturePredictor(cfg.latent_size, len(cfg.fp_names))


def build_denoiser(cfg: PackConfig, device: torch.device | str | None = None) -> Denoiser:
    """The pack's denoiser (schedule buffers are computed on the CPU, then moved)."""
    with torch.device(device or "cpu"):
        den = Denoiser(cfg.latent_ch, cfg.n_feat, len(cfg.condition_names), cfg.T, cfg.beta1, cfg.beta2)
    return den


def build_modules(
    cfg: str | PackConfig, device: torch.device | str | None = None
) -> tuple[VAE, FeaturePredictor, Denoiser]:
    """Freshly initialised ``(vae, fp, denoiser)`` for a pack or custom config."""
    cfg = get_pack(cfg)
    return build_vae(cfg, device), build_fp(cfg, device), build_denoiser(cfg, device)
