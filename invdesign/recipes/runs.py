"""Finished simulation runs on disk, so a stopped verification resumes without redoing them.

A :class:`RunStore` is a directory for one recipe on one simulator: ``key.json`` (the recipe, the
base seed and a description of the simulator) and one ``run_NNN.npz`` per finished run (the
volume under ``volume``, each descriptor under ``d_<name>``, the run's ``seed``), each written
atomically (a file that exists is whole). Opening a directory that holds another recipe or
simulator is an error, never a silent mix.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from generators.protocol import RECIPE_NAMES


def simulator_key(simulator) -> dict:
    """What identifies a simulator's output: class, shape, phases, upsampling and parameters."""
    params = getattr(simulator, "params", None)
    if params is not None and hasattr(params, "__dataclass_fields__"):
        params = {k: getattr(params, k) for k in params.__dataclass_fields__}
    return {"class": type(simulator).__name__, "shape": list(getattr(simulator, "shape", ()) or ()),
            "phases": getattr(simulator, "phases", None), "upsample": getattr(simulator, "upsample", 1),
            "params": params}


def recipe_dirname(recipe: Mapping[str, float], seed: int, simulator) -> str:
    """A directory name for a recipe, its base seed and a short hash of the simulator."""
    h = hashlib.sha256(json.dumps(simulator_key(simulator), sort_keys=True, default=str).encode())
    return (f"phi{recipe['phi']:.4f}_chi{recipe['chi']:.4f}_t{10 ** recipe['log_time']:.1f}"
            f"_seed{int(seed)}_{h.hexdigest()[:8]}")


class RunStore:
    """Runs of one recipe (see the module docstring).

    Parameters
    ----------
    directory : path  created if missing
    recipe : mapping with ``phi``, ``chi``, ``log_time``
    seed : int  the verification's base seed
    simulator : the generator that makes the runs

    Raises
    ------
    ValueError
        The directory already holds runs of another recipe, seed or simulator.
    """

    def __init__(self, directory: str | Path, recipe: Mapping[str, float], seed: int, simulator) -> None:
        self.dir = Path(directory)
        self.key = {"recipe": {k: float(recipe[k]) for k in RECIPE_NAMES}, "seed": int(seed),
                    "simulator": json.loads(json.dumps(simulator_key(simulator), default=str))}
        key_file = self.dir / "key.json"
        if key_file.is_file():
            stored = json.loads(key_file.read_text())
            if stored != self.key:
                raise ValueError(f"{self.dir} holds runs of another recipe or simulator; use another directory")
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = key_file.with_name("key.json.tmp")
            tmp.write_text(json.dumps(self.key, indent=1))
            os.replace(tmp, key_file)

    def path(self, j: int) -> Path:
        return self.dir / f"run_{j:03d}.npz"

    def has(self, j: int) -> bool:
        return self.path(j).is_file()

    def finished(self) -> list[int]:
        """Indices of the finished runs, in order."""
        return sorted(int(p.stem[4:]) for p in self.dir.glob("run_[0-9][0-9][0-9].npz"))

    def save(self, j: int, volume: np.ndarray, descriptors: Mapping[str, float], seed: int) -> None:
        dest = self.path(j)
        tmp = dest.with_name(dest.stem + ".tmp.npz")
        np.savez_compressed(tmp, volume=np.asarray(volume, dtype=np.uint8), seed=int(seed),
                            **{f"d_{k}": float(v) for k, v in descriptors.items()})
        os.replace(tmp, dest)

    def load(self, j: int) -> tuple[np.ndarray, dict[str, float], int]:
        """``(volume, descriptors, seed)`` of finished run ``j``."""
        with np.load(self.path(j)) as f:
            desc = {k[2:]: float(f[k]) for k in f.files if k.startswith("d_")}
            return f["volume"], desc, int(f["seed"])
