"""``invdesign.design``: search a generator's condition space for volumes meeting targets."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from invdesign.loop.measure import DescribeBatch, can_screen, measurable_names
from invdesign.loop.results import DesignResult
from invdesign.loop.runner import StopCheck, TrialCallback, complete_count, run_trials
from invdesign.loop.space import ConditionSpace
from invdesign.studies.study import METHODS, Settings, create_or_resume, open_storage
from invdesign.threads import ThreadPolicy
from objectives.losses import DISTANCES
from objectives.targets import check_targets, make_targets


_REGISTRY: dict[str, Callable[..., Any]] = {}

#: Latents per kept sample when the generator can be screened (see ``design(screen=...)``).
DEFAULT_SCREEN = 4
#: Fraction of each condition's range around the target condition that the BO's initial points
#: fill (1: the whole space). See ``design(initial_radius=...)``.
DEFAULT_INITIAL_RADIUS = 1.0
#: The BO's prior mean (see ``design(prior=...)``).
DEFAULT_PRIOR = "generator"
PRIORS = ("generator", "flat")


def register_generator(name: str, factory: Callable[..., Any]) -> None:
    """Make ``name`` a model name in this process: ``factory(device=...)`` builds the generator.

    Lets workers resolve a study's model that ``generators.load`` does not know (custom or test
    generators).
    """
    _REGISTRY[name] = factory


def resolve_generator(model, device: str | torch.device = "cpu"):
    """A Generator from a registered name, a shipped name or directory (``generators.load``), or
    a generator object (returned as is)."""
    if isinstance(model, (str, Path)):
        if str(model) in _REGISTRY:
            return _REGISTRY[str(model)](device=device)
        from generators import load

        return load(str(model), device=device)
    for attr in ("condition_names", "bounds", "sample"):
        if not hasattr(model, attr):
            raise ValueError(f"model must be a name, a directory or a Generator (lacks {attr!r})")
    return model


def model_label(model) -> str:
    """How the model is recorded in the study."""
    if isinstance(model, (str, Path)):
        return str(model)
    return str(getattr(model, "name", type(model).__name__))


def _positive_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
        hasattr(value, "__index__")
    ):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def design(
    targets: Mapping[str, float],
    tolerance: float | Mapping[str, float] = 0.02,
    model="ch2-default",
    budget: int = 20,
    time_budget: float | None = None,
    samples_per_trial: int = 4,
    batch_size: int = 1,
    method: str = "bo",
    seed: int = 0,
    storage=None,
    study_name: str | None = None,
    out_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    *,
    n_initial: int | None = None,
    distance: str = "max",
    describe: DescribeBatch | None = None,
    callback: TrialCallback | None = None,
    should_stop: StopCheck | None = None,
    keep: int = 8,
    threads: int | str | None = None,
    screen: int | None = None,
    initial_radius: float | None = None,
    prior: str | None = None,
) -> DesignResult:
    """Find generator conditions whose volumes meet target descriptors.

    Parameters
    ----------
    targets : mapping of str to float
        Descriptor name -> target value (names the measurement produces for this model, e.g.
        ``ABS_f_D``, ``CT_f_D_tort1`` for two phases; fractions in [0, 1]).
    tolerance : float or mapping
        Absolute tolerance (> 0), one for all or one per target.
    model : str, Path or Generator
        Shipped model name, weight-pack directory (``generators.load``) or a generator object.
    budget : int
        Total COMPLETE trials the study should hold (>= 0). A resumed study runs only the
        missing ones; ``0`` creates the study (settings stored) and runs nothing.
    time_budget : float, optional
        Seconds after which no new trial starts.
    samples_per_trial : int
        Volumes generated per condition (their mean and variance feed the models).
    batch_size : int
        Conditions proposed together (q-batch; pending ones are accounted for).
    method : {"bo", "direct", "random", "tpe", "gp"}
        Composite BO, direct conditioning (condition = target, resampled), random search,
        Optuna TPE, Optuna GPSampler.
    seed : int
    storage : str or optuna storage, optional
        Optuna storage URL (``sqlite:///x.db``, ...), a journal-file path, or a storage object.
        Default: ``out_dir/study.journal``.
    study_name : str, optional
        Default ``"design"``. An existing study of this name is resumed: its complete trials are
        kept; trials of dead processes (stale heartbeat) are failed and retried, trials of live
        workers are left running.
    out_dir : str or Path, optional
        Where the study journal, artifacts, candidate volumes (``.npz``), ``candidates.csv`` and
        ``summary.json`` go (default: a new temporary directory).
    device : str or torch.device
        Device for the generator and the measurement.
    n_initial : int, optional
        Initial trials (target condition + Sobol) before the BO's model guides the search;
        default 1 (the target condition) with the generator prior, else
        ``min(1 + 2 * d, max(2, budget // 3))``; for TPE/GP their startup trials.
    distance : {"max", "l2"}
        Distance to the targets in tolerance units (``max`` <= 1 means every target is met).
    describe : callable, optional
        Batched descriptor function (default ``objectives.describe_batch``).
    callback : callable, optional
        Called with each completed trial (``FrozenTrial``), e.g. for progress.
    should_stop : callable, optional
        Asked before each batch of trials; ``True`` ends the run there and the result holds what
        is complete (e.g. a dashboard's stop button).
    keep : int
        Candidate volumes held in memory in the result (others load on demand).
    threads : int or "auto", optional
        torch CPU threads for the run. Default: ``INVDESIGN_THREADS`` if set, else picked from the
        cores that are free and checked again while the design runs (:mod:`invdesign.threads`);
        the previous setting is put back when the design returns.
    screen : int, optional
        Latents drawn per kept sample and ranked by the generator's feature predictor before
        decoding and measuring (1: off). Default: 4 when the generator exposes its latents and
        predicts a targeted descriptor, else 1. A resumed study keeps the value it was made with.
    initial_radius : float, optional
        In (0, 1]: the BO's initial Sobol points fill the box of this fraction of each condition's
        range around the target condition (conditions that are targets), instead of the whole
        space (1). Default ``DEFAULT_INITIAL_RADIUS``. A resumed study keeps its value.
    prior : {"generator", "flat"}, optional
        The BO's prior mean. ``"generator"`` (default, ``DEFAULT_PRIOR``): a sample meets the
        condition it asks for, and the GPs learn the generator's error (targets that are
        conditions); the first trial runs the target condition, the next ones correct it.
        ``"flat"``: GPs on the standardised descriptors after a space-filling start. A resumed
        study keeps its value.

    Returns
    -------
    DesignResult
        Ranked candidates; if none meets every tolerance, ``best`` is the closest, flagged
        ``success=False``.

    Raises
    ------
    ValueError
        Unknown descriptor, target out of range, tolerance <= 0, budget < 0, unknown method, or a
        study of this name with other settings.
    """
    budget = _positive_int("budget", budget, 0)
    samples_per_trial = _positive_int("samples_per_trial", samples_per_trial, 1)
    batch_size = _positive_int("batch_size", batch_size, 1)
    seed = _positive_int("seed", seed, 0)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r}; choose one of {', '.join(DISTANCES)}")
    if time_budget is not None and not time_budget > 0:
        raise ValueError(f"time_budget must be > 0 seconds, got {time_budget}")
    policy = ThreadPolicy(threads)
    if screen is not None:
        screen = _positive_int("screen", screen, 1)
    if initial_radius is None:
        initial_radius = DEFAULT_INITIAL_RADIUS
    if isinstance(initial_radius, bool) or not isinstance(initial_radius, (int, float)) \
            or not 0 < initial_radius <= 1:
        raise ValueError(f"initial_radius must be a number in (0, 1], got {initial_radius!r}")
    if prior is None:
        prior = DEFAULT_PRIOR
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; choose one of {', '.join(PRIORS)}")
    with policy:
        return _design(targets, tolerance, model, budget, time_budget, samples_per_trial, batch_size,
                       method, seed, storage, study_name, out_dir, device, n_initial, distance,
                       describe, callback, should_stop, keep, screen, float(initial_radius), prior)


def _design(targets, tolerance, model, budget, time_budget, samples_per_trial, batch_size, method,
            seed, storage, study_name, out_dir, device, n_initial, distance, describe, callback,
            should_stop, keep, screen, initial_radius, prior) -> DesignResult:
    spec = make_targets(targets, tolerance)
    fractions = {n: v for n, v in spec.values.items() if n.startswith("vol_frac_")}
    if sum(fractions.values()) > 1.0 + 1e-9:
        raise ValueError(f"infeasible targets: volume fractions {' + '.join(fractions)} = "
                         f"{sum(fractions.values()):g} > 1")
    generator = resolve_generator(model, device)
    space = ConditionSpace.of(generator)
    ranges = {n: (float(space.bounds[0, i]), float(space.bounds[1, i])) for i, n in enumerate(space.names)}
    ranges.update(getattr(generator, "descriptor_ranges", None) or {})
    check_targets(spec, measurable_names(generator, describe), ranges)
    if screen is None:
        screen = DEFAULT_SCREEN if can_screen(generator, spec.names) else 1
    if n_initial is None:
        n_initial = 1 if prior == "generator" else min(1 + 2 * space.dim, max(2, budget // 3))
    n_initial = _positive_int("n_initial", n_initial, 1)

    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="invdesign-"))
    store = open_storage(storage, out)
    settings = Settings(
        model=model_label(model), targets=spec.values, tolerances=spec.tolerances, method=method,
        samples_per_trial=samples_per_trial, batch_size=batch_size, seed=seed,
        n_initial=n_initial, distance=distance, condition_names=list(space.names),
        bounds=space.bounds.tolist(), constraints=[list(c) for c in space.constraints],
        artifact_dir=str((out / "artifacts").resolve()), screen=screen, initial_radius=initial_radius,
        prior=prior,
    )
    study, _ = create_or_resume(store, study_name or "design", settings)
    stored = Settings.from_study(study)
    remaining = max(budget - complete_count(study), 0)
    run_trials(study, generator, remaining, describe=describe, time_budget=time_budget, callback=callback,
               should_stop=should_stop)
    result = DesignResult.from_study(study, keep=keep, out_dir=out)
    result.settings = stored
    if out_dir is not None:
        result.write(out)
    return result
