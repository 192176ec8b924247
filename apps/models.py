"""Choosing a generator for the dashboard: shipped names, weight directories, MicroGen3D packs.

Loading is delegated to ``generators.load`` (shipped names and model directories) and
``generators.microgen3d.load_pack`` (the paper's three files); this module only decides which to
call and summarises what the generator declares (conditions, ranges, training summary).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from generators.diffusion.model_dir import available_models
from generators.microgen3d.packs import PACKS as _PACK_TABLE

#: The paper's pack names (the one table: ``generators.microgen3d.PACKS``).
PACKS = tuple(_PACK_TABLE)
_PACK_FILES = ("vae", "fp", "ddpm")

Factory = Callable[[str], Any]


def shipped_names() -> list[str]:
    """Names accepted by ``generators.load`` without a directory (those shipped in the package)."""
    return available_models()


def find_pack_files(directory: str | Path) -> dict[str, Path]:
    """The MicroGen3D files in ``directory``: ``{"vae": ..., "fp": ..., "ddpm": ...}``.

    A file counts when its name starts with the part's name and ends in ``.pt``/``.pth``/``.ckpt``.
    Returns an empty dict when any of the three is missing.
    """
    files: dict[str, Path] = {}
    for part in _PACK_FILES:
        hits = sorted(p for p in Path(directory).iterdir()
                      if p.suffix in (".pt", ".pth", ".ckpt") and p.name.lower().startswith(part))
        if hits:
            files[part] = hits[0]
    return files if len(files) == len(_PACK_FILES) else {}


def load_model(spec: str, device: str = "cpu", pack: str | None = None,
               extra: Mapping[str, Factory] | None = None) -> Any:
    """Load the generator named by ``spec``.

    Parameters
    ----------
    spec : str
        A name from ``extra`` (generators registered by whoever starts the app), a shipped name
        (``"ch2-default"``), a model directory (``config.json`` + safetensors) or a directory with the
        paper's ``vae*.pt``, ``fp*.pt``, ``ddpm*.pt`` (then ``pack`` names its layout).
    device : str
        Torch device for the generator.

    Raises
    ------
    ValueError
        Unknown name, a directory that is neither kind, or weights the loaders refuse.
    """
    spec = (spec or "").strip()
    if not spec:
        raise ValueError("no model given: choose a shipped model or give a weights directory")
    if extra and spec in extra:
        return extra[spec](device)
    path = Path(spec).expanduser()
    try:
        if path.is_dir() and not (path / "config.json").exists():
            files = find_pack_files(path)
            if not files:
                raise ValueError(
                    f"{path} is not a model directory: it has no config.json and no MicroGen3D "
                    "vae*.pt, fp*.pt, ddpm*.pt files"
                )
            if pack not in PACKS:
                raise ValueError(f"{path} holds MicroGen3D weights: choose a pack ({', '.join(PACKS)})")
            from generators.microgen3d import load_pack

            return load_pack(pack, vae=files["vae"], fp=files["fp"], ddpm=files["ddpm"], device=device)
        if not path.exists() and ("/" in spec or spec.startswith(".")):
            raise ValueError(f"weights directory {path} does not exist")
        import generators

        if not hasattr(generators, "load"):
            raise ValueError("this installation has no model loader (generators.load) yet")
        return generators.load(spec, device=device)
    except (OSError, RuntimeError, KeyError) as exc:
        raise ValueError(f"cannot load model {spec!r}: {exc}") from None


def describe_model(generator: Any) -> dict[str, Any]:
    """What the page shows about a generator: conditions with ranges, phases, shape, summary.

    Returns
    -------
    dict
        ``conditions`` (name -> (low, high)), ``phases``, ``shape``, ``predicted`` (names of the
        per-volume predictions, e.g. the recipe), ``constraints`` (BoTorch-format linear
        inequalities) and ``training`` (the training summary from the model's config, if any).
    """
    bounds = generator.bounds.detach().cpu().double().numpy()
    names = tuple(generator.condition_names)
    config = getattr(generator, "config", None)
    if config is not None and not isinstance(config, Mapping):
        config = getattr(config, "__dict__", {})
    training = dict((config or {}).get("training", (config or {}).get("training_summary", {})) or {})
    return {
        "conditions": {n: (float(bounds[0, i]), float(bounds[1, i])) for i, n in enumerate(names)},
        "phases": int(generator.phases),
        "shape": tuple(int(s) for s in generator.shape),
        "predicted": tuple(getattr(generator, "predicted_names", ()) or ()),
        "constraints": list(getattr(generator, "inequality_constraints", []) or []),
        "training": training,
    }
