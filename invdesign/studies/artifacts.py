"""A file-system artifact store safe for many writers, and the trial volumes kept in it.

Artifacts are written to a temporary file in the same directory and renamed into place, so a full
disk or a killed worker never leaves a truncated artifact under its final name. A trial's volumes
are one ``.npz`` artifact whose SHA-256 is recorded with the trial (:func:`save_trial_arrays`) and
checked on every load (:func:`load_trial_arrays`): a file changed or damaged on disk is refused
with a one-line error, never read.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import optuna
from optuna.artifacts import upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound

__all__ = ["ArtifactCorrupted", "SafeArtifactStore", "load_trial_arrays", "safe_join", "save_trial_arrays",
           "sha256_file"]

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


class SafeArtifactStore:
    """A file-system artifact store (Optuna's ``ArtifactStore`` interface: ``open_reader``,
    ``write``, ``remove``) with atomic writes and strict artifact ids.

    Parameters
    ----------
    base_path : path
        The directory (created if missing; must be writable).
    create : bool
        Create the directory if it does not exist.

    Attributes
    ----------
    base_path : Path

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
        self.base_path = base

    def path(self, artifact_id: str) -> Path:
        """Where an artifact lives; ValueError for an id that is not a plain file name."""
        if not isinstance(artifact_id, str) or not _ID.match(artifact_id) or ".." in artifact_id:
            raise ValueError(f"invalid artifact id {artifact_id!r}")
        return safe_join(self.base_path, artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        final = self.path(artifact_id)
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
                exc.errno, f"cannot write artifact to {str(self.base_path)!r}: {exc.strerror or exc}"
            ) from None

    def open_reader(self, artifact_id: str) -> BinaryIO:
        path = self.path(artifact_id)
        if not path.is_file():
            raise ArtifactNotFound(f"artifact {artifact_id!r} not found in {str(self.base_path)!r}")
        return open(path, "rb")

    def remove(self, artifact_id: str) -> None:
        path = self.path(artifact_id)
        if not path.is_file():
            raise ArtifactNotFound(f"artifact {artifact_id!r} not found in {str(self.base_path)!r}")
        path.unlink()


class ArtifactCorrupted(ValueError):
    """An artifact whose bytes do not match the SHA-256 recorded with its trial (or unreadable)."""


def save_trial_arrays(store: SafeArtifactStore, trial: optuna.Trial, **arrays: np.ndarray) -> tuple[str, str]:
    """Upload ``arrays`` as one compressed ``.npz`` artifact of ``trial``.

    Returns
    -------
    (artifact_id, sha256)
        To record with the trial (:class:`invdesign.studies.records.TrialRecord`).
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"trial_{trial.number:05d}.npz"
        np.savez_compressed(path, **arrays)
        digest = sha256_file(path)
        artifact_id = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
    return artifact_id, digest


def load_trial_arrays(store: SafeArtifactStore, artifact_id: str | None, sha256: str | None,
                      what: str = "artifact") -> dict[str, np.ndarray]:
    """The arrays of an artifact, after checking its bytes against the recorded SHA-256.

    Parameters
    ----------
    store : SafeArtifactStore
    artifact_id, sha256 : str
        As recorded with the trial.
    what : str
        Names the artifact in errors (e.g. ``"artifact of trial 3"``).

    Raises
    ------
    ValueError
        No artifact or no hash recorded, or the artifact is missing from the store.
    ArtifactCorrupted
        The bytes do not match the hash, or they are not a readable ``.npz``.
    """
    if not artifact_id:
        raise ValueError(f"{what}: none recorded (the trial has no stored volumes)")
    if not sha256:
        raise ValueError(f"{what}: no SHA-256 recorded, so its contents cannot be checked")
    try:
        with store.open_reader(artifact_id) as f:
            data = f.read()
    except ArtifactNotFound:
        raise ValueError(f"{what} ({artifact_id}) is missing from {str(store.base_path)!r}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactCorrupted(f"{what} is corrupted (SHA-256 mismatch): {artifact_id}")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ArtifactCorrupted(f"{what} is not a readable .npz: {exc}") from None
