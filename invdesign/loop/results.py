"""Ranked candidates of a design study, the :class:`DesignResult`, and writing them to disk."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.artifacts import download_artifact
from optuna.trial import TrialState

from invdesign.loop.study import Settings, artifact_store
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
    target), ``success``, ``condition_<name>`` per condition, every measured descriptor, the
    recipe ``phi``, ``chi``, ``log_time`` and ``time`` (``10**log_time``) when the generator
    predicts it (NaN otherwise), and ``trial_distance`` (distance of the trial's mean). When the
    model ships a recipe surrogate, also the recipe found by inverting it at the candidate's own
    measured values (``recipe_phi``, ``recipe_chi``, ``recipe_log_time``, ``recipe_time``,
    ``recipe_predicted_distance``); the FP's guess stays in ``phi``, ``chi``, ``log_time``.
    """
    settings = Settings.from_study(study)
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        ua = t.user_attrs
        if "samples" not in ua:
            continue
        n = int(ua["n"])
        for s in range(n):
            row = {"trial": t.number, "sample": s, "distance": ua["sample_distances"][s],
                   "success": bool(ua["sample_success"][s]), "trial_distance": t.value}
            for name, x in zip(settings.condition_names, ua["condition"]):
                row[f"condition_{name}"] = x
            for k, v in ua["samples"].items():
                row[k] = v[s]
            pred = ua.get("predicted", {})
            for k in ("phi", "chi", "log_time"):
                row[k] = pred[k][s] if k in pred else np.nan
            row["time"] = 10.0 ** row["log_time"] if np.isfinite(row["log_time"]) else np.nan
            sur = ua.get("surrogate_recipe")
            if sur is not None:
                for k in ("phi", "chi", "log_time", "predicted_distance"):
                    row[f"recipe_{k}"] = sur[k][s]
                row["recipe_time"] = 10.0 ** sur["log_time"][s]
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df = df.sort_values(["distance", "trial", "sample"], kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(len(df)))
    return df


def load_trial_volumes(study: optuna.Study, trial_number: int) -> np.ndarray:
    """The ``(n, X, Y, Z)`` uint8 volumes of one trial, from the study's artifact store."""
    settings = Settings.from_study(study)
    trial = study.trials[trial_number]
    artifact_id = trial.user_attrs.get("artifact_id")
    if artifact_id is None:
        raise ValueError(f"trial {trial_number} has no stored volumes")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "volumes.npz"
        download_artifact(
            artifact_store=artifact_store(settings), file_path=str(path), artifact_id=artifact_id
        )
        with np.load(path) as data:
            return data["volume"]


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
