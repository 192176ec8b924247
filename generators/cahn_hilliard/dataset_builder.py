"""Build labelled Cahn-Hilliard data sets as HDF5 shards in MicroGen3D's layout, resumably.

Layout of the output directory
------------------------------
``shard_00000.h5, shard_00001.h5, ...``
    Shard ``s`` holds the series ``s * batch ... s * batch + batch - 1`` of the plan, every
    snapshot of each: one root dataset per volume (uint8 labels ``arr[x, y, z]``) named
    ``sample_{i:07d}`` with ``i = series * snapshots + snapshot`` (unique across shards, in plan
    order), and scalar attributes: the descriptor attributes (:mod:`.attributes`), ``phi``,
    ``chi``, ``log_time`` (log10 of the time) and ``time``, ``seed``, ``series``.
``manifest.json``
    The build's configuration, the snapshot times, the plan and the finished shards.

Resumption: a shard is written to a temporary file and renamed into place only when complete,
so a shard file that exists is whole. Re-running the same build skips the shards already on
disk (recording any the manifest missed) and builds the rest; the plan is deterministic from the
seed, so nothing is duplicated or lost. A different configuration in the same directory is
refused.
"""

from __future__ import annotations

import json
import math
import os
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from generators.cahn_hilliard.attributes import attribute_names, label_volumes
from generators.cahn_hilliard.params import CHParams, default_times, on_coarse_grid
from generators.cahn_hilliard.phases import phase_map
from generators.cahn_hilliard.plan import Series, plan_series
from generators.cahn_hilliard.solver import (fourier_upsample, initial_field, integrate,
                                             wavenumbers_squared)
from generators.protocol import RECIPE_NAMES

MANIFEST = "manifest.json"
SHARD_FORMAT = "shard_{:05d}.h5"
SAMPLE_FORMAT = "sample_{:07d}"


