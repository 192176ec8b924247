"""``invdesign.recipe``: target descriptors -> recipes (phi, chi, annealing time) that the simulator
confirms.

1. The model's recipe surrogate (or one fitted from a label table) is inverted over
   (phi, chi, log_time): a spread-out list of recipes predicted to land within tolerance, and the
   pathway (the best recipe at each annealing time: the chi - time trade-off).
2. The most promising recipes are re-simulated with fresh seeds by the simulator the model's data
   came from (:func:`invdesign.verification.verify`, one run at a time; with ``out_dir`` every
   finished run is kept, so a stopped search resumes without redoing it).
3. Recipes are ranked by verified distance (mean over seeds, tolerance units), then the
   unverified ones by predicted success probability.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from generators.surrogate import RecipeSurrogate, fit_surrogate
from invdesign.loop.api import model_label
from invdesign.loop.measure import DescribeBatch
from invdesign.recipes.result import RankedRecipe, RecipeResult
from invdesign.recipes.search import PredictedRecipe, RecipeSearch
from invdesign import verification
from invdesign.verification import VerificationStopped, phases_of, run_seed, verify
from objectives.targets import Targets, make_targets

PLAN_FILE = "recipe_plan.json"
SUMMARY_FILE = "recipes.json"


def model_surrogate(model, table=None, names: Sequence[str] = (), device="cpu"
                    ) -> tuple[RecipeSurrogate, str]:
    """The recipe surrogate to use and where it came from (``"model"`` or ``"table"``).

    ``model`` is a shipped name, a model directory or a generator (its ``surrogate`` attribute);
    without one, a surrogate of ``names`` is fitted from ``table`` when given.

    Raises
    ------
    ValueError
        The model has no surrogate and no table was given (the message says how to make one).
    """
    found = None
    if isinstance(model, (str, Path)):
        from invdesign.loop.api import _REGISTRY

        if str(model) in _REGISTRY:
            found = getattr(_REGISTRY[str(model)](device=device), "surrogate", None)
        else:
            from generators.diffusion.model_dir import load_surrogate

            found = load_surrogate(model)
    else:
        found = getattr(model, "surrogate", None)
    if found is not None:
        return found, "model"
    if table is not None:
        return fit_surrogate(table, list(names)), "table"
    label = model_label(model)
    raise ValueError(
        f"model {label!r} has no recipe surrogate (no surrogate.safetensors in its directory): "
        f"fit one into it with `invdesign surrogate --table LABELS.csv --model {label}`, or give a "
        "label table (--table / table=) to fit one for this search")


def _check_targets(spec: Targets, surrogate: RecipeSurrogate) -> None:
    unknown = [n for n in spec.names if n not in surrogate.names]
    if unknown:
        raise ValueError(f"the recipe surrogate does not model {', '.join(unknown)}; "
                         f"it models: {', '.join(surrogate.names)}")


def _fingerprint(surrogate: RecipeSurrogate) -> str:
    return hashlib.sha256(json.dumps(surrogate.config(), sort_keys=True).encode()).hexdigest()[:16]


def fresh_seeds(simulator, base: int, count: int, runs: int, exclude: Sequence[int]) -> list[int]:
    """``count`` verification base seeds derived from ``base``, none of whose runs' noise seeds is
    one of the training simulations' (``exclude``) when the simulator is the Cahn-Hilliard
    generator (it derives each run's noise seed from its seed)."""
    used = set(int(s) for s in exclude)
    derive = None
    if type(simulator).__name__ == "CahnHilliardGenerator":
        from generators.cahn_hilliard.generator import run_seeds

        def derive(s: int) -> list[int]:
            return [run_seeds(run_seed(s, j), 1)[0] for j in range(runs)]

    out = []
    for i in range(count):
        s = int(np.random.SeedSequence([int(base), i, 0x7EC1]).generate_state(1)[0] % (2**31))
        while derive is not None and used.intersection(derive(s)):
            s += 1
        out.append(s)
    return out


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=float))
    os.replace(tmp, path)


