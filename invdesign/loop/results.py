"""Ranked candidates of a design study, the :class:`DesignResult`, and writing them to disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from generators.protocol import RECIPE_NAMES
from invdesign.studies.artifacts import load_trial_arrays
from invdesign.studies.records import TrialRecord
from invdesign.studies.study import Settings, artifact_store
from objectives.io import write_npz


def row_attrs(row) -> dict:
    """A table row as JSON-friendly attributes (numbers, bools, strings)."""
    out = {}
    for k, v in dict(row).items():
        v = v.item() if hasattr(v, "item") else v
        if isinstance(v, (bool, int, float, str)):
            out[k] = v
    return out


def candidates_table(study: optuna.Study) -> pd.DataFrame:
    """One row per generated volume of every complete trial, best first.

    Columns: ``rank``, ``trial``, ``sample``, ``distance`` (in tolerance units, <= 1 meets every
    target; :mod:`invdesign.loop.scoring`), ``success``, ``condition_<name>`` per condition, every measured descriptor, the
    recipe ``phi``, ``chi``, ``log_time`` and ``time`` (``10**log_time``) when the generator
    predicts it (NaN otherwise), and ``trial_distance`` (distance of the trial's mean). When the
    model ships a recipe surrogate, also the recipe found by inverting it at the candidate's own
    measured values (``recipe_phi``, ``recipe_chi``, ``recipe_log_time``, ``recipe_time``,
    ``recipe_predicted_distance``); the FP's guess stays in ``phi``, ``chi``, ``log_time``. Row 0
    is :func:`invdesign.loop.scoring.study_best`.
    """
    settings = Settings.from_study(study)
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        rec = TrialRecord.read(t)
        if not rec.measured:
            continue
        for s in range(int(rec.n)):
            row = {"trial": t.number, "sample": s, "distance": rec.sample_distances[s],
                   "success": bool(rec.sample_success[s]),
                   "trial_distance": t.value if rec.mean_distance is None else rec.mean_distance}
            for name, x in zip(settings.condition_names, rec.condition or []):
                row[f"condition_{name}"] = x
            for k, v in rec.samples.items():
                row[k] = v[s]
            for k in RECIPE_NAMES:
                row[k] = rec.predicted[k][s] if k in rec.predicted else np.nan
            row["time"] = 10.0 ** row["log_time"] if np.isfinite(row["log_time"]) else np.nan
            sur = rec.surrogate_recipe
            if sur:
                for k in (*RECIPE_NAMES, "predicted_distance"):
                    row[f"recipe_{k}"] = sur[k][s]
                row["recipe_time"] = 10.0 ** sur["log_time"][s]
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values(["distance", "trial", "sample"], kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(len(df)))
    return df


def load_trial_arrays_of(study: optuna.Study, trial_number: int) -> dict[str, np.ndarray]:
    """``volume`` ``(n, X, Y, Z)`` uint8 and ``condition`` ``(d,)`` of one trial, from the
    study's artifact store, checked against the trial's recorded SHA-256.

    Raises
    ------
    ValueError
        No such trial, no stored volumes, or an artifact whose bytes do not match
        (:class:`~invdesign.studies.artifacts.ArtifactCorrupted`).
    """
    settings = Settings.from_study(study)
    trials = study.get_trials(deepcopy=False)
    if not 0 <= trial_number < len(trials):
        raise ValueError(f"no trial {trial_number} in study {study.study_name!r} ({len(trials)} trials)")
    rec = TrialRecord.read(trials[trial_number])
    return load_trial_arrays(artifact_store(settings), rec.artifact_id, rec.artifact_sha256,
                             what=f"artifact of trial {trial_number}")


def load_trial_volumes(study: optuna.Study, trial_number: int) -> np.ndarray:
    """The ``(n, X, Y, Z)`` uint8 volumes of one trial (SHA-256 checked, see
    :func:`load_trial_arrays_of`)."""
    return load_trial_arrays_of(study, trial_number)["volume"]


@dataclass
class DesignResult:
    """What a design returns.

    Attributes
    ----------
    candidates : DataFrame
        Every generated volume, ranked by distance (see :func:`candidates_table`).
    volumes : dict[int, ndarray]
        Rank -> volume ``(X, Y, Z)`` uint8 for the best ``keep`` candidates
        (:meth:`volume` loads any other from the study).
    best : Series or None
        The best candidate (rank 0); ``best["success"]`` says whether it meets every target.
    success : bool
        Whether any candidate meets every target within tolerance. If not, ``best`` is the
        closest one and is flagged ``success=False``.
    study : optuna.Study
    settings : Settings
    out_dir : Path or None
    """

    candidates: pd.DataFrame
    volumes: dict[int, np.ndarray]
    best: pd.Series | None
    success: bool
    study: optuna.Study
    settings: Settings
    out_dir: Path | None = None
    files: list[Path] = field(default_factory=list)

    @classmethod
    def from_study(cls, study: optuna.Study, keep: int = 8, out_dir: Path | None = None) -> "DesignResult":
        """Build the result of a study (any process, any time)."""
        settings = Settings.from_study(study)
        cands = candidates_table(study)
        volumes: dict[int, np.ndarray] = {}
        cache: dict[int, np.ndarray] = {}
        for _, row in cands.head(keep).iterrows():
            t = int(row["trial"])
            if t not in cache:
                cache[t] = load_trial_volumes(study, t)
            volumes[int(row["rank"])] = cache[t][int(row["sample"])]
        best = cands.iloc[0] if len(cands) else None
        success = bool(cands["success"].any()) if len(cands) else False
        return cls(cands, volumes, best, success, study, settings, out_dir)

    def volume(self, rank: int) -> np.ndarray:
        """Volume ``(X, Y, Z)`` of the candidate with this rank."""
        if rank in self.volumes:
            return self.volumes[rank]
        if not 0 <= rank < len(self.candidates):
            raise ValueError(f"no candidate of rank {rank} ({len(self.candidates)} candidates)")
        row = self.candidates.iloc[rank]
        return load_trial_volumes(self.study, int(row["trial"]))[int(row["sample"])]

    def summary(self) -> dict:
        """JSON-ready summary: settings, counts, success and the best candidate."""
        states = [t.state for t in self.study.get_trials(deepcopy=False)]
        best = None
        if self.best is not None:
            best = {k: (v.item() if hasattr(v, "item") else v) for k, v in self.best.items()}
            best = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in best.items()}
        return {
            "study_name": self.study.study_name,
            "model": self.settings.model,
            "method": self.settings.method,
            "targets": self.settings.targets,
            "tolerances": self.settings.tolerances,
            "trials_complete": sum(s == TrialState.COMPLETE for s in states),
            "trials_failed": sum(s == TrialState.FAIL for s in states),
            "candidates": len(self.candidates),
            "success": self.success,
            "n_success": int(self.candidates["success"].sum()) if len(self.candidates) else 0,
            "best": best,
            "out_dir": str(self.out_dir) if self.out_dir else None,
        }

    def write(self, out_dir: Path, top: int | None = None) -> list[Path]:
        """Write candidate volumes (``candidates/rank0000_trial0003_s1.npz``, key ``volume``),
        ``candidates.csv`` and ``summary.json`` under ``out_dir``; return the volume paths."""
        out_dir = Path(out_dir)
        cdir = out_dir / "candidates"
        cdir.mkdir(parents=True, exist_ok=True)
        for old in cdir.glob("rank*_trial*_s*.npz"):  # ranks of an earlier (resumed) run
            old.unlink()
        paths = []
        cache: dict[int, np.ndarray] = {}
        rows = self.candidates if top is None else self.candidates.head(top)
        files = []
        for _, row in rows.iterrows():
            t, s, r = int(row["trial"]), int(row["sample"]), int(row["rank"])
            if r in self.volumes:
                vol = self.volumes[r]
            else:
                if t not in cache:
                    cache[t] = load_trial_volumes(self.study, t)
                vol = cache[t][s]
            path = cdir / f"rank{r:04d}_trial{t:04d}_s{s}.npz"
            write_npz(path, vol, row_attrs(row))
            paths.append(path)
            files.append(str(path.relative_to(out_dir)))
        table = self.candidates.copy()
        if len(table):
            table["file"] = files + [""] * (len(table) - len(files))
        table.to_csv(out_dir / "candidates.csv", index=False)
        summary = self.summary()
        summary["out_dir"] = str(out_dir)
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        self.files = paths
        return paths
