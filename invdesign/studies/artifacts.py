"""A file-system artifact store safe for many writers: atomic writes, paths that cannot escape.

Artifacts are written to a temporary file in the same directory and renamed into place, so a full
disk or a killed worker never leaves a truncated artifact under its final name.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def safe_join(base: str | os.PathLike, name: str) -> Path:
    """Join ``name`` under ``base`` and refuse any result outside ``base``.

    Refuses absolute names, ``..`` components and symbolic links that lead out of ``base``.

    Raises
    ------
    ValueError
        The name would escape ``base``.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"invalid file name {name!r}")
    if os.path.isabs(name) or any(part == ".." for part in Path(name).parts):
        raise ValueError(f"path {name!r} escapes its directory {str(base)!r}")
    root = Path(base).resolve()
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"path {name!r} escapes its directory {str(base)!r}")
    return target


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class SafeArtifactStore(FileSystemArtifactStore):
    """Optuna's FileSystemArtifactStore with atomic writes and strict artifact ids.

    Parameters
    ----------
    base_path : path
        The directory (created if missing; must be writable).
    create : bool
        Create the directory if it does not exist.

    Raises
    ------
    ValueError
        ``base_path`` exists but is not a directory, or is not writable.
    """

    def __init__(self, base_path: str | os.PathLike, create: bool = True) -> None:
        base = Path(base_path)
        if base.exists() and not base.is_dir():
            raise ValueError(f"artifact directory {str(base)!r} is not a directory")
        try:
            if create:
                base.mkdir(parents=True, exist_ok=True)
            probe = base / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise ValueError(
                f"artifact directory {str(base)!r} is not writable: {exc.strerror or exc}"
            ) from None
        super().__init__(base)

    def _get_filepath(self, artifact_id: str) -> Path:
        if not isinstance(artifact_id, str) or not _ID.match(artifact_id) or ".." in artifact_id:
            raise ValueError(f"invalid artifact id {artifact_id!r}")
        return safe_join(self._base_path, artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        final = self._get_filepath(artifact_id)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as f:
                shutil.copyfileobj(content_body, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OSError(
                exc.errno, f"cannot write artifact to {str(self._base_path)!r}: {exc.strerror or exc}"
            ) from None

    def open_reader(self, artifact_id: str) -> BinaryIO:
        path = self._get_filepath(artifact_id)
        if not path.is_file():
            raise ArtifactNotFound(f"artifact {artifact_id!r} not found in {str(self._base_path)!r}")
        return open(path, "rb")
