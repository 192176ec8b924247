"""A tiny fast three-phase generator for the dashboard tests, and a simulator that inverts its
made-up recipe."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
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



class FakeSimulator:
    """Stands in for the Cahn-Hilliard generator in verify tests: (phi, chi, time) -> volumes.

    Inverts :class:`FakeGenerator`'s made-up recipe (donor fraction ``1 - phi``, mixed ``chi - 2``),
    so a candidate's recipe reproduces its phase fractions.
    """

    condition_names = ("phi", "chi", "time")
    bounds = torch.tensor([[0.0, 0.0, 1.0], [1.0, 5.0, 1e4]], dtype=torch.float64)
    phases = 3
    shape = FakeGenerator.shape

    def sample(self, conditions: torch.Tensor, n: int = 1, seed: int | None = None) -> Samples:
        c = torch.as_tensor(conditions, dtype=torch.float64).reshape(-1, 3)
        frac = torch.stack([1 - c[:, 0], c[:, 1] - 2.0], dim=1)
        s = FakeGenerator().sample(frac, n, seed)
        return Samples(s.volumes, c.repeat_interleave(n, 0).float(), None, {})


@functools.lru_cache(maxsize=None)
def _vol_frac_surrogate():
    """A recipe surrogate of vol_frac_D and vol_frac_M, fitted once on 12 series of the small
    stand-in label table (tests/data/ch_labels_32.csv)."""
    from generators.surrogate import fit_surrogate, read_table

    rows = [r for r in read_table(Path(__file__).parent / "data" / "ch_labels_32.csv")
            if r["set"] == "train" and int(r["series"]) < 12]
    return fit_surrogate(rows, ["vol_frac_D", "vol_frac_M"])


def make_generator_with_surrogate(device: str = "cpu") -> FakeGenerator:
    """:class:`FakeGenerator` that ships a recipe surrogate (for the Recipes tab)."""
    gen = FakeGenerator(device)
    gen.surrogate = _vol_frac_surrogate()
    return gen
