"""TIFF stacks (``.tif``/``.tiff``) via tifffile.

Axis convention: one page per film layer z, each page an image of ``X`` rows by ``Y`` columns, so
the stack on disk is ``(Z, X, Y)`` (what ``tifffile.imread`` returns) and the labels are
``stack.transpose(1, 2, 0)`` = ``arr[x, y, z]``. A 2-D volume ``arr[x, y]`` is one page.
Files are written as ``uint8`` with tifffile's shape metadata, so a 3-D volume of one layer reads
back 3-D; a plain single-page TIFF from another tool reads as 2-D.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from objectives.io.labels import check_labels


def _tifffile():
    try:
        import tifffile
    except ImportError as exc:  # pragma: no cover - tifffile is a dependency
        raise ValueError("reading .tif files needs the tifffile package") from exc
    return tifffile


def read_tiff(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a TIFF stack ``(Z, X, Y)`` (or one page ``(X, Y)``) as labels ``arr[x, y, z]``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    tifffile = _tifffile()
    try:
        with tifffile.TiffFile(path) as tif:
            colour = any(page.samplesperpixel > 1 for page in tif.pages)
            stack = np.asarray(tif.asarray())
    except Exception as exc:  # tifffile raises many types for bad files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not a readable TIFF file ({reason})") from None
    if colour:
        raise ValueError(f"{path}: TIFF pages hold colour samples, expected grey label pages")
    if stack.ndim == 3:
        stack = stack.transpose(1, 2, 0)
    elif stack.ndim != 2:
        raise ValueError(
            f"{path}: expected a stack of grey pages (Z, X, Y), got shape {stack.shape}"
        )
    return check_labels(stack, path)


def write_tiff(path: str | os.PathLike[str], volume: Any) -> None:
    """Write labels ``arr[x, y, z]`` as a ``uint8`` TIFF stack, one page per z layer."""
    arr = check_labels(volume, path)
    stack = arr.transpose(2, 0, 1) if arr.ndim == 3 else arr
    _tifffile().imwrite(Path(path), np.ascontiguousarray(stack), photometric="minisblack")
