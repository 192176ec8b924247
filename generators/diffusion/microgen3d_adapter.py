"""Use the paper's modules (``generators.microgen3d``) with this package's samplers and generator.

:func:`paper_config` describes a published pack (the table of ``shared/spec/microgen3d.md``) as a
:class:`ModelConfig`; :func:`from_modules` wraps the three modules in a
:class:`MicroGen3DLatentModel`; :func:`from_pack` does the same for what
``generators.microgen3d.load_pack`` returns (any object with ``vae``, ``fp`` and ``denoiser`` (or
``ddpm``) attributes). The result feeds :class:`LatentDiffusionGenerator`, so the paper's weights
can be sampled with DPM-Solver++ or DDIM as well as the published 998-step loop.
"""

from __future__ import annotations

from torch import nn

from generators.diffusion.config import ModelConfig, Stats
from generators.diffusion.generator import LatentDiffusionGenerator
from generators.diffusion.latent_model import MicroGen3DLatentModel

_TWO = ["ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1"]
_THREE = ["vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D"]
PACKS: dict[str, dict] = {
    "experimental": {"phases": 2, "shape": [64, 64, 64], "latent": [1, 8, 8, 8], "fp": _TWO, "context": _TWO},
    "ch_2phase": {"phases": 2, "shape": [128, 128, 64], "latent": [4, 8, 8, 4],
                  "fp": ["norm_STAT_e", "ABS_wf_D", "ABS_f_D", "DISS_wf10_D", "CT_f_e_conn", "CT_f_D_tort1",
                         "CT_f_A_tort1"], "context": _TWO},
    "ch_3phase": {"phases": 3, "shape": [128, 128, 64], "latent": [4, 8, 8, 4],
                  "fp": [*_THREE, "phi", "chi", "log_time"], "context": _THREE},
}
#: Placeholder condition ranges (the paper does not publish its training ranges): fractions in
#: [0, 1], tortuosities in [1, 2]. Pass ``bounds=`` to override.
_DEFAULT_RANGE = {"tortuosity_A": (1.0, 2.0), "tortuosity_D": (1.0, 2.0)}


def paper_config(pack: str, bounds: dict[str, tuple[float, float]] | None = None) -> ModelConfig:
    """The :class:`ModelConfig` of a published pack (``experimental``, ``ch_2phase``, ``ch_3phase``)."""
    if pack not in PACKS:
        raise ValueError(f"unknown MicroGen3D pack {pack!r}; choose one of {sorted(PACKS)}")
    p = PACKS[pack]
    rng = {**_DEFAULT_RANGE, **(bounds or {})}
    lo = [rng.get(k, (0.0, 1.0))[0] for k in p["context"]]
    hi = [rng.get(k, (0.0, 1.0))[1] for k in p["context"]]
    return _config(pack, p["phases"], p["shape"], p["latent"], p["context"], p["fp"], lo, hi)


def _config(name: str, phases: int, shape: list[int], latent: list[int], context: list[str],
            fp: list[str], lo: list[float], hi: list[float]) -> ModelConfig:
    """A MicroGen3D pack as a :class:`ModelConfig`: conditions scaled from ``[lo, hi]`` (mean the
    centre, std a quarter of the range), FP outputs unscaled, the published sampler by default."""
    n = len(fp)
    return ModelConfig(
        family="microgen3d", phases=phases, shape=shape, latent_shape=latent,
        architecture={"pack": {"name": name}},
        conditions=Stats(context, lo, hi, [(a + b) / 2 for a, b in zip(lo, hi)],
                         [(b - a) / 4 for a, b in zip(lo, hi)]),
        fp_outputs=Stats(fp, [0.0] * n, [1.0] * n, [0.0] * n, [1.0] * n),
        sampler={"name": "ancestral", "steps": None, "guidance": 1.0})


def from_modules(vae: nn.Module, fp: nn.Module, denoiser: nn.Module, pack: str, device="cpu",
                 bounds: dict[str, tuple[float, float]] | None = None) -> LatentDiffusionGenerator:
    """A generator over the paper's three modules (default sampler: the published 998-step loop)."""
    model = MicroGen3DLatentModel(vae, fp, denoiser, paper_config(pack, bounds))
    return LatentDiffusionGenerator(model, device)


def from_pack(loaded, pack: str | None = None, device="cpu", bounds=None) -> LatentDiffusionGenerator:
    """A generator over what ``generators.microgen3d.load_pack`` returns (a ``MicroGen3D``).

    Its pack config (names, shapes), labeler and bounds are used when present; otherwise ``pack``
    names a published pack.
    """
    den = getattr(loaded, "denoiser", None) or getattr(loaded, "ddpm", None)
    vae, fp = getattr(loaded, "vae", None), getattr(loaded, "fp", None)
    if den is None or vae is None or fp is None:
        raise ValueError("expected an object with vae, fp and denoiser (or ddpm) modules")
    cfg_src = getattr(loaded, "pack", None)
    if cfg_src is not None and hasattr(cfg_src, "fp_names"):
        b = getattr(loaded, "bounds", None)
        d = len(cfg_src.condition_names)
        lo, hi = (b[0].tolist(), b[1].tolist()) if b is not None else ([0.0] * d, [1.0] * d)
        config = _config(str(getattr(cfg_src, "name", pack)), int(getattr(loaded, "phases", cfg_src.phases)),
                         list(cfg_src.volume_shape), list(cfg_src.latent_shape),
                         list(cfg_src.condition_names), list(cfg_src.fp_names), lo, hi)
        labeler = getattr(loaded, "labeler", None)
        to_labels = (lambda v: labeler(v[:, 0])) if labeler is not None else None
        return LatentDiffusionGenerator(MicroGen3DLatentModel(vae, fp, den, config, to_labels), device)
    if pack is None:
        raise ValueError("name the pack (experimental, ch_2phase, ch_3phase)")
    return from_modules(vae, fp, den, pack, device, bounds)
