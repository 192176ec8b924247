"""Model directories: ``config.json`` + ``vae.safetensors``, ``fp.safetensors``,
``denoiser.safetensors`` and, optionally, the recipe surrogate ``surrogate.safetensors``
(:mod:`generators.surrogate`); saving, loading and resolving shipped names.

A directory without a surrogate loads as before; :func:`load_surrogate` then returns None.

Shipped models live inside the package at ``generators/weights/<name>/`` (e.g. ``ch2-default``,
``ch3-default``) and are found by name.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from generators.diffusion.config import ModelConfig
from generators.diffusion.latent_model import CompactLatentModel
from generators.surrogate import FILENAME as SURROGATE_FILE
from generators.surrogate import RecipeSurrogate

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
PARTS = ("vae", "fp", "denoiser")


def available_models() -> list[str]:
    """Names of the shipped models (directories under ``generators/weights`` with a config)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / "config.json").is_file())


def resolve(name_or_dir: str | Path) -> Path:
    """A model directory from a path or a shipped name.

    Raises
    ------
    ValueError
        If it is neither a directory holding ``config.json`` nor a shipped name (the message lists
        the shipped names).
    """
    p = Path(name_or_dir).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ValueError(f"{p} is not a model directory (no config.json)")
        return p
    shipped = WEIGHTS_DIR / str(name_or_dir)
    if (shipped / "config.json").is_file():
        return shipped
    names = ", ".join(available_models()) or "none installed"
    raise ValueError(f"no model directory or shipped model named {str(name_or_dir)!r}; shipped models: {names}")


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


def save_model(directory: str | Path, model: CompactLatentModel, config: ModelConfig | None = None) -> Path:
    """Write ``config.json`` and the three safetensors files of ``model`` into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (config or model.config).save(d / "config.json")
    for part in PARTS:
        save_file(_state(getattr(model, part)), str(d / f"{part}.safetensors"))
    return d


def load_model(name_or_dir: str | Path, device: str | torch.device = "cpu") -> CompactLatentModel:
    """Rebuild the latent model of a model directory (or shipped name) on ``device``.

    Raises
    ------
    ValueError
        For an unknown name, a bad config, a missing weight file or weights that do not fit.
    """
    d = resolve(name_or_dir)
    config = ModelConfig.load(d / "config.json")
    if config.family == "microgen3d":
        raise ValueError(
            f"model family {config.family!r} in {d}: load the paper's weights with "
            "generators.microgen3d.load_pack"
        )
    model = CompactLatentModel(config)
    for part in PARTS:
        f = d / f"{part}.safetensors"
        if not f.is_file():
            raise ValueError(f"model directory {d} lacks {f.name}")
        try:
            getattr(model, part).load_state_dict(load_file(str(f)))
        except RuntimeError as exc:
            raise ValueError(f"{f} does not fit the architecture in config.json: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval()


def load_surrogate(name_or_dir: str | Path) -> RecipeSurrogate | None:
    """The recipe surrogate shipped in a model directory (or shipped name), or None if it has none.

    Raises
    ------
    ValueError
        Unknown model, or a surrogate file that is not one.
    """
    f = resolve(name_or_dir) / SURROGATE_FILE
    return RecipeSurrogate.load(f) if f.is_file() else None


def save_surrogate(name_or_dir: str | Path, surrogate: RecipeSurrogate) -> Path:
    """Write ``surrogate`` into a model directory (or shipped name) as ``surrogate.safetensors``
    (replacing one already there); return the file."""
    return surrogate.save(resolve(name_or_dir) / SURROGATE_FILE)
