"""benchmarks/design.py takes its targets from held-out simulated volumes, as they are measured."""

import numpy as np
import pytest
import torch

import objectives
from benchmarks.design import held_out_targets


class Stub:
    condition_names = ("ABS_f_D", "CT_f_D_tort1")
    phases = 2

    def __init__(self, lo=(0.0, 0.0), hi=(1.0, 1.0)):
        self.bounds = torch.tensor([lo, hi], dtype=torch.float64)


@pytest.fixture
def held(tmp_path):
    g = np.random.default_rng(0)
    for i, (phi, chi) in enumerate([(0.35, 2.6), (0.6, 3.8)]):
        fields = np.clip(phi + 0.3 * g.standard_normal((4, 12, 10, 8)), 0, 1).astype(np.float32)
        np.savez(tmp_path / f"series_{i:03d}.npz", fields=fields, times=np.array([300.0, 1000, 3000, 10000]),
                 phi=phi, chi=chi, seed=i)
    return tmp_path


def test_targets_are_the_measured_values_of_held_out_snapshots(held):
    targets, total = held_out_targets(held, Stub(), 5)
    assert total == 8 and len(targets) == 5
    keys = {(t["series"], t["time"]) for t in targets}
    assert len(keys) == 5  # distinct snapshots
    assert {t["phi"] for t in targets} == {0.35, 0.6}  # spread over both series
    for t in targets:
        with np.load(held / t["series"]) as f:
            k = list(f["times"]).index(t["time"])
            vol = (f["fields"][k] <= 0.5).astype(np.uint8)  # donor (0) where c > 0.5
        d = objectives.describe(vol)
        assert t["target"] == {n: round(d[n], 4) for n in Stub.condition_names}


def test_targets_outside_the_model_bounds_are_left_out(held):
    everything, _ = held_out_targets(held, Stub(), 8)
    cut = sorted(t["target"]["ABS_f_D"] for t in everything)[3]
    kept, total = held_out_targets(held, Stub(hi=(cut, 1.0)), 8)
    assert total == 8 and len(kept) == 4
    assert all(t["target"]["ABS_f_D"] <= cut for t in kept)
    with pytest.raises(SystemExit, match="no held-out snapshot"):
        held_out_targets(held, Stub(hi=(0.0, 0.0)), 3)
