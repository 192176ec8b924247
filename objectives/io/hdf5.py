"""HDF5 sample files in MicroGen3D's layout.

What MicroGen3D expects (read from baskargroup/MicroGen3D, ``training/dataloader.py``): its
``H5Dataset`` opens the file with h5py, takes ``keys = list(h5_file.keys())`` (the root members in
h5py's order, which is by name for files written without creation-order tracking), and for sample
``index`` reads ``h5_file[keys[index]][:]``, reshapes it to ``image_shape`` (``[1, 64, 64, 64]`` or
``[1, 128, 128, 64]``, C order) and casts it to float; the conditioning labels are
``[attrs[name] for name in attributes]``, i.e. one scalar **HDF5 attribute of that dataset** per
descriptor name (``ABS_f_D``, ``CT_f_D_tort1``, ``CT_f_A_tort1``, ``vol_frac_D``, ``phi``, ...). Data
paths may be globs over shards (``part_*.h5``). So:

- one dataset per sample, directly under the root, no groups;
- the dataset holds the labels ``arr[x, y, z]`` (C order, so MicroGen3D's reshape to
  ``(1, X, Y, Z)`` sees the same voxels); written here as ``uint8`` with gzip compression (the
  loader casts to float itself). Datasets of shape ``(1, X, Y, Z)`` are read too;
- descriptors, recipe parameters and other per-sample values are scalar attributes of the dataset;
- sample names are zero-padded (``sample_0000000``) so that h5py's name order, which MicroGen3D uses
  as the sample order, is the order in which they were written.

Index ``i`` below always means ``h5_sample_names(path)[i]``, i.e. MicroGen3D's ``keys[i]``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from objectives.io.labels import as_numpy, check_labels, plain_attrs

NAME_FORMAT = "sample_{:07d}"


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a dependency
        raise ValueError("reading .h5 files needs the h5py package") from exc
    return h5py


def _open(path: str | os.PathLike[str], mode: str = "r"):
    """Open an HDF5 file, turning h5py's errors into one-line ValueErrors naming the file."""
    path = Path(path)
    if mode == "r" and not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    h5py = _h5py()
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        what = "not a readable HDF5 file" if mode == "r" else "cannot open HDF5 file for writing"
        raise ValueError(f"{path}: {what} ({reason})") from None