@dataclass(frozen=True)
class BuildConfig:
    """Everything that determines a data set (the manifest's ``config``)."""

    shape: tuple[int, ...] = (128, 128, 64)
    n_series: int = 16
    snapshots: int = 8
    t_min: float = 300.0
    t_max: float = 10_000.0
    phi_range: tuple[float, float] = (0.3, 0.7)
    chi_range: tuple[float, float] = (2.5, 4.0)
    phases: int = 2
    design: str = "lhs"
    seed: int = 0
    batch: int = 8
    dtype: str = "float32"
    params: dict = field(default_factory=dict)
    upsample: int = 1

    def __post_init__(self) -> None:
        wavenumbers_squared(self.shape)
        if not isinstance(self.upsample, int) or self.upsample < 1 or any(
                n % self.upsample or n // self.upsample < 2 for n in self.shape):
            raise ValueError(f"upsample must be a positive integer dividing every size of {tuple(self.shape)} "
                             f"(coarse sizes >= 2), got {self.upsample!r}")
        attribute_names(self.phases)
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        CHParams(**self.params)
        self.times()
        plan_series(1, self.phi_range, self.chi_range, self.design, self.seed)

    def times(self) -> list[float]:
        """The snapshot times (log-spaced from t_min to t_max)."""
        return default_times(self.snapshots, self.t_min, self.t_max)

    def plan(self) -> list[Series]:
        return plan_series(self.n_series, self.phi_range, self.chi_range, self.design, self.seed)

    def sim_shape(self) -> tuple[int, ...]:
        """The grid actually simulated: ``shape // upsample``."""
        return tuple(int(n) // self.upsample for n in self.shape)

    def sim_params(self) -> CHParams:
        """Solver parameters on the simulated grid.

        On a grid ``upsample = f`` times coarser (spacing f in output voxels) the same physical
        equation, in the same time units, has ``kappa / f**2`` and ``mobility / f**2``.
        """
        return on_coarse_grid(CHParams(**self.params), self.upsample)

    def as_json(self) -> dict:
        d = asdict(self)
        if self.upsample == 1:  # manifests of plain builds stay as they were
            d.pop("upsample")
        d["shape"], d["phi_range"], d["chi_range"] = (list(d["shape"]), list(d["phi_range"]),
                                                      list(d["chi_range"]))
        return d


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _load_manifest(out: Path, config: BuildConfig) -> dict:
    path = out / MANIFEST
    if not path.exists():
        return {"config": config.as_json(), "shards": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable manifest ({exc})") from None
    if manifest.get("config") != config.as_json():
        raise ValueError(f"{out} holds a data set built with other settings (see {path}); "
                         "use a new --out directory")
    return manifest


def simulate_series(series: Sequence[Series], config: BuildConfig, device=None) -> torch.Tensor:
    """Phase maps ``(len(series), snapshots, *shape)`` (uint8, on ``device``) of a batch of series."""
    params = config.sim_params()
    dtype = getattr(torch, config.dtype)
    c0 = initial_field([s.phi for s in series], config.sim_shape(), [s.seed for s in series],
                       params.noise, device=device, dtype=dtype)
    chi = torch.tensor([s.chi for s in series], dtype=torch.float64)
    snaps = integrate(c0, chi, config.times(), params)
    if config.upsample > 1:
        snaps = fourier_upsample(snaps, config.upsample)
    return phase_map(snaps, config.phases, chi=chi)


def _shard_samples(series: Sequence[Series], volumes: torch.Tensor, config: BuildConfig,
                   describe_batch) -> tuple[np.ndarray, list[dict], list[str]]:
    times = config.times()
    flat = volumes.reshape((-1,) + tuple(config.shape))
    labels = label_volumes(flat, config.phases, describe_batch)
    attrs, names = [], []
    for i, s in enumerate(series):
        for j, t in enumerate(times):
            k = i * len(times) + j
            a = {name: float(v[k]) for name, v in labels.items()}
            a.update(phi=s.phi, chi=s.chi, log_time=math.log10(t), time=t, seed=s.seed,
                     series=s.index)
            attrs.append(a)
            names.append(SAMPLE_FORMAT.format(s.index * len(times) + j))
    return flat.cpu().numpy(), attrs, names


def build_dataset(out: str | os.PathLike[str], config: BuildConfig, device=None,
                  describe_batch: Callable | None = None, progress: bool = True,
                  on_shard: Callable[[int], None] | None = None) -> dict:
    """Build (or finish) the data set of ``config`` in directory ``out``.

    Parameters
    ----------
    out : path
        Output directory (created if needed).
    config : BuildConfig
    device : torch device, optional
        Where to simulate (labels are computed by the descriptor engine on the volumes' device).
    describe_batch : callable, optional
        Descriptor engine; default ``objectives.describe_batch``.
    progress : bool
        Show a progress bar (tqdm, on stderr) over series.
    on_shard : callable, optional
        Called with each shard index after it is written (hooks for tests and callers).

    Returns
    -------
    dict
        Summary: directory, shard and sample counts, shards built now, attribute names, seconds.
    """
    from objectives.io import h5_sample_names, write_h5_samples
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(out, config)
    plan = config.plan()
    manifest.update(times=config.times(), plan=[asdict(s) for s in plan],
                    attributes=list(attribute_names(config.phases)) + list(RECIPE_NAMES))
    for stale in out.glob("*.h5.tmp"):
        stale.unlink()
    n_shards = math.ceil(len(plan) / config.batch)
    per_series = config.snapshots
    start, built = _time.perf_counter(), []
    todo = []
    for s in range(n_shards):
        name = SHARD_FORMAT.format(s)
        chunk = plan[s * config.batch:(s + 1) * config.batch]
        if (out / name).exists():
            if name not in manifest["shards"]:
                count = len(h5_sample_names(out / name))
                if count != len(chunk) * per_series:
                    raise ValueError(f"{out / name}: holds {count} samples, expected "
                                     f"{len(chunk) * per_series}; remove it and re-run")
                manifest["shards"][name] = {"series": [c.index for c in chunk], "samples": count}
        else:
            manifest["shards"].pop(name, None)
            todo.append((s, name, chunk))
    _write_json_atomic(out / MANIFEST, manifest)
    done_series = len(plan) - sum(len(c) for _, _, c in todo)
    bar = tqdm(total=len(plan), initial=done_series, unit="series", disable=not progress,
               desc=f"CH {config.phases}-phase")
    try:
        for s, name, chunk in todo:
            volumes = simulate_series(chunk, config, device)
            vols, attrs, names = _shard_samples(chunk, volumes, config, describe_batch)
            tmp = out / (name + ".tmp")
            write_h5_samples(tmp, vols, attrs, names, mode="w")
            os.replace(tmp, out / name)
            manifest["shards"][name] = {"series": [c.index for c in chunk], "samples": len(names)}
            _write_json_atomic(out / MANIFEST, manifest)
            built.append(name)
            bar.update(len(chunk))
            if on_shard is not None:
                on_shard(s)
    finally:
        bar.close()
    return {
        "out": str(out),
        "shards": n_shards,
        "samples": sum(v["samples"] for v in manifest["shards"].values()),
        "built_now": built,
        "attributes": manifest["attributes"],
        "seconds": round(_time.perf_counter() - start, 3),
    }
