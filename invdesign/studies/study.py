"""Optuna studies of a design: storage, stored settings, artifact store, resumption.

A design is just data in standard Optuna storage (it opens in optuna-dashboard): the study's user
attrs hold the settings (model, targets, tolerances, method, ...), each trial the condition, the
measured descriptors and the recipe, and each trial's volumes are an artifact (``.npz``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage

from invdesign.studies.artifacts import SafeArtifactStore
from invdesign.studies.stale import fail_stale_trials, fail_stale_trials_locked
from invdesign.studies.storage import JOURNAL_NAME, open_storage
from objectives.targets import Targets, make_targets

__all__ = ["METHODS", "Settings", "artifact_store", "create_or_resume", "fail_stale_trials",
           "fail_stale_trials_locked", "load_design_study", "make_sampler", "open_existing", "open_storage"]

METHODS = ("bo", "direct", "random", "tpe", "gp")
SETTINGS_ATTR = "invdesign_settings"


@dataclass
class Settings:
    """Everything a process needs to run trials of a design (stored in the study).

    Attributes
    ----------
    model : str
        Model name or directory (what ``generators.load`` takes), or a label for a custom
        generator object.
    targets, tolerances : dict[str, float]
        Target value and absolute tolerance per descriptor.
    method : str
        One of ``METHODS``.
    samples_per_trial, batch_size, seed, n_initial : int
        Volumes per condition; conditions proposed together; base seed; initial (space-filling)
        trials of the BO.
    distance : str
        ``"max"`` or ``"l2"`` (see :func:`objectives.losses.distance`).
    condition_names : list of str
    bounds : list of two lists
        Lower and upper condition bounds.
    constraints : list
        Linear inequality constraints in BoTorch's format.
    artifact_dir : str
        Directory of the study's artifact store (:class:`invdesign.studies.artifacts.SafeArtifactStore`).
    screen : int
        Latents drawn per kept sample, ranked by the generator's feature predictor before decoding
        (1: no screening; :class:`invdesign.loop.measure.Screen`).
    initial_radius : float
        The BO's initial Sobol points lie within this fraction of each condition's range of the
        target condition (1: the whole space, as studies made before this setting existed).
    prior : str
        The BO's prior mean: ``"generator"`` (a sample meets its condition; the GPs learn the
        generator's error, :class:`invdesign.loop.composite_bo.GeneratorPrior`) or ``"flat"``
        (standardised descriptors, as studies made before this setting existed).
    """

    model: str
    targets: dict[str, float]
    tolerances: dict[str, float]
    method: str
    samples_per_trial: int
    batch_size: int
    seed: int
    n_initial: int
    distance: str
    condition_names: list[str]
    bounds: list[list[float]]
    constraints: list = field(default_factory=list)
    artifact_dir: str = ""
    screen: int = 1
    initial_radius: float = 1.0
    prior: str = "flat"

    @property
    def target_spec(self) -> Targets:
        return make_targets(self.targets, self.tolerances)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_study(cls, study: optuna.Study) -> "Settings":
        """Read the settings stored in ``study``.

        Raises
        ------
        ValueError
            The study was not created by invdesign.
        """
        raw = study.user_attrs.get(SETTINGS_ATTR)
        if raw is None:
            raise ValueError(f"study {study.study_name!r} holds no invdesign design settings")
        return cls(**json.loads(raw))

    def identity(self) -> dict[str, Any]:
        """The settings that must agree when a study is resumed."""
        keep = ("model", "targets", "tolerances", "method", "samples_per_trial", "seed",
                "distance", "condition_names")
        return {k: getattr(self, k) for k in keep}


def make_sampler(method: str, seed: int, n_initial: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler for a method (TPE and GP sample; the others enqueue fixed params)."""
    if method == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_initial)
    if method == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_initial)
    return optuna.samplers.RandomSampler(seed=seed)


def create_or_resume(
    storage: str | BaseStorage, study_name: str, settings: Settings
) -> tuple[optuna.Study, bool]:
    """Create the study with ``settings`` stored, or load it if it exists (resume).

    On resume the stored settings must agree with ``settings`` (targets, model, method, ...);
    trials of dead processes are failed (:func:`fail_stale_trials`); live workers' trials are kept.

    Returns
    -------
    (study, resumed)
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = make_sampler(settings.method, settings.seed, settings.n_initial)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    except KeyError:
        study = None
    if study is None:
        study = optuna.create_study(
            study_name=study_name, storage=storage, sampler=sampler, direction="minimize"
        )
        study.set_user_attr(SETTINGS_ATTR, settings.to_json())
        study.set_user_attr("model", settings.model)
        study.set_user_attr("targets", settings.targets)
        study.set_user_attr("tolerances", settings.tolerances)
        study.set_user_attr("method", settings.method)
        return study, False
    stored = Settings.from_study(study)
    mine, theirs = settings.identity(), stored.identity()
    diff = [k for k in mine if mine[k] != theirs[k]]
    if diff:
        parts = ", ".join(f"{k}: stored {theirs[k]!r}, given {mine[k]!r}" for k in diff)
        raise ValueError(f"study {study_name!r} exists with other settings ({parts})")
    fail_stale_trials(study)
    return study, True


def load_design_study(storage: str | BaseStorage, study_name: str | None = None) -> optuna.Study:
    """Load an existing design study (the only one in the storage if no name is given)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if study_name is None:
        names = optuna.get_all_study_names(storage)
        if len(names) != 1:
            raise ValueError(
                f"storage holds {len(names)} studies ({', '.join(names) or 'none'}): "
                "give the study name"
            )
        study_name = names[0]
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise ValueError(f"no study named {study_name!r} in this storage") from None
    Settings.from_study(study)
    return study


def artifact_store(settings: Settings) -> SafeArtifactStore:
    """The study's artifact store (atomic writes, path-safe ids; created if missing)."""
    return SafeArtifactStore(settings.artifact_dir)


def open_existing(
    storage: str | BaseStorage | None, out_dir: str | Path | None, study_name: str | None
) -> optuna.Study:
    """Open an existing design study from a storage or an output directory.

    Raises
    ------
    ValueError
        Neither given, no journal in ``out_dir``, or no such study.
    """
    if storage is None:
        if out_dir is None:
            raise ValueError("give --out DIR (a design's output directory) or --storage")
        journal = Path(out_dir) / JOURNAL_NAME
        if not journal.is_file():
            raise ValueError(f"no design study in {out_dir} ({JOURNAL_NAME} not found)")
    elif isinstance(storage, str) and "://" not in storage and not Path(storage).is_file():
        raise ValueError(f"storage file {storage} does not exist")
    return load_design_study(open_storage(storage, Path(out_dir) if out_dir else None), study_name)
