"""Checking and normalising label volumes on their way in and out of files.

Every reader in :mod:`objectives.io` returns a C-contiguous ``numpy.uint8`` array ``arr[x, y]`` or
``arr[x, y, z]`` of labels 0 (donor), 1 (acceptor), 2 (mixed); the last axis is the film thickness.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

LABELS = (0, 1, 2)


def as_numpy(volume: Any) -> np.ndarray:
    """Return ``volume`` as a numpy array (torch tensors on any device are copied to the host)."""
    if hasattr(volume, "detach") and hasattr(volume, "cpu"):
        volume = volume.detach().cpu().numpy()
    return np.asarray(volume)


def check_labels(
    volume: Any,
    source: str | os.PathLike[str],
    *,
    ndims: tuple[int, ...] = (2, 3),
    allowed: tuple[int, ...] = LABELS,
) -> np.ndarray:
    """Validate a label volume and return it as C-contiguous ``uint8``.

    Parameters
    ----------
    volume
        Array-like of integer labels (integral floats and booleans are accepted).
    source
        File (or other origin) named in error messages.
    ndims
        Accepted numbers of dimensions (2-D ``(X, Y)`` and 3-D ``(X, Y, Z)`` by default).
    allowed
        Accepted label values (0 donor, 1 acceptor, 2 mixed by default).

    Returns
    -------
    numpy.ndarray
        ``uint8`` labels with the same shape.

    Raises
    ------
    ValueError
        Wrong number of dimensions, an empty axis, non-numeric data, non-integral values or labels
        outside ``allowed``; the message names ``source``.
    """
    arr = as_numpy(volume)
    if arr.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{source}: expected a {want} label volume, got shape {tuple(arr.shape)}")
    if arr.size == 0:
        raise ValueError(f"{source}: the volume is empty (shape {tuple(arr.shape)})")
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{source}: labels must be numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{source}: labels hold NaN or infinite values")
        if not np.all(arr == np.round(arr)):
            bad = arr[arr != np.round(arr)].flat[0]
            raise ValueError(
                f"{source}: labels must be whole numbers {allowed}, found {bad:g} "
                "(threshold continuous volumes first)"
            )
    lo, hi = arr.min(), arr.max()
    if 0 <= lo and hi <= 255:  # fast path: a histogram instead of a sort
        present = np.flatnonzero(np.bincount(arr.ravel().astype(np.uint8, copy=False)))
    else:
        present = np.unique(arr)
    extra = [v for v in present.tolist() if v not in allowed]
    if extra:
        shown = ", ".join(f"{v:g}" for v in extra[:5])
        raise ValueError(f"{source}: labels must be in {set(allowed)}, found {shown}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def plain_attrs(attrs: dict | None, source: str | os.PathLike[str]) -> dict:
    """Sample attributes as plain Python values (numpy/torch scalars -> ``float``/``int``).

    Raises
    ------
    ValueError
        A key is not a non-empty string, or a value is not a number, bool or string (or a
        one-element array of one).
    """
    out: dict = {}
    for key, value in (attrs or {}).items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"{source}: attribute names must be non-empty strings, got {key!r}")
        if hasattr(value, "detach") or isinstance(value, (np.ndarray, np.generic)):
            arr = as_numpy(value)
            if arr.size != 1 or arr.dtype.kind not in "biuf":
                raise ValueError(f"{source}: attribute {key!r} must be one number, got shape {arr.shape}")
            value = arr.item()
        if not isinstance(value, (bool, int, float, str)):
            raise ValueError(
                f"{source}: attribute {key!r} must be a number or a string, got {type(value).__name__}"
            )
        out[key] = value
    return out
