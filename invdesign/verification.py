"""``invdesign.verify``: re-run a candidate's recipe through the Cahn-Hilliard simulator.

A design candidate carries the recipe the feature predictor read off its latent (blend ratio
``phi``, interaction ``chi``, ``log_time`` = log10 of the annealing time) and, when the model ships
a recipe surrogate, the recipe found by inverting it (``recipe_phi``, ``recipe_chi``,
``recipe_log_time``). Verification simulates a recipe with several seeds, one run at a time
(run ``j`` with seed :func:`run_seed`), measures the volumes and reports how far they land from
the targets and from the candidate itself, both in tolerance units. With ``runs`` (a directory)
every finished run is kept on disk, so a stopped verification resumes without redoing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from generators.protocol import RECIPE_NAMES
from invdesign.loop.api import resolve_generator
from invdesign.loop.measure import DescribeBatch, Measurement, measure
from invdesign.loop.results import DesignResult
from invdesign.recipes.runs import RunStore, recipe_dirname
from objectives.losses import distance, target_tensors
from objectives.targets import Targets, make_targets

RECIPE = RECIPE_NAMES
RECIPE_SOURCES = ("auto", "surrogate", "fp")
Progress = Callable[[dict], None]


class VerificationStopped(RuntimeError):
    """``should_stop`` asked to stop; the runs finished so far are kept (when ``runs`` is given)."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"verification stopped after {done} of {total} runs")
        self.done, self.total = done, total


