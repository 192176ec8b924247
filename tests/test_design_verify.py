"""invdesign.verify: a candidate's recipe re-simulated and measured again (fake simulator)."""

import math

import pytest

from invdesign import design, verify
from objectives.losses import target_distance
from objectives.targets import make_targets
from tests.design_fakes import BiasedFakeGenerator, FakeSimulator, fake_describe_batch

TARGETS = {"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return design(TARGETS, 0.03, model=BiasedFakeGenerator(), budget=3, method="random",
                  out_dir=tmp_path_factory.mktemp("v"), describe=fake_describe_batch)


def test_verify_runs_the_recipe(result):
    sim = FakeSimulator()
    v = verify(result, simulator=sim, seeds=3, describe=fake_describe_batch)
    best = result.best
    assert v.recipe["phi"] == pytest.approx(best["phi"])
    assert v.recipe["time"] == pytest.approx(10 ** best["log_time"])
    # the simulator got (phi, chi, time = 10**log_time), once, for 3 seeds
    assert sim.last_conditions.shape == (1, 3)
    assert float(sim.last_conditions[0, 2]) == pytest.approx(10 ** best["log_time"], rel=1e-5)
    assert v.volumes.shape == (3, 32, 32, 8) and len(v.table) == 3
    spec = make_targets(TARGETS, 0.03)
    assert v.distance_to_target == pytest.approx(float(target_distance(v.mean, spec)))
    # means are the means of the per-seed table
    assert v.mean["ABS_f_D"] == pytest.approx(v.table["ABS_f_D"].mean())
    assert v.success == (v.distance_to_target <= 1)


def test_verify_finds_candidate_close_and_a_wrong_recipe_far(result):
    row = result.best.copy()
    v = verify(row, simulator=FakeSimulator(), targets=TARGETS, tolerance=0.03,
               describe=fake_describe_batch)
    wrong = row.copy()
    wrong["phi"] = row["phi"] - 0.25
    w = verify(wrong, simulator=FakeSimulator(), targets=TARGETS, tolerance=0.03,
               describe=fake_describe_batch)
    assert v.distance_to_candidate < w.distance_to_candidate
    assert v.distance_to_candidate < 3


def test_verify_bad_input(result):
    row = result.best.copy()
    with pytest.raises(ValueError, match="give the targets"):
        verify(row, simulator=FakeSimulator(), describe=fake_describe_batch)
    no_recipe = row.copy()
    no_recipe["log_time"] = math.nan
    with pytest.raises(ValueError, match="no recipe value 'log_time'"):
        verify(no_recipe, simulator=FakeSimulator(), targets=TARGETS, describe=fake_describe_batch)
    with pytest.raises(ValueError, match="seeds must be"):
        verify(result, simulator=FakeSimulator(), seeds=0, describe=fake_describe_batch)
    with pytest.raises(ValueError, match="candidate must be"):
        verify(42, simulator=FakeSimulator())


def test_default_simulator_gets_candidate_shape_and_phases(result, monkeypatch):
    import sys
    import types

    import generators

    made = []

    class Recording(FakeSimulator):
        def __init__(self, device="cpu", shape=(128, 128, 64), phases=2):
            made.append((str(device), tuple(shape), phases))
            super().__init__(device, shape, phases)

    ch = types.ModuleType("generators.cahn_hilliard")
    ch.CahnHilliardGenerator = Recording
    monkeypatch.setitem(sys.modules, "generators.cahn_hilliard", ch)
    monkeypatch.setattr(generators, "cahn_hilliard", ch, raising=False)
    v = verify(result, seeds=1, describe=fake_describe_batch)
    assert made == [("cpu", (32, 32, 8), 2)]
    assert len(v.table) == 1
