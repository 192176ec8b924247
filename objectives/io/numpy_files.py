"""NumPy volume files: ``.npy`` and ``.npz``.

Layouts
-------
- ``.npy``: the label array itself, ``arr[x, y, z]`` (or ``arr[x, y]``). A 4-D array is read as a
  batch ``(B, X, Y, Z)`` and ``index`` picks one volume.
- ``.npz`` written here: the labels under key ``volume`` (compressed), and the sample attributes, if
  any, as a JSON string under key ``attrs``.
- ``.npz`` read: key ``volume``; else the project's fixture format, ``packed`` =
  ``np.packbits(arr.astype(uint8).ravel())`` (C order) and ``shape`` = its shape (two-phase only);
  else a file holding exactly one array. Other keys (``labels_note``, ``attrs``) are ignored.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from objectives.io.labels import check_labels, plain_attrs


def _why(exc: BaseException) -> str:
    """numpy's reason a file cannot be read, without its advice to load pickles unsafely."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "pickle" in text.lower() or "object arrays" in text.lower():
        return "it holds Python objects (pickled data), which are never loaded; save plain arrays"
    return text


def _pick(arr: np.ndarray, index: int, path: Path) -> np.ndarray:
    """Pick volume ``index`` of a 4-D batch, or check ``index == 0`` for a single volume."""
    if arr.ndim == 4:
        if not -arr.shape[0] <= index < arr.shape[0]:
            raise ValueError(f"{path}: index {index} out of range for {arr.shape[0]} volumes")
        return arr[index]
    if index != 0:
        raise ValueError(f"{path}: the file holds one volume, index must be 0 (got {index})")
    return arr


def read_npy(path: str | os.PathLike[str], index: int = 0) -> np.ndarray:
    """Read labels from a ``.npy`` file (a 4-D array is a batch and ``index`` picks one)."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npy file ({_why(exc)})") from None
    return check_labels(_pick(arr, index, path), path)


def write_npy(path: str | os.PathLike[str], volume: Any) -> None:
    """Write labels to a ``.npy`` file as ``uint8``."""
    np.save(Path(path), check_labels(volume, path), allow_pickle=False)


def _unpack_fixture(data: Any, path: Path) -> np.ndarray:
    shape = tuple(int(s) for s in np.asarray(data["shape"]).ravel())
    packed = np.asarray(data["packed"], dtype=np.uint8).ravel()
    n = int(np.prod(shape))
    if any(s <= 0 for s in shape) or packed.size * 8 < n:
        raise ValueError(f"{path}: packed array too short for shape {shape}")
    return np.unpackbits(packed)[:n].reshape(shape)


def read_npz_sample(path: str | os.PathLike[str], index: int = 0) -> tuple[np.ndarray, dict]:
    """Read labels and attributes from a ``.npz`` file (layouts in the module docstring)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.keys())
            if "volume" in keys:
                arr = data["volume"]
            elif "packed" in keys and "shape" in keys:
                arr = _unpack_fixture(data, path)
            elif len(keys) == 1:
                arr = data[keys[0]]
            else:
                raise ValueError(
                    f"{path}: {len(keys)} arrays and none named 'volume' (or 'packed' + 'shape'): "
                    f"keys {', '.join(repr(k) for k in keys) or 'none'}; save the labels under 'volume'"
                )
            attrs = json.loads(str(data["attrs"])) if "attrs" in keys else {}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({_why(exc)})") from None
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({_why(exc)})") from None
    if not isinstance(attrs, dict):
        raise ValueError(f"{path}: 'attrs' must hold a JSON object")
    return check_labels(_pick(arr, index, path), path), attrs


def write_npz(path: str | os.PathLike[str], volume: Any, attrs: dict | None = None) -> None:
    """Write labels (key ``volume``) and optional attributes (JSON, key ``attrs``) to ``.npz``."""
    arrays: dict[str, np.ndarray] = {"volume": check_labels(volume, path)}
    attrs = plain_attrs(attrs, path)
    if attrs:
        arrays["attrs"] = np.array(json.dumps(attrs, allow_nan=True))
    with open(Path(path), "wb") as fh:
        np.savez_compressed(fh, **arrays)
