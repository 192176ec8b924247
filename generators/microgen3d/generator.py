"""The one generator of the paper's weights: :class:`MicroGen3D` (made by :func:`load_pack`).

It is a :class:`~generators.diffusion.generator.LatentDiffusionGenerator` over
:class:`~generators.microgen3d.model.MicroGen3DLatentModel`, so the published weights run on the
same samplers (the published 998-step loop by default; DDIM, DPM-Solver++), guidance wrappers and
design loop as the project's own models, and expose the paper's modules and pack.
"""

from __future__ import annotations

import torch

from generators.diffusion.generator import LatentDiffusionGenerator
from generators.microgen3d.denoiser import Denoiser
from generators.microgen3d.feature_predictor import FeaturePredictor
from generators.microgen3d.model import Bounds, MicroGen3DLatentModel, pack_model_config
from generators.microgen3d.packs import PackConfig, build_denoiser, build_fp, build_vae, get_pack
from generators.microgen3d.vae import VAE
from generators.microgen3d.weights import load_into

#: ``labeler`` choices: the published 0.5 threshold (two phases) or the three grey levels.
LABELERS = {"binary": 2, "three_levels": 3}


class MicroGen3D(LatentDiffusionGenerator):
    """Conditional latent diffusion generator over a VAE, a feature predictor and a denoiser.

    Meets :class:`generators.protocol.Generator`. Usually made by :func:`load_pack`.

    Parameters
    ----------
    vae, fp, denoiser : modules
        The three networks (put in eval mode), on one device and dtype.
    pack : PackConfig
        Shapes and names.
    bounds : Tensor ``(2, d)`` or mapping name -> (low, high), optional
        Condition bounds; defaults to the pack's, ``[0, 1]`` for every name it does not list.
    batch_size : int
        Latents denoised together (default 32).
    decode_chunk : int
        Latents decoded together (default 8; decoding full volumes is the memory-hungry step).
    labeler : {"binary", "three_levels"}, optional
        How decoded grey volumes become labels (:mod:`generators.microgen3d.labels`): the
        published threshold 0.5 (``phases == 2``) or the three grey levels (``phases == 3``).
        Default: by the pack's phases.
    amp_dtype : torch.dtype, optional
        Run the denoiser and decoder under ``torch.autocast`` in this dtype (e.g.
        ``torch.bfloat16``); the sampler's updates stay in the networks' dtype. Default None.

    Attributes
    ----------
    vae, fp, denoiser, pack, fp_names, plus those of ``LatentDiffusionGenerator``.
    """

    def __init__(self, vae: VAE, fp: FeaturePredictor, denoiser: Denoiser, pack: PackConfig, *,
                 bounds: Bounds = None, batch_size: int = 32, decode_chunk: int = 8,
                 labeler: str | None = None, amp_dtype: torch.dtype | None = None) -> None:
        if labeler is not None and labeler not in LABELERS:
            raise ValueError(f"labeler must be one of {', '.join(LABELERS)}, got {labeler!r}")
        phases = LABELERS[labeler] if labeler is not None else pack.phases
        self.pack = pack
        model = MicroGen3DLatentModel(vae, fp, denoiser, pack_model_config(pack, bounds, phases))
        super().__init__(model, denoiser.alpha_t.device, amp_dtype=amp_dtype, batch_size=batch_size,
                         decode_chunk=decode_chunk)
        self.fp_names: tuple[str, ...] = tuple(pack.fp_names)

    def __repr__(self) -> str:
        return (f"MicroGen3D({self.pack.name}, phases={self.phases}, shape={self.shape}, "
                f"conditions={self.condition_names})")

    @property
    def vae(self) -> VAE:
        return self.model.vae

    @property
    def fp(self) -> FeaturePredictor:
        return self.model.fp

    @property
    def denoiser(self) -> Denoiser:
        return self.model.denoiser

    @torch.inference_mode()
    def decode_grey(self, latents: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Latents ``(B, L, x, y, z)`` -> grey volumes ``(B, X, Y, Z)`` in [0, 1], in chunks."""
        return self._in_chunks(self.model.decode_grey, latents, chunk, self.dtype)


def load_pack(pack: str | PackConfig, vae, fp, ddpm, device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32, **generator_options) -> MicroGen3D:
    """Build the generator of the paper's three files of a pack.

    Parameters
    ----------
    pack : str or PackConfig
        ``"experimental"``, ``"ch_2phase"``, ``"ch_3phase"`` or a custom config.
    vae, fp, ddpm : path or state dict
        ``vae.pt``, ``fp.pt``, ``ddpm.pt`` (plain ``torch.save(state_dict)`` files, read with
        ``weights_only=True``), or in-memory state dicts.
    device : device
        Where the networks run.
    dtype : torch.dtype
        Floating dtype of the networks and of the sampler updates (float32 as published; float64
        for reference checks).
    **generator_options
        Passed to :class:`MicroGen3D` (``bounds``, ``batch_size``, ``decode_chunk``, ``labeler``,
        ``amp_dtype``).

    Returns
    -------
    MicroGen3D
        Exposes ``.vae``, ``.fp``, ``.denoiser``, ``.pack``, ``.fp_names``, ``.condition_names``;
        ``sample(conditions, n, seed, sampler=..., steps=...)`` as every generator.

    Raises
    ------
    ValueError
        A file that cannot be read safely, is not a state dict, or does not match the pack (the
        message names the file and the first missing/unexpected keys or shape mismatch).
    FileNotFoundError
        A path that does not exist.
    """
    cfg = get_pack(pack)
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
    device = torch.device(device)
    v = load_into(build_vae(cfg, "meta"), vae, "vae", device, dtype)
    f = load_into(build_fp(cfg, "meta"), fp, "fp", device, dtype)
    d = load_into(build_denoiser(cfg, "meta"), ddpm, "ddpm", device, dtype)
    return MicroGen3D(v, f, d, cfg, **generator_options)
