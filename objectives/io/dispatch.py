"""Reading and writing label volumes by file extension.

==============  ==========================================  ===========  ============
extension       format                                      attributes   samples
==============  ==========================================  ===========  ============
.npy            NumPy array                                 no           1 (4-D: B)
.npz            NumPy archive (``volume``; fixture format)  yes (JSON)   1 (4-D: B)
.h5, .hdf5      MicroGen3D's layout, one dataset a sample   yes          many
.vti            VTK ImageData XML                           numeric      1
.tif, .tiff     TIFF stack, one page per z layer            no           1
.txt            GraSPI array text (mixed phase as 3)        no           1
==============  ==========================================  ===========  ============
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from objectives.io.graspi_txt import read_graspi_txt, write_graspi_txt
from objectives.io.hdf5 import read_h5_sample, write_h5_samples
from objectives.io.labels import plain_attrs
from objectives.io.numpy_files import read_npy, read_npz_sample, write_npy, write_npz
from objectives.io.tiff import read_tiff, write_tiff
from objectives.io.vti import read_vti_sample, write_vti

FORMATS = {
    ".npy": "npy", ".npz": "npz", ".h5": "h5", ".hdf5": "h5", ".vti": "vti",
    ".tif": "tiff", ".tiff": "tiff", ".txt": "graspi",
}
FORMATS_WITH_ATTRS = ("npz", "h5", "vti")


def volume_format(path: str | os.PathLike[str]) -> str:
    """The format name of ``path`` from its extension (``npy``, ``npz``, ``h5``, ``vti``, ...).

    Raises
    ------
    ValueError
        The extension is not one of :data:`FORMATS`.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise ValueError(f"{path}: unknown volume file extension {suffix!r} (known: {known})")
    return FORMATS[suffix]


def _single(path: Path, index: int) -> None:
    if index != 0:
        raise ValueError(f"{path}: the file holds one volume, index must be 0 (got {index})")


def read_sample(path: str | os.PathLike[str], index: int | str = 0) -> tuple[np.ndarray, dict]:
    """Read one volume and its attributes (empty where the format has none).

    Parameters
    ----------
    path
        Volume file; the format follows the extension (see the module table).
    index
        Sample position for files of many samples (``.h5``, 4-D ``.npy``/``.npz``); an ``.h5``
        sample may also be given by name. Must be 0 for single-volume files.

    Returns
    -------
    volume : numpy.ndarray
        ``uint8`` labels ``arr[x, y, z]`` (or ``arr[x, y]``): 0 donor, 1 acceptor, 2 mixed; the last
        axis is the film thickness.
    attrs : dict
        Per-sample attributes (descriptors, recipe values) where the format stores them.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Unknown extension, unreadable content, wrong dimensions or labels, bad index.
    """
    path = Path(path)
    fmt = volume_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if fmt == "h5":
        volume, attrs, _ = read_h5_sample(path, index)
        return volume, attrs
    if isinstance(index, str):
        raise ValueError(f"{path}: samples can be picked by name only in .h5 files")
    if fmt == "npy":
        return read_npy(path, index), {}
    if fmt == "npz":
        return read_npz_sample(path, index)
    _single(path, index)
    if fmt == "vti":
        return read_vti_sample(path)
    if fmt == "tiff":
        return read_tiff(path), {}
    return read_graspi_txt(path), {}


def read_volume(path: str | os.PathLike[str], index: int | str = 0) -> np.ndarray:
    """Read one label volume ``arr[x, y, z]`` (``uint8``) from any supported file.

    See :func:`read_sample` for parameters and errors.
    """
    return read_sample(path, index)[0]


def write_volume(
    path: str | os.PathLike[str],
    volume: Any,
    attrs: dict | None = None,
    *,
    vti_encoding: str = "appended",
) -> None:
    """Write one label volume to a file whose format follows the extension.

    Parameters
    ----------
    path
        Destination; an existing file is replaced (an ``.h5`` file too: it then holds this one
        sample; use :func:`write_h5_samples` to append).
    volume
        Labels ``arr[x, y, z]`` or ``arr[x, y]`` of 0, 1, 2 (numpy array or torch tensor).
    attrs
        Per-sample attributes, kept by ``.npz``, ``.h5`` and (numeric only) ``.vti``; other
        formats cannot hold them and a warning says so.
    vti_encoding
        ``"ascii"``, ``"base64"`` or ``"appended"`` for ``.vti`` files.

    Raises
    ------
    ValueError
        Unknown extension, bad labels or dimensions, or a shape the format cannot hold.
    """
    path = Path(path)
    fmt = volume_format(path)
    attrs = plain_attrs(attrs, path)
    if attrs and fmt not in FORMATS_WITH_ATTRS:
        warnings.warn(f"{path}: {fmt} files hold no attributes; {len(attrs)} dropped", stacklevel=2)
    if fmt == "npy":
        write_npy(path, volume)
    elif fmt == "npz":
        write_npz(path, volume, attrs)
    elif fmt == "h5":
        write_h5_samples(path, [volume], [attrs or {}], mode="w")
    elif fmt == "vti":
        write_vti(path, volume, attrs, encoding=vti_encoding)
    elif fmt == "tiff":
        write_tiff(path, volume)
    else:
        write_graspi_txt(path, volume)
