"""Reading and checking the published ``vae.pt`` / ``fp.pt`` / ``ddpm.pt`` state dicts."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

StateSource = str | os.PathLike | Mapping[str, torch.Tensor]

# A key only one of the three files holds, to name a swapped file in error messages.
_SIGNATURE_KEYS = {
    "encoder.conv_layers.0.weight": "vae",
    "fc1.weight": "fp",
    "nn_model.init_conv.conv1.0.weight": "ddpm",
}
_NAMED_MAX = 5


def _describe(source: StateSource, role: str) -> str:
    if isinstance(source, Mapping):
        return f"{role} state dict (in memory)"
    return f"{role} file {os.fspath(source)!r}"


def read_state_dict(source: StateSource, role: str, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Load a plain state dict safely (``weights_only=True``) and check it holds only tensors.

    Parameters
    ----------
    source : path or mapping
        A ``torch.save(state_dict)`` file, or an in-memory state dict.
    role : str
        ``"vae"``, ``"fp"`` or ``"ddpm"`` (for messages).
    device : device
        ``map_location`` for loading.

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    ValueError
        If the file cannot be read as a state dict (truncated, not a PyTorch file, or holding
        objects other than tensors), naming the file.
    """
    what = _describe(source, role)
    if isinstance(source, Mapping):
        sd = dict(source)
    else:
        path = Path(source)
        if path.is_dir():
            raise ValueError(f"{what}: is a directory; give the {role}.pt file inside it")
        if not path.is_file():
            raise FileNotFoundError(f"{what}: no such file")
        try:
            sd = torch.load(path, map_location=device, weights_only=True)
        except pickle.UnpicklingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"{what}: refused by safe loading (weights_only=True); it holds objects other "
                f"than tensors, or is not a PyTorch file ({first})"
            ) from None
        except Exception as exc:  # truncated zip, random bytes, ... : torch raises many types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"{what}: cannot be read as a PyTorch state dict (truncated or corrupt?): "
                f"{type(exc).__name__}: {first}"
            ) from None
    if not isinstance(sd, Mapping):
        raise ValueError(f"{what}: expected a state dict (a dict of tensors), got {type(sd).__name__}")
    if "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
        raise ValueError(
            f"{what}: looks like a training checkpoint; pass the plain state dict "
            f"(checkpoint['state_dict']) saved with torch.save"
        )
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(
            f"{what}: expected a dict of tensors; entries that are not: {', '.join(map(repr, bad[:_NAMED_MAX]))}"
        )
    return dict(sd)


def _first(names: list[str]) -> str:
    more = f" (+{len(names) - _NAMED_MAX} more)" if len(names) > _NAMED_MAX else ""
    return ", ".join(names[:_NAMED_MAX]) + more


def check_state_dict(module: nn.Module, sd: Mapping[str, torch.Tensor], what: str, role: str = "") -> None:
    """Check ``sd`` has exactly the keys and shapes of ``module.state_dict()``.

    ``module`` may live on the ``meta`` device. Raises ValueError naming ``what`` and the first
    missing/unexpected keys or the first shape mismatch.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_first(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_first(unexpected)}")
        hint = ""
        for key, other in _SIGNATURE_KEYS.items():
            if key in sd and other != role:
                hint = f" (it looks like a {other}.pt file)"
                break
        raise ValueError(f"{what} does not match the expected {role or 'model'} layout{hint}: " + "; ".join(parts))
    for k, ref in expected.items():
        got = sd[k]
        if tuple(got.shape) != tuple(ref.shape):
            raise ValueError(
                f"{what}: shape mismatch at {k!r}: expected {tuple(ref.shape)}, got {tuple(got.shape)} "
                f"(weights of a different pack or configuration?)"
            )
        if not (got.is_floating_point() or got.is_complex()) and ref.is_floating_point():
            raise ValueError(f"{what}: {k!r} has dtype {got.dtype}, expected a floating tensor")


def load_into(
    module: nn.Module,
    source: StateSource,
    role: str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> nn.Module:
    """Read, check and load ``source`` into ``module`` (typically built on ``meta``), in place.

    Tensors are cast to ``dtype`` on ``device`` and assigned (no second copy of the weights).
    """
    sd = read_state_dict(source, role, device)
    what = _describe(source, role)
    check_state_dict(module, sd, what, role)
    ready = {k: v.to(device=device, dtype=dtype) for k, v in sd.items()}
    module.load_state_dict(ready, strict=True, assign=True)
    return module