def _dataset_names(fh, path: Path) -> list[str]:
    h5py = _h5py()
    try:
        return [name for name, obj in fh.items() if isinstance(obj, h5py.Dataset)]
    except (OSError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{path}: corrupt HDF5 file ({exc})") from None


def h5_sample_names(path: str | os.PathLike[str]) -> list[str]:
    """Names of the sample datasets in MicroGen3D's order (h5py's listing of the root).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not readable HDF5 (truncated, corrupt, another format).
    """
    path = Path(path)
    with _open(path) as fh:
        return _dataset_names(fh, path)


def _attr_value(value: Any) -> Any:
    """HDF5 attribute -> plain Python value (float, int, bool, str or list)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return value.item() if value.size == 1 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _resolve(names: list[str], which: int | str, path: Path) -> str:
    if not names:
        raise ValueError(f"{path}: the HDF5 file holds no sample datasets")
    if isinstance(which, str):
        if which not in names:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            raise ValueError(f"{path}: no sample named {which!r} (have {shown})")
        return which
    if not -len(names) <= int(which) < len(names):
        raise ValueError(f"{path}: index {which} out of range for {len(names)} samples")
    return names[int(which)]


def _read_dataset(fh, name: str, path: Path) -> tuple[np.ndarray, dict]:
    try:
        ds = fh[name]
        arr = ds[()]
        attrs = {str(k): _attr_value(v) for k, v in ds.attrs.items()}
    except (OSError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{path}: cannot read sample {name!r} ({exc})") from None
    arr = np.asarray(arr)
    if arr.ndim == 4 and arr.shape[0] == 1:  # MicroGen3D's (1, X, Y, Z) channel axis
        arr = arr[0]
    return check_labels(arr, f"{path}[{name}]"), attrs


def read_h5_sample(
    path: str | os.PathLike[str], which: int | str = 0
) -> tuple[np.ndarray, dict, str]:
    """Read one sample by index (MicroGen3D order) or by dataset name.

    Returns
    -------
    volume : numpy.ndarray
        ``uint8`` labels ``arr[x, y, z]`` (or ``arr[x, y]``).
    attrs : dict
        The dataset's attributes as plain Python values.
    name : str
        The dataset name.
    """
    path = Path(path)
    with _open(path) as fh:
        name = _resolve(_dataset_names(fh, path), which, path)
        volume, attrs = _read_dataset(fh, name, path)
    return volume, attrs, name


def read_h5_samples(
    path: str | os.PathLike[str], indices: Sequence[int] | None = None
) -> tuple[np.ndarray, list[dict], list[str]]:
    """Read several samples (all by default) as one stacked batch.

    Parameters
    ----------
    path
        The ``.h5`` file.
    indices
        Sample positions in MicroGen3D order; ``None`` reads every sample.

    Returns
    -------
    volumes : numpy.ndarray
        ``uint8`` batch ``(B, X, Y, Z)`` (or ``(B, X, Y)``).
    attrs : list of dict
        Per-sample attributes.
    names : list of str
        Per-sample dataset names.

    Raises
    ------
    ValueError
        Unreadable or empty file, index out of range, bad labels, or samples of different shapes.
    """
    path = Path(path)
    with _open(path) as fh:
        all_names = _dataset_names(fh, path)
        if not all_names:
            raise ValueError(f"{path}: the HDF5 file holds no sample datasets")
        picked = range(len(all_names)) if indices is None else list(indices)
        names = [_resolve(all_names, int(i), path) for i in picked]
        pairs = [_read_dataset(fh, name, path) for name in names]
    shapes = {v.shape for v, _ in pairs}
    if len(shapes) > 1:
        raise ValueError(f"{path}: samples have different shapes {sorted(shapes)}; read them one by one")
    if not pairs:
        return np.zeros((0,), dtype=np.uint8), [], []
    return np.stack([v for v, _ in pairs]), [a for _, a in pairs], names


def write_h5_samples(
    path: str | os.PathLike[str],
    volumes: Any,
    attrs: Sequence[dict] | None = None,
    names: Sequence[str] | None = None,
    mode: str = "a",
    compression: str | None = "gzip",
) -> list[str]:
    """Write samples, one root dataset each, in MicroGen3D's layout.

    Parameters
    ----------
    path
        The ``.h5`` file.
    volumes
        Batch ``(B, X, Y, Z)`` / ``(B, X, Y)`` or a sequence of volumes of labels 0, 1, 2.
    attrs
        One dict per sample (descriptor name -> number, or string); written as scalar attributes.
    names
        Dataset names; by default ``sample_0000000``, ... numbered on from the datasets already in
        the file, so that name order is write order.
    mode
        ``"a"`` appends to an existing file (creating it if needed); ``"w"`` replaces it.
    compression
        h5py compression filter for the datasets (``None`` for none).

    Returns
    -------
    list of str
        The names written.

    Raises
    ------
    ValueError
        Bad labels, mismatched lengths, a name already present, or an unwritable/corrupt file.
    """
    path = Path(path)
    if mode not in ("a", "w"):
        raise ValueError(f"{path}: mode must be 'a' or 'w', got {mode!r}")
    if isinstance(volumes, (list, tuple)):
        vols = [check_labels(v, path) for v in volumes]
    else:
        batch = as_numpy(volumes)
        if batch.ndim not in (3, 4):
            raise ValueError(f"{path}: volumes must be a batch (B, X, Y[, Z]), got shape {batch.shape}")
        vols = [check_labels(v, path) for v in batch]
    n = len(vols)
    attr_list = list(attrs) if attrs is not None else [{} for _ in range(n)]
    if len(attr_list) != n:
        raise ValueError(f"{path}: {n} volumes but {len(attr_list)} attribute dicts")
    checked = [plain_attrs(a, path) for a in attr_list]
    if names is not None:
        names = [str(s) for s in names]
        if len(names) != n:
            raise ValueError(f"{path}: {n} volumes but {len(names)} names")
        if len(set(names)) != n or any(not s or "/" in s for s in names):
            raise ValueError(f"{path}: sample names must be unique, non-empty and free of '/'")
    if mode == "a" and path.exists():
        _open(path, "r").close()  # a clear error for a corrupt file before h5py's own
    with _open(path, mode) as fh:
        existing = set(fh.keys())
        if names is None:
            names, i = [], len(existing)
            while len(names) < n:
                candidate = NAME_FORMAT.format(i)
                if candidate not in existing:
                    names.append(candidate)
                i += 1
        clash = [s for s in names if s in existing]
        if clash:
            raise ValueError(f"{path}: sample {clash[0]!r} already exists")
        for vol, attr, name in zip(vols, checked, names):
            ds = fh.create_dataset(name, data=vol, compression=compression)
            for key, value in attr.items():
                ds.attrs[key] = value
    return list(names)