def run_seed(seed: int, j: int) -> int:
    """The seed of verification run ``j`` with base seed ``seed`` (independent of the run count)."""
    return int(np.random.SeedSequence([int(seed), int(j)]).generate_state(1)[0] % (2**31))


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`.

    Attributes
    ----------
    recipe : dict[str, float]
        ``phi``, ``chi``, ``log_time`` and ``time`` (= 10**log_time) simulated.
    table : DataFrame
        One row per simulated volume: ``sample``, every descriptor, ``distance_to_target``,
        ``distance_to_candidate`` (tolerance units).
    mean : dict[str, float]
        Mean of each targeted descriptor over the simulated volumes.
    distance_to_target, distance_to_candidate : float
        Distance of ``mean`` to the targets and to the candidate's measured values.
    success : bool
        ``distance_to_target <= 1`` (every target met on average).
    volumes : ndarray uint8 ``(seeds, X, Y, Z)``
    source : str
        Which recipe of the candidate was simulated: ``"surrogate"`` or ``"fp"``.
    """

    recipe: dict[str, float]
    table: pd.DataFrame
    mean: dict[str, float]
    distance_to_target: float
    distance_to_candidate: float
    success: bool
    volumes: np.ndarray
    source: str = "fp"

    def summary(self) -> dict:
        """JSON-ready summary (no volumes)."""
        return {
            "recipe": self.recipe,
            "recipe_source": self.source,
            "mean": self.mean,
            "distance_to_target": self.distance_to_target,
            "distance_to_candidate": self.distance_to_candidate,
            "success": self.success,
            "std": self.std,
            "samples": self.table.to_dict(orient="records"),
        }

    @property
    def std(self) -> dict[str, float]:
        """Seed spread (standard deviation over the runs, ddof=1; 0 for one run) of each target."""
        n = len(self.table)
        return {k: float(self.table[k].std(ddof=1)) if n > 1 else 0.0 for k in self.mean}


THREE_PHASE_PREFIXES = ("vol_frac_", "tortuosity_")


def phases_of(targets: Targets) -> int:
    """3 when the targets are three-phase descriptors (vol_frac_*, tortuosity_*), else 2."""
    return 3 if any(n.startswith(THREE_PHASE_PREFIXES) for n in targets.names) else 2


def default_simulator(
    device: str | torch.device = "cpu", shape: tuple[int, ...] | None = None, phases: int = 2,
    model=None,
):
    """The Cahn-Hilliard generator a recipe is verified with.

    With ``model`` (a name, a directory or a generator) whose training data came from a recorded
    simulator (``recipe_simulator``), that same simulator; otherwise the project's default
    Cahn-Hilliard generator (``generators.cahn_hilliard``) for ``shape`` volumes (its default
    128x128x64 when None) with ``phases`` phases.
    """
    if model is not None:
        model = resolve_generator(model, device=device)
        if hasattr(model, "recipe_simulator") and getattr(model.config, "simulator", None):
            return model.recipe_simulator(device)
    try:
        from generators import cahn_hilliard
    except ImportError:
        raise ValueError("generators.cahn_hilliard is not available: pass simulator=") from None
    cls = getattr(cahn_hilliard, "CahnHilliardGenerator", None)
    if cls is None:
        raise ValueError("generators.cahn_hilliard has no CahnHilliardGenerator: pass simulator=")
    kwargs = {"device": device, "phases": phases}
    if shape is not None:
        kwargs["shape"] = tuple(int(n) for n in shape)
    return cls(**kwargs)


def _loadable(model, device):
    """A design's recorded model if it can be resolved here, else None (the default simulator):
    a study records generator objects by label only."""
    try:
        return resolve_generator(model, device=device)
    except ValueError:
        return None


def candidate_recipe(row, source: str = "auto") -> tuple[dict[str, float], str]:
    """The recipe to verify from a candidate row and which one it is (``"surrogate"``: the
    surrogate's ``recipe_*`` columns; ``"fp"``: the feature predictor's ``phi``, ``chi``,
    ``log_time``; ``"auto"``: the surrogate's when the row has it, else the FP's)."""
    if source not in RECIPE_SOURCES:
        raise ValueError(f"unknown recipe source {source!r}; choose one of {', '.join(RECIPE_SOURCES)}")

    def read(prefix: str) -> dict[str, float] | None:
        out = {}
        for k in RECIPE:
            v = row.get(prefix + k) if hasattr(row, "get") else None
            if v is None or not np.isfinite(float(v)):
                return None
            out[k] = float(v)
        return out

    if source in ("auto", "surrogate"):
        found = read("recipe_")
        if found is not None:
            return found, "surrogate"
        if source == "surrogate":
            raise ValueError("the candidate has no surrogate recipe (recipe_phi, recipe_chi, recipe_log_time): "
                             "its model ships no recipe surrogate")
    found = read("")
    if found is None:
        missing = next(k for k in RECIPE if not (hasattr(row, "get") and row.get(k) is not None
                                                  and np.isfinite(float(row.get(k)))))
        raise ValueError(f"the candidate has no recipe value {missing!r}: its model predicts no recipe")
    return found, "fp"


def simulate_runs(simulator, recipe: Mapping[str, float], seeds: int, seed: int,
                  describe: DescribeBatch | None = None, store: RunStore | None = None,
                  progress: Progress | None = None, should_stop: Callable[[], bool] | None = None
                  ) -> Measurement:
    """Simulate and measure ``seeds`` runs of one recipe, one at a time (run ``j``: seed
    ``run_seed(seed, j)``); runs already in ``store`` are read back, new ones saved there.

    Returns a :class:`Measurement` of one condition: volumes ``(1, seeds, X, Y, Z)``, descriptors
    ``{name: (1, seeds)}``. ``progress`` gets ``{"run", "runs", "seconds", "resumed"}`` after each
    run; ``should_stop`` is asked before each new run and raises :class:`VerificationStopped`.
    """
    cond = recipe_conditions(simulator, recipe)
    vols, descs = [], []
    for j in range(int(seeds)):
        start = time.perf_counter()
        resumed = store is not None and store.has(j)
        if resumed:
            vol, desc, _ = store.load(j)
        else:
            if should_stop is not None and should_stop():
                raise VerificationStopped(j, int(seeds))
            s = run_seed(seed, j)
            meas = measure(simulator, cond, 1, s, describe)
            vol = meas.volumes[0, 0]
            desc = {k: float(v[0, 0]) for k, v in meas.descriptors.items()}
            if store is not None:
                store.save(j, vol, desc, s)
        vols.append(vol)
        descs.append(desc)
        if progress is not None:
            progress({"run": j + 1, "runs": int(seeds), "seconds": time.perf_counter() - start,
                      "resumed": resumed})
    names = list(descs[0])
    return Measurement(volumes=np.stack(vols)[None],
                       descriptors={k: np.array([[d[k] for d in descs]], dtype=np.float64) for k in names},
                       predicted={})


def _candidate_row(candidate) -> tuple[Mapping, Targets | None]:
    if isinstance(candidate, DesignResult):
        if candidate.best is None:
            raise ValueError("the design has no candidates to verify")
        return candidate.best, candidate.settings.target_spec
    if isinstance(candidate, (pd.Series, Mapping)):
        return candidate, None
    raise ValueError("candidate must be a DesignResult, a candidates-table row or a mapping")


def recipe_conditions(simulator, recipe: Mapping[str, float]) -> torch.Tensor:
    """The simulator's condition row ``(1, d)`` for a recipe (``time`` = 10**log_time)."""
    values = dict(recipe)
    values.setdefault("time", 10.0 ** values["log_time"])
    row = []
    for name in simulator.condition_names:
        if name not in values:
            raise ValueError(f"simulator condition {name!r} is not part of the recipe {sorted(values)}")
        row.append(float(values[name]))
    return torch.tensor([row], dtype=torch.float32)


def verify(
    candidate,
    simulator=None,
    seeds: int = 3,
    targets: Mapping[str, float] | Targets | None = None,
    tolerance: float | Mapping[str, float] = 0.02,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    describe: DescribeBatch | None = None,
    shape: tuple[int, ...] | None = None,
    model=None,
    recipe: str = "auto",
    runs: str | Path | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> VerifyResult:
    """Simulate a candidate's recipe and compare the outcome with the targets and the candidate.

    Parameters
    ----------
    candidate : DesignResult, pandas Series or mapping
        A design result (its best candidate is verified) or one row of its ``candidates`` table,
        or any mapping with a recipe: it must hold ``phi``, ``chi``, ``log_time`` (or the
        surrogate's ``recipe_phi``, ``recipe_chi``, ``recipe_log_time``); the measured target
        descriptors, when present, give ``distance_to_candidate``.
    simulator : Generator, optional
        A generator over (``phi``, ``chi``, ``time`` or ``log_time``); default the project's
        Cahn-Hilliard generator.
    seeds : int
        Simulations (different noise seeds) of the recipe (>= 1).
    targets, tolerance : optional
        Targets to compare with (taken from the design when ``candidate`` is a DesignResult).
    seed : int
        Base seed of the simulations.
    device : str or torch.device
    describe : callable, optional
        Batched descriptor function (default ``objectives.describe_batch``).
    shape : tuple of int, optional
        Volume shape for the default simulator (default: the candidate volumes' shape when
        ``candidate`` is a DesignResult, else the simulator's default). Its phases (2 or 3)
        follow the target names.
    model : str, path or generator, optional
        The model the candidate came from (default: a DesignResult's own model). When its
        training data came from a recorded simulator (e.g. the shipped models' coarse-grid
        Cahn-Hilliard recipe), the recipe is verified with that same simulator.
    recipe : {"auto", "surrogate", "fp"}
        Which of the candidate's recipes (see :func:`candidate_recipe`); ``result.source`` says
        which was used.
    runs : path, optional
        Keep every finished run under ``runs/<recipe, seed, simulator>/`` and reuse the ones
        already there (stop and resume without losing finished runs).
    progress : callable, optional
        Called with ``{"run", "runs", "seconds", "resumed"}`` after each run.
    should_stop : callable, optional
        Asked before each run; ``True`` raises :class:`VerificationStopped` (finished runs kept
        in ``runs``).

    Raises
    ------
    ValueError
        No recipe on the candidate (the generator predicts none), no targets, seeds < 1.
    """
    if isinstance(seeds, bool) or int(seeds) != seeds or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    row, spec = _candidate_row(candidate)
    if targets is not None:
        spec = targets if isinstance(targets, Targets) else make_targets(targets, tolerance)
    if spec is None:
        raise ValueError("give the targets to verify against (targets=...)")
    values, source = candidate_recipe(row, recipe)
    values["time"] = 10.0 ** values["log_time"]
    if simulator is None:
        if shape is None and isinstance(candidate, DesignResult) and candidate.volumes:
            shape = next(iter(candidate.volumes.values())).shape
        if model is None and isinstance(candidate, DesignResult):
            model = _loadable(candidate.settings.model, device)
        simulator = default_simulator(device, shape, phases_of(spec), model=model)
    store = None
    if runs is not None:
        store = RunStore(Path(runs) / recipe_dirname(values, seed, simulator), values, seed, simulator)
    meas = simulate_runs(simulator, values, int(seeds), seed, describe, store, progress, should_stop)
    t, tol = target_tensors(spec)
    per = torch.tensor(np.stack([meas.descriptors[n][0] for n in spec.names], -1))
    have = [n for n in spec.names if n in row and row[n] is not None]
    if len(have) != len(spec.names):
        cand_vals = None
    else:
        cand_vals = torch.tensor([float(row[n]) for n in spec.names], dtype=torch.float64)
    table = pd.DataFrame({k: v[0] for k, v in meas.descriptors.items()})
    table.insert(0, "sample", np.arange(int(seeds)))
    table["distance_to_target"] = distance(per, t, tol).numpy()
    mean = per.mean(dim=0)
    d_cand = float("nan")
    if cand_vals is not None:
        table["distance_to_candidate"] = distance(per, cand_vals, tol).numpy()
        d_cand = float(distance(mean, cand_vals, tol))
    d_target = float(distance(mean, t, tol))
    return VerifyResult(
        recipe=values,
        table=table,
        mean={n: float(mean[i]) for i, n in enumerate(spec.names)},
        distance_to_target=d_target,
        distance_to_candidate=d_cand,
        success=d_target <= 1.0,
        volumes=meas.volumes[0],
        source=source,
    )
