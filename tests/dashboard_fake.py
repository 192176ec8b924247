"""A tiny fast three-phase generator for the dashboard tests, and a stand-in for ``invdesign.design``
used only while the real design API is not merged (tests prefer the real one when present)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from generators.protocol import Samples


class FakeGenerator:
    """Conditions (vol_frac_D, vol_frac_M) -> 16x16x8 three-phase volumes with those fractions.

    Smoothed seeded noise is split at its quantiles, so the phase fractions match the condition up
    to one voxel; ``predicted`` holds a made-up recipe (phi, chi, log_time) that depends on it.
    """

    condition_names = ("vol_frac_D", "vol_frac_M")
    bounds = torch.tensor([[0.2, 0.0], [0.8, 0.4]], dtype=torch.float64)
    phases = 3
    shape = (16, 16, 8)
    inequality_constraints = [(torch.tensor([0, 1]), torch.tensor([-1.0, -1.0]), -1.0)]
    predicted_names = ("phi", "chi", "log_time")
    config = {"training": {"dataset": "synthetic", "epochs": 0, "note": "test generator"}}

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def sample(self, conditions: torch.Tensor, n: int = 1, seed: int | None = None) -> Samples:
        cond = torch.as_tensor(conditions, dtype=torch.float64).reshape(-1, 2)
        rng = np.random.default_rng(seed)
        vols = []
        for c in cond.repeat_interleave(n, 0).numpy():
            noise = rng.normal(size=self.shape)
            for ax in range(3):
                noise = noise + np.roll(noise, 1, ax) + np.roll(noise, -1, ax)
            order = np.argsort(noise, axis=None)
            labels = np.ones(noise.size, dtype=np.uint8)
            n_d, n_m = int(round(c[0] * noise.size)), int(round(c[1] * noise.size))
            labels[order[:n_d]] = 0
            labels[order[n_d:n_d + n_m]] = 2
            vols.append(labels.reshape(self.shape))
        rep = cond.repeat_interleave(n, 0)
        predicted = {"phi": 1 - rep[:, 0], "chi": 2.0 + rep[:, 1], "log_time": 1.0 + 2 * rep[:, 0]}
        return Samples(torch.from_numpy(np.stack(vols)), rep.float(), None,
                       {k: v.float() for k, v in predicted.items()})


def make_generator(device: str = "cpu") -> FakeGenerator:
    return FakeGenerator(device)


@dataclass
class StandInResult:
    candidates: pd.DataFrame
    volumes: list = field(default_factory=list)

    @property
    def best(self) -> pd.Series:
        return self.candidates.iloc[0]


_VOLUMES: dict[tuple[str, str], dict[int, np.ndarray]] = {}


def stand_in_design(targets, tolerance=0.02, model=None, budget=8, samples_per_trial=4,
                    method="random", seed=0, storage=None, study_name=None, out_dir=None,
                    device="cpu"):
    """Random search with the same call and result shape as ``invdesign.design`` (test only)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=storage, load_if_exists=True)
    tol = tolerance if isinstance(tolerance, dict) else {k: tolerance for k in targets}
    store = _VOLUMES.setdefault((str(storage), str(study_name)), {})
    names, lo, hi = model.condition_names, model.bounds[0], model.bounds[1]
    for _ in range(budget):
        trial = study.ask()
        cond = [trial.suggest_float(n, float(lo[i]), float(hi[i])) for i, n in enumerate(names)]
        s = model.sample(torch.tensor([cond]), samples_per_trial, seed=seed + trial.number)
        dists = []
        for j, vol in enumerate(s.volumes.numpy()):
            meas = {f"vol_frac_{p}": float((vol == k).mean()) for k, p in enumerate("DAM")}
            d = max(abs(meas[k] - v) / tol[k] for k, v in targets.items())
            dists.append(d)
            store[trial.number * 1000 + j] = vol
            trial.set_user_attr(f"sample{j}", {**meas, "distance": d,
                                               **{k: float(v[j]) for k, v in s.predicted.items()}})
        study.tell(trial, min(dists))
    rows = []
    for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE]):
        for j in range(100):
            if f"sample{j}" not in t.user_attrs:
                break
            rows.append({"trial": t.number, "sample": j, **t.params, **t.user_attrs[f"sample{j}"],
                         "key": t.number * 1000 + j})
    frame = pd.DataFrame(rows).sort_values("distance", kind="stable").reset_index(drop=True)
    frame["success"] = frame["distance"] <= 1.0
    vols = [store[k] for k in frame.pop("key")]
    return StandInResult(frame, vols)
