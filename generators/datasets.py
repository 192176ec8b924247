"""A PyTorch ``Dataset`` over HDF5 sample shards in MicroGen3D's layout.

Each shard holds one root dataset per sample (labels ``arr[x, y, z]``, or ``(1, X, Y, Z)``) whose
scalar attributes are the sample's descriptors and recipe (see :mod:`objectives.io.hdf5`). This
reads the paper's files and the project's (:mod:`generators.cahn_hilliard.dataset_builder`) alike.
Sample order: shards sorted by path, then each shard's samples in h5py's name order (MicroGen3D's
order).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset


def shard_paths(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                recursive: bool = False) -> list[Path]:
    """Resolve a directory (its ``*.h5``/``*.hdf5``), a glob, a file, or a list of them, sorted.

    With ``recursive=True`` a directory's subdirectories are searched too.

    Raises
    ------
    ValueError
        If a directory holds no shard or a path matches nothing.
    """
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            find = p.rglob if recursive else p.glob
            found = sorted([*find("*.h5"), *find("*.hdf5")])
            if not found:
                raise ValueError(f"{p}: the directory holds no HDF5 shards (no .h5/.hdf5 files)")
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            found = sorted(Path(s) for s in glob.glob(str(item)))
            if not found:
                raise ValueError(f"{item}: no HDF5 shards (no such shard file, directory or glob match)")
            paths.extend(found)
    return paths


class H5VolumeDataset(Dataset):
    """Volumes and label vectors from HDF5 shards, for training.

    Parameters
    ----------
    source : path, glob, or list of them
        Shards: a directory (all its ``.h5``/``.hdf5``), a glob like ``data/part_*.h5``, or files.
    attributes : sequence of str
        Attribute names of the label vector, in order (e.g. ``("ABS_f_D", "CT_f_D_tort1",
        "CT_f_A_tort1")``). Every sample must carry all of them.
    crop : tuple of int, optional
        Size of a random crop (same number of axes as the volumes); ``None`` returns whole volumes.
    seed : int, optional
        Seed of the crop positions (item ``i`` in epoch-independent fashion uses
        ``seed + i``); ``None`` draws from torch's global generator.
    dtype : torch.dtype
        Dtype of the returned volume (float32 default).

    Items are ``(volume, labels)``: ``volume`` a ``(1, X, Y, Z)`` tensor of the phase labels as
    floats (0 donor, 1 acceptor, 2 mixed), ``labels`` a float32 ``(len(attributes),)`` tensor.
    """

    def __init__(self, source, attributes: Sequence[str] = (), crop: Sequence[int] | None = None,
                 seed: int | None = None, dtype: torch.dtype = torch.float32) -> None:
        import h5py

        self.paths = shard_paths(source)
        self.attributes = tuple(str(a) for a in attributes)
        self.crop = None if crop is None else tuple(int(c) for c in crop)
        self.seed = seed
        self.dtype = dtype
        self.index: list[tuple[int, str]] = []
        self.shape: tuple[int, ...] | None = None
        for i, path in enumerate(self.paths):
            try:
                with h5py.File(path, "r") as fh:
                    names = [k for k in fh.keys() if isinstance(fh[k], h5py.Dataset)]
                    for name in names[:1]:  # attributes are checked again on every read
                        missing = [a for a in self.attributes if a not in fh[name].attrs]
                        if missing:
                            raise ValueError(f"{path}[{name}]: no attribute {missing[0]!r} "
                                             f"(has {sorted(fh[name].attrs)})")
                    if names and self.shape is None:
                        shp = fh[names[0]].shape
                        self.shape = tuple(shp[1:] if len(shp) == 4 and shp[0] == 1 else shp)
            except OSError as exc:
                raise ValueError(f"{path}: not a readable HDF5 file ({exc})") from None
            self.index.extend((i, n) for n in names)
        if not self.index:
            raise ValueError(f"no samples found in {[str(p) for p in self.paths]}")
        if self.crop is not None:
            if len(self.crop) != len(self.shape) or any(
                    not 1 <= c <= s for c, s in zip(self.crop, self.shape)):
                raise ValueError(f"crop {self.crop} does not fit volumes of shape {self.shape}")
        self._files: dict[int, object] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.index)

    def _file(self, i: int):
        import h5py

        if self._pid != os.getpid():  # a DataLoader worker: never share parent handles
            self._files, self._pid = {}, os.getpid()
        if i not in self._files:
            self._files[i] = h5py.File(self.paths[i], "r")
        return self._files[i]

    def _crop_slices(self, item: int, shape: tuple[int, ...]) -> tuple[slice, ...]:
        gen = None
        if self.seed is not None:
            gen = torch.Generator().manual_seed(int(self.seed) + int(item))
        starts = [int(torch.randint(0, s - c + 1, (1,), generator=gen)) for s, c in zip(shape, self.crop)]
        return tuple(slice(a, a + c) for a, c in zip(starts, self.crop))

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= item < len(self):
            raise IndexError(f"index {item} out of range for {len(self)} samples")
        i, name = self.index[item]
        ds = self._file(i)[name]
        arr = np.asarray(ds[()])
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if self.crop is not None:
            arr = arr[self._crop_slices(item % len(self), arr.shape)]
        missing = [a for a in self.attributes if a not in ds.attrs]
        if missing:
            raise ValueError(f"{self.paths[i]}[{name}]: no attribute {missing[0]!r}")
        labels = torch.tensor([float(np.asarray(ds.attrs[a])) for a in self.attributes],
                              dtype=torch.float32)
        volume = torch.from_numpy(np.ascontiguousarray(arr)).to(self.dtype).unsqueeze(0)
        return volume, labels

    def sample_name(self, item: int) -> tuple[str, str]:
        """(shard path, dataset name) of an item."""
        i, name = self.index[item]
        return str(self.paths[i]), name

    def close(self) -> None:
        """Close the open shard files."""
        for fh in self._files.values():
            fh.close()
        self._files = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_files"] = {}
        return state
