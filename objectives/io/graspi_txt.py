"""GraSPI's array text format (``.txt``).

Layout (as C++ GraSPI's ``read_array`` parses it): a first line ``nx ny nz``, then ``nx*ny*nz``
whitespace-separated values with x fastest, then y, then z (``arr.ravel(order="F")`` of
``arr[x, y, z]``). A missing or zero ``nz`` means a 2-D morphology ``arr[x, y]`` (GraSPI sets
``nz = 1``, and any ``nz = 1`` file is 2-D to GraSPI, whose thickness axis is then y): such files
are read as 2-D ``(X, Y)``. 2-D volumes are written with the header ``nx ny``; a 3-D volume of a
single layer cannot be told apart from 2-D in this format and is refused.

Phases: 0 donor ("black"), 1 acceptor ("white") and 3 for the mixed phase in the file; this
project's label 2. Values are mapped 3 -> 2 on reading and 2 -> 3 on writing; a 2 in a file is an
error (not a GraSPI phase).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from objectives.io.labels import check_labels


def read_graspi_txt(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a GraSPI ``.txt`` array as labels ``arr[x, y, z]`` (or ``arr[x, y]``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a GraSPI text file (binary content)") from None
    lines = text.split("\n", 1)
    header = lines[0].split()
    try:
        dims = [int(v) for v in header]
    except ValueError:
        raise ValueError(f"{path}: GraSPI header must be 'nx ny [nz]', got {lines[0][:40]!r}") from None
    if len(dims) == 3 and dims[2] in (0, 1):
        dims = dims[:2]
    if len(dims) not in (2, 3) or any(d <= 0 for d in dims):
        raise ValueError(f"{path}: GraSPI header must be 'nx ny [nz]' (positive), got {lines[0][:40]!r}")
    body = lines[1] if len(lines) > 1 else ""
    try:
        values = np.array(body.split(), dtype=np.float64)
    except ValueError:
        raise ValueError(f"{path}: GraSPI values must be numbers") from None
    n = int(np.prod(dims))
    if values.size != n:
        raise ValueError(f"{path}: header {' '.join(map(str, dims))} needs {n} values, found {values.size}")
    arr = check_labels(values.reshape(dims, order="F"), path, allowed=(0, 1, 3))
    arr[arr == 3] = 2
    return arr


def write_graspi_txt(path: str | os.PathLike[str], volume: Any) -> None:
    """Write labels as a GraSPI ``.txt`` array (x fastest, mixed phase written as 3)."""
    arr = check_labels(volume, path)
    if arr.ndim == 3 and arr.shape[2] == 1:
        raise ValueError(
            f"{path}: a 3-D volume of one layer is 2-D to GraSPI (thickness along y); "
            "pass it as arr[:, :, 0] if that is meant"
        )
    out = arr.ravel(order="F").copy()
    out[out == 2] = 3
    rows = [" ".join(map(str, out[i:i + arr.shape[0]].tolist())) for i in range(0, out.size, arr.shape[0])]
    Path(path).write_text(" ".join(map(str, arr.shape)) + "\n" + "\n".join(rows) + "\n", encoding="ascii")
