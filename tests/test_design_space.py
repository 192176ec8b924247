"""Condition space (bounds + linear constraints), the composite BO's proposals, 3-phase designs."""

import pytest
import torch

from generators.protocol import Samples
from invdesign import design
from invdesign.loop.composite_bo import propose_bo
from invdesign.loop.space import ConditionSpace

# vol_frac_D + vol_frac_M <= 1, in BoTorch's form
SUM_LE_ONE = ([0, 1], [-1.0, -1.0], -1.0)


def space3():
    return ConditionSpace(("vol_frac_D", "vol_frac_M"), torch.tensor([[0.05, 0.05], [0.95, 0.95]]),
                          [SUM_LE_ONE])


def test_sobol_points_are_feasible_and_spread():
    sp = space3()
    x = sp.sobol(64, seed=3)
    assert x.shape == (64, 2)
    assert sp.feasible(x).all() and (x.sum(1) <= 1 + 1e-12).all()
    assert x[:, 0].max() > 0.8 and x[:, 1].max() > 0.8  # reaches both corners of the triangle
    assert torch.equal(x, sp.sobol(64, seed=3))


def test_sobol_around_a_point_stays_in_its_box_and_the_space():
    sp = space3()
    c = torch.tensor([0.1, 0.6], dtype=torch.float64)
    x = sp.sobol(32, seed=1, around=c, radius=0.1)  # box +- 0.09, cut at 0.05 and by the constraint
    assert sp.feasible(x).all()
    assert ((x - c).abs() <= 0.09 + 1e-12).all()
    assert x[:, 0].min() >= 0.05 and (x[:, 1] - c[1]).abs().max() > 0.05  # fills the box
    assert torch.equal(sp.sobol(32, seed=1, around=c, radius=1.0), sp.sobol(32, seed=1))


def test_initial_design_is_the_target_then_points_around_it(tmp_path):
    """A study's BO starts at the target condition, then fills initial_radius of each range around it."""
    from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch

    res = design({"ABS_f_D": 0.4, "CT_f_D_tort1": 0.3}, tolerance=0.03, model=BiasedFakeGenerator(), budget=4,
                 samples_per_trial=1, n_initial=4, initial_radius=0.05, out_dir=tmp_path / "o",
                 describe=fake_describe_batch)
    x = torch.tensor([t.user_attrs["condition"] for t in sorted(res.study.trials, key=lambda t: t.number)],
                     dtype=torch.float64)
    assert res.settings.initial_radius == 0.05
    assert torch.allclose(x[0], torch.tensor([0.4, 0.3], dtype=torch.float64))
    half = 0.05 * torch.tensor([0.8, 1.0], dtype=torch.float64)  # the fake's bounds: 0.1-0.9, 0-1
    assert ((x[1:4] - x[0]).abs() <= half + 1e-9).all()
    assert len({tuple(r.tolist()) for r in x}) == 4


def test_repair_keeps_feasible_and_fixes_infeasible():
    sp = space3()
    x = torch.tensor([[0.3, 0.3], [0.9, 0.9], [2.0, -1.0]], dtype=torch.float64)
    y = sp.repair(x)
    assert torch.equal(y[0], x[0])
    assert sp.feasible(y).all()
    assert y[1].sum() == pytest.approx(1.0, abs=1e-6)  # moved to the boundary, not the centre


def test_direct_condition_clips_and_uses_centre_for_untargeted():
    sp = space3()
    x = sp.direct({"vol_frac_D": 0.4})
    assert x[0] == pytest.approx(0.4) and sp.feasible(x)
    assert sp.direct({"vol_frac_D": 0.99, "vol_frac_M": 0.5}).sum() <= 1 + 1e-9


@pytest.mark.parametrize(
    "names, bounds, cons, match",
    [
        (("a",), [[0, 0], [1, 1]], [], "bounds must have shape"),
        (("a", "b"), [[0, 1], [1, 1]], [], "lower < upper"),
        (("a", "b"), [[0, 0], [1, 1]], [([0, 5], [1.0, 1.0], 0.0)], "bad inequality constraint"),
    ],
)
def test_bad_space(names, bounds, cons, match):
    with pytest.raises(ValueError, match=match):
        ConditionSpace(names, torch.tensor(bounds, dtype=torch.float64), cons)


def test_unsatisfiable_constraints():
    sp = ConditionSpace(("a", "b"), torch.tensor([[0.6, 0.6], [0.9, 0.9]]), [SUM_LE_ONE])
    with pytest.raises(ValueError, match="feasible"):
        sp.sobol(4, seed=0)


def test_bo_proposals_respect_constraints_and_move_toward_target():
    sp = space3()
    X = sp.sobol(12, seed=1)
    means = X.clone()  # descriptors equal the conditions
    var = torch.full_like(means, 1e-4)
    target = torch.tensor([0.6, 0.35], dtype=torch.float64)
    tol = torch.tensor([0.02, 0.02], dtype=torch.float64)
    cand = propose_bo(sp, X, means, var, 4, target, tol, q=2, seed=0)
    assert cand.shape == (2, 2) and sp.feasible(cand).all()
    best_seen = (X - target).abs().div(tol).amax(1).min()
    dist = (cand - target).abs().div(tol).amax(1).min()
    assert dist < best_seen


class ThreePhaseFake:
    """Labels by thresholded uniform noise: P(donor) = 0.9 vol_frac_D, P(mixed) = vol_frac_M."""

    condition_names = ("vol_frac_D", "vol_frac_M")
    phases = 3
    shape = (16, 16, 8)
    inequality_constraints = [SUM_LE_ONE]

    def __init__(self):
        self.bounds = torch.tensor([[0.05, 0.05], [0.95, 0.95]])
        self.seen = []

    def sample(self, conditions, n=1, seed=None):
        c = torch.as_tensor(conditions, dtype=torch.float32)
        self.seen.append(c.clone())
        g = torch.Generator().manual_seed(seed or 0)
        u = torch.rand(c.shape[0], n, *self.shape, generator=g)
        pd_ = (0.9 * c[:, 0]).view(-1, 1, 1, 1, 1)
        pm = c[:, 1].view(-1, 1, 1, 1, 1)
        vol = torch.where(u < pd_, 0, torch.where(u < pd_ + pm, 2, 1)).to(torch.uint8)
        return Samples(volumes=vol.reshape(-1, *self.shape), conditions=c.repeat_interleave(n, 0))


def describe3(volumes, periodic=False):
    return {f"vol_frac_{k}": (volumes == v).float().mean(dim=(1, 2, 3)) for k, v in (("D", 0), ("A", 1), ("M", 2))}


@pytest.mark.parametrize("method", ["bo", "tpe"])
def test_three_phase_design_stays_in_constraints(tmp_path, method):
    gen = ThreePhaseFake()
    res = design({"vol_frac_D": 0.5, "vol_frac_M": 0.3}, 0.03, model=gen, budget=6, method=method,
                 samples_per_trial=2, out_dir=tmp_path, describe=describe3, n_initial=3)
    conds = torch.cat(gen.seen)
    assert len(conds) == 6
    assert (conds.sum(1) <= 1 + 1e-5).all()
    assert len(res.candidates) == 12
