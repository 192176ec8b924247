"""What a design trial stores: one record type that writes and reads a trial's user attributes.

A study is just data in Optuna storage, so these key names are a storage format: studies written by
earlier versions must keep reading. Every key is a field of :class:`TrialRecord` (the field name is
the attribute key); nothing else in the project spells them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import optuna

#: The attribute keys, as stored (= :class:`TrialRecord`'s field names).
CONDITION = "condition"
WORKER = "worker"


@dataclass
class TrialRecord:
    """A design trial's attributes.

    Written in two steps: when the trial is opened (``condition``, ``worker``) and when it is
    measured (everything else, then the trial is told its distance).

    Attributes
    ----------
    condition : list of float ``(d,)``
        The condition actually run (the trial's params are what a sampler chose; they differ only
        where a TPE/GP proposal was repaired into the constraints).
    worker : str
        ``host:pid`` of the process that ran it.
    proposal : str
        How the condition was chosen: ``initial``, ``search``, ``resample``, ``fallback``,
        ``direct``, ``random``, ``tpe``, ``gp`` or ``retry`` (:mod:`invdesign.loop.proposers`).
    p_success : float
        The composite BO's probability, at the condition, that one volume meets every target.
    fallback_reason : str
        Why a BO proposal fell back to a space-filling point (``proposal == "fallback"``).
    n : int
        Volumes generated at the condition.
    sample_seed : int
        Seed of the generator call.
    means, variances : dict[str, float]
        Per descriptor, over the ``n`` volumes (variance with ddof 1; 0 when n = 1).
    samples : dict[str, list of float ``(n,)``]
        Every measured descriptor of every volume.
    predicted : dict[str, list of float ``(n,)``]
        The generator's per-volume predictions (e.g. the recipe).
    recipe : dict[str, float]
        Mean predicted ``phi``, ``chi``, ``log_time`` (those predicted).
    surrogate_recipe : dict[str, list of float ``(n,)``]
        Per volume, the recipe found by inverting the model's recipe surrogate at the volume's
        measured values: ``phi``, ``chi``, ``log_time``, ``predicted_distance``, ``p_success``
        (only when the model ships a surrogate; :mod:`invdesign.recipes.candidates`).
    sample_distances : list of float ``(n,)``
        Distance of each volume to the targets, in tolerance units.
    sample_success : list of bool ``(n,)``
        Whether each volume meets every target.
    success : bool
        Whether any volume does.
    mean_distance : float
        Distance of the volumes' mean descriptors (the trial's value is its best volume's
        distance; :mod:`invdesign.loop.scoring`).
    artifact_id, artifact_sha256 : str
        The artifact holding ``volume`` uint8 ``(n, X, Y, Z)`` and ``condition`` float64 ``(d,)``,
        and the SHA-256 of its bytes (checked on every load).
    """

    condition: list[float] | None = None
    worker: str | None = None
    proposal: str | None = None
    p_success: float | None = None
    fallback_reason: str | None = None
    n: int | None = None
    sample_seed: int | None = None
    means: dict[str, float] = field(default_factory=dict)
    variances: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    predicted: dict[str, list[float]] = field(default_factory=dict)
    recipe: dict[str, float] = field(default_factory=dict)
    surrogate_recipe: dict[str, list[float]] = field(default_factory=dict)
    sample_distances: list[float] = field(default_factory=list)
    sample_success: list[bool] = field(default_factory=list)
    success: bool | None = None
    mean_distance: float | None = None
    artifact_id: str | None = None
    artifact_sha256: str | None = None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Every attribute key a design trial may hold."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def read(cls, trial: optuna.Trial | optuna.trial.FrozenTrial) -> "TrialRecord":
        """The record of a trial (absent keys take their empty defaults; other keys are ignored)."""
        attrs = trial.user_attrs
        return cls(**{k: attrs[k] for k in cls.keys() if k in attrs})

    def attrs(self) -> dict[str, Any]:
        """The set fields as user attributes (``None`` and empty fields left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None and getattr(self, f.name) != {} and getattr(self, f.name) != []}

    def write(self, trial: optuna.Trial) -> None:
        """Set every non-empty field as a user attribute of ``trial``."""
        for key, value in self.attrs().items():
            trial.set_user_attr(key, value)

    @property
    def measured(self) -> bool:
        """Whether the trial holds a measurement (its volumes were generated and described)."""
        return bool(self.samples) and self.n is not None