def recipe(
    targets: Mapping[str, float],
    tolerance: float | Mapping[str, float] = 0.03,
    model="ch2-default",
    *,
    verify_seeds: int = 3,
    verify_recipes: int = 3,
    n_recipes: int | None = None,
    seed: int = 0,
    table=None,
    surrogate: RecipeSurrogate | str | Path | None = None,
    simulator=None,
    shape: tuple[int, ...] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    start: Sequence[Mapping[str, float]] | None = None,
    time_penalty: float = 0.5,
    out_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    describe: DescribeBatch | None = None,
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RecipeResult:
    """Find recipes (phi, chi, annealing time) that make target descriptors, and verify them.

    Parameters
    ----------
    targets : mapping of str to float
        Descriptor name -> target value (names the surrogate models, e.g. ``ABS_f_D``).
    tolerance : float or mapping
        Absolute tolerance (> 0), one for all or one per target.
    model : str, Path or Generator
        Shipped model name, model directory or generator: its recipe surrogate
        (``surrogate.safetensors``) and the simulator its data came from.
    verify_seeds : int
        Fresh-seed simulations per verified recipe (>= 1); the mean of these must meet the
        targets, and the surrogate scores recipes for exactly that.
    verify_recipes : int
        How many of the predicted recipes are re-simulated (>= 0; 0: prediction only).
    n_recipes : int, optional
        Recipes listed (default ``max(verify_recipes, 5)``).
    seed : int
        Base of the verification seeds (fresh: never a training simulation's noise seed).
    table : path, DataFrame or rows, optional
        Label table to fit a surrogate from when the model has none (format:
        :mod:`generators.surrogate.table`).
    surrogate : RecipeSurrogate or path, optional
        Use this surrogate instead of the model's.
    simulator : Generator over (phi, chi, time), optional
        Default: the simulator recorded in the model (else the default Cahn-Hilliard generator at
        ``shape`` with the targets' phases).
    bounds : mapping, optional
        Narrow the recipe box: ``{"phi": (lo, hi), "chi": (lo, hi), "time": (lo, hi)}``.
    start : sequence of recipe mappings, optional
        Starting recipes for the search (e.g. the feature predictor's guess).
    time_penalty : float
        Preference for shorter annealing (log-probability per unit of the normalised log time).
    out_dir : path, optional
        ``recipe_plan.json`` (the request and the predicted recipes), ``runs/`` (every finished
        simulation) and ``recipes.json`` (the result). Calling again with the same directory and
        request resumes: finished runs are read back, not redone.
    device, describe
        Simulation device; batched descriptor function (default ``objectives.describe_batch``).
    progress : callable, optional
        Called with a dict per event: ``{"stage": "search"}``, then per run ``{"stage": "verify",
        "recipe", "recipes", "run", "runs", "done", "total", "seconds", "resumed"}``.
    should_stop : callable, optional
        Asked before each simulation; ``True`` ends the search there: the result (state
        ``"stopped"``) holds what is finished, and the same call resumes it.

    Returns
    -------
    RecipeResult

    Raises
    ------
    ValueError
        Unknown descriptor, a target outside [0, 1], tolerance <= 0, no surrogate, bad counts, or an
        ``out_dir`` holding another search.
    """
    for name, value, low in (("verify_seeds", verify_seeds, 1), ("verify_recipes", verify_recipes, 0),
                             ("seed", seed, 0)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    n_recipes = max(int(verify_recipes), 5) if n_recipes is None else int(n_recipes)
    if n_recipes < max(1, verify_recipes):
        raise ValueError(f"n_recipes must be >= max(1, verify_recipes), got {n_recipes}")
    spec = make_targets(targets, tolerance)
    if isinstance(surrogate, (str, Path)):
        surrogate = RecipeSurrogate.load(surrogate)
    source = "given"
    if surrogate is None:
        surrogate, source = model_surrogate(model, table, spec.names, device)
    _check_targets(spec, surrogate)
    names = list(spec.names)
    t = [spec.values[n] for n in names]
    tol = [spec.tolerances[n] for n in names]
    starts = None
    if start:
        starts = [[float(s["phi"]), float(s["chi"]),
                   float(s["log_time"]) if "log_time" in s else float(np.log10(s["time"]))] for s in start]

    out = Path(out_dir) if out_dir is not None else None
    request = {"targets": spec.values, "tolerances": spec.tolerances, "model": model_label(model),
               "verify_seeds": int(verify_seeds), "verify_recipes": int(verify_recipes),
               "n_recipes": n_recipes, "seed": int(seed), "bounds": {k: list(v) for k, v in (bounds or {}).items()},
               "start": starts, "time_penalty": float(time_penalty), "surrogate": _fingerprint(surrogate)}
    emit = progress or (lambda event: None)
    emit({"stage": "search"})
    started = time.perf_counter()
    plan = None
    if out is not None and (out / PLAN_FILE).is_file():
        plan = json.loads((out / PLAN_FILE).read_text())
        if json.loads(json.dumps(plan["request"], default=float)) != json.loads(json.dumps(request, default=float)):
            raise ValueError(f"{out} holds a recipe search with other settings; use another output directory")
    search = RecipeSearch(surrogate, names, bounds)
    if plan is None:
        found = search.find(t, tol, int(verify_seeds), n_recipes, starts, time_penalty=time_penalty)
        pathway = search.pathway(t, tol, int(verify_seeds))
    else:
        found = [PredictedRecipe.from_summary(r) for r in plan["recipes"]]
        pathway = plan["pathway"]
    search_seconds = time.perf_counter() - started

    if verify_recipes and simulator is None:
        simulator = verification.default_simulator(device, shape, phases_of(spec), model=model)
    k = min(int(verify_recipes), len(found))
    seeds = (plan["seeds"] if plan is not None else
             fresh_seeds(simulator, seed, k, int(verify_seeds), surrogate.seeds) if k else [])
    if out is not None and plan is None:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / PLAN_FILE, {"request": request, "recipes": [r.summary() for r in found],
                                      "seeds": seeds, "pathway": pathway})

    entries = [RankedRecipe(r) for r in found]
    state = "finished"
    total = k * int(verify_seeds)
    for i in range(k):
        entry = entries[i]
        entry.seed = seeds[i]

        def on_run(ev: dict, i=i) -> None:
            emit({"stage": "verify", "recipe": i + 1, "recipes": k, **ev,
                  "done": i * int(verify_seeds) + ev["run"], "total": total})

        try:
            entry.verification = verify(entry.predicted.recipe(), simulator=simulator, seeds=int(verify_seeds),
                                        targets=spec, seed=seeds[i], device=device, describe=describe,
                                        recipe="fp", runs=(out / "runs") if out is not None else None,
                                        progress=on_run, should_stop=should_stop)
        except VerificationStopped as stop:
            entry.runs_done = stop.done
            state = "stopped"
            break
    result = RecipeResult(spec, model_label(model), entries, pathway, state, int(verify_seeds),
                          source, search_seconds, time.perf_counter() - started, out)
    result.rank()
    if out is not None:
        _write_json(out / SUMMARY_FILE, result.summary())
    return result
