"""Condition calibration (:mod:`generators.diffusion.calibration`): the fitted forward map, its
inverse against a known analytic inverse, the file round trip, and the sampler feeding the denoiser
the calibrated conditions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import generators
from generators.diffusion.calibration import FILENAME, ConditionCalibration
from generators.diffusion.selflabel import generate
from tests.tiny_model import train_tiny

NAMES = ("a", "b")


def _true_map(fed: np.ndarray) -> np.ndarray:
    """A generator that under-delivers ``a`` (slope 0.5 towards 0.6) and couples ``b`` to it."""
    a = 0.6 + 0.5 * (fed[:, 0] - 0.6)
    b = fed[:, 1] - 0.2 * (fed[:, 0] - 0.5)
    return np.stack([a, b], 1)


def _pairs(n: int = 300, noise: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    fed = rng.uniform([0.2, 0.2], [0.9, 0.6], (n, 2))
    return fed, _true_map(fed) + rng.normal(0, noise, (n, 2))


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    fed, measured = _pairs()
    return ConditionCalibration.fit(fed, measured, NAMES, steps=80)


def test_fit_learns_the_forward_map(fitted):
    cal, report = fitted
    grid = np.random.default_rng(5).uniform([0.3, 0.3], [0.8, 0.5], (50, 2))
    pred = cal(torch.tensor(grid, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(pred, _true_map(grid), atol=0.01)
    for k in NAMES:  # held-back pairs: the map beats no calibration
        assert report["conditions"][k]["mae_fitted"] < report["conditions"][k]["mae_identity"]
    assert report["noise_std"][0] == pytest.approx(0.01, rel=0.3)


def test_invert_matches_the_analytic_inverse(fitted):
    cal, _ = fitted
    target = np.array([[0.5, 0.4], [0.7, 0.35], [0.45, 0.5]])
    a = 0.6 + (target[:, 0] - 0.6) / 0.5
    exact = np.stack([a, target[:, 1] + 0.2 * (a - 0.5)], 1)
    fed = cal.invert(torch.tensor(target, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(fed, exact, atol=0.02)
    # one row in, one row out
    assert cal.invert(torch.tensor(target[0], dtype=torch.float32)).shape == (2,)


def test_target_beyond_reach_stays_in_the_fitted_box(fitted):
    cal, _ = fitted
    # a = 0.8 needs fed 1.0, past the pairs' box (0.9); the support test switched off here
    support = cal.support.clone()
    cal.support.copy_(torch.tensor([10.0, 20.0]))
    try:
        fed = cal.invert(torch.tensor([[0.8, 0.4]]))
    finally:
        cal.support.copy_(support)
    assert float(fed[0, 0]) <= float(cal.hi[0]) + 1e-6
    assert float(fed[0, 0]) == pytest.approx(float(cal.hi[0]), abs=0.02)


def test_target_no_pair_reached_is_left_alone(fitted):
    cal, _ = fitted
    # no sample ever measured a >= 0.8: the map's extrapolation is not trusted there
    target = torch.tensor([[0.99, 0.4], [0.78, 0.4]])
    w = cal.support_weight(target)
    assert float(w[0]) == 0.0 and 0.0 < float(w[1]) < 1.0
    fed = cal.invert(target)
    torch.testing.assert_close(fed[0], target[0])
    full = target[1, 0] + (float(cal.hi[0]) - target[1, 0])  # what full correction would feed (the box)
    assert target[1, 0] < fed[1, 0] < full


def test_conditions_not_free_are_fed_as_asked():
    fed, measured = _pairs()
    cal, _ = ConditionCalibration.fit(fed, measured, NAMES, steps=80, free=("b",))
    target = torch.tensor([[0.5, 0.4], [0.7, 0.35]])
    out = cal.invert(target)
    torch.testing.assert_close(out[:, 0], target[:, 0])  # a as asked
    # b corrected for the coupling at the a actually fed
    exact_b = target[:, 1] + 0.2 * (target[:, 0] - 0.5)
    torch.testing.assert_close(out[:, 1], exact_b, atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="not conditions"):
        ConditionCalibration.fit(fed, measured, NAMES, free=("c",))


def test_inversion_avoids_erratic_conditions():
    """Where one sample's outcome scatters widely, feeding the target itself is worse on average
    than a slightly biased but steady condition: the variance heads must steer there."""
    rng = np.random.default_rng(1)
    fed = rng.uniform([0.2, 0.2], [0.9, 0.6], (300, 2))
    scatter = np.where(fed[:, 0] >= 0.6, 0.15, 0.01)
    measured = fed + rng.normal(0, 1, fed.shape) * scatter[:, None]
    cal, _ = ConditionCalibration.fit(fed, measured, NAMES, steps=80)
    assert float(cal.spread(torch.tensor([[0.8, 0.4]]))[0, 0]) > 5 * float(cal.spread(torch.tensor([[0.4, 0.4]]))[0, 0])
    out = cal.invert(torch.tensor([[0.63, 0.4]]))
    assert float(out[0, 0]) < 0.6


def test_far_from_the_pairs_the_map_is_the_identity(fitted):
    cal, _ = fitted
    far = torch.tensor([[60.0, -50.0]])  # hundreds of the pairs' standard deviations away
    np.testing.assert_allclose(cal(far).numpy(), far.numpy(), atol=1e-4)


def test_file_round_trip(fitted, tmp_path):
    cal, _ = fitted
    f = cal.save(tmp_path / FILENAME)
    back = ConditionCalibration.load(f)
    x = torch.tensor([[0.4, 0.3], [0.8, 0.55]])
    assert back.names == NAMES
    assert torch.equal(back(x), cal(x))
    assert torch.equal(back.invert(x), cal.invert(x))


def test_bad_input_is_refused(tmp_path):
    fed, measured = _pairs(30)
    with pytest.raises(ValueError, match="both be"):
        ConditionCalibration.fit(fed, measured[:, :1], NAMES)
    with pytest.raises(ValueError, match="at least 20"):
        ConditionCalibration.fit(fed[:10], measured[:10], NAMES)
    bad = measured.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ConditionCalibration.fit(fed, bad, NAMES)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a condition calibration"):
        ConditionCalibration.load(junk)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("tiny_cal"))


def _shift(names, by: float) -> ConditionCalibration:
    """A calibration whose forward map is ``fed - by`` (the model under-delivers by ``by``):
    its inverse is ``target + by``. Built from exact pairs along a line."""
    fed = np.linspace(0.0, 1.0, 40)[:, None]
    cal, _ = ConditionCalibration.fit(fed, fed - by, names, steps=60, val_fraction=0.0)
    return cal


def test_sampler_feeds_the_calibrated_conditions(tiny, tmp_path):
    gen = generators.load(tiny)
    assert gen.calibration is None  # none in the directory
    seen = []

    def spy(eps):
        def wrapped(x, t, context):
            seen.append(context.clone())
            return eps(x, t, context)
        return wrapped

    asked = torch.tensor([[0.4], [0.5]])
    gen.sample(asked, n=2, seed=0, wrap=spy)
    torch.testing.assert_close(seen[-1], asked.repeat_interleave(2, 0))
    gen.calibration = _shift(gen.condition_names, 0.1)
    s = gen.sample(asked, n=2, seed=0, wrap=spy)
    torch.testing.assert_close(seen[-1], gen.calibration.invert(asked).repeat_interleave(2, 0))
    torch.testing.assert_close(seen[-1], (asked + 0.1).repeat_interleave(2, 0), atol=0.02, rtol=0)
    torch.testing.assert_close(s.conditions, asked.repeat_interleave(2, 0))  # the request, not what was fed
    gen.sample(asked, n=1, seed=0, wrap=spy, calibrate=False)
    torch.testing.assert_close(seen[-1], asked)

    # shipped in the directory: loaded and used by default
    gen.calibration.save(tiny / FILENAME)
    try:
        again = generators.load(tiny)
        assert again.calibration is not None
        again.sample(asked, n=1, seed=0, wrap=spy)
        torch.testing.assert_close(seen[-1], asked + 0.1, atol=0.02, rtol=0)
    finally:
        (tiny / FILENAME).unlink()


def test_calibration_errors_are_clear(tiny):
    gen = generators.load(tiny)
    with pytest.raises(ValueError, match="no condition calibration"):
        gen.sample([[0.4]], n=1, seed=0, calibrate=True)
    with pytest.raises(ValueError, match="calibration is for"):
        gen.calibration = _shift(("x",), 0.1)


def test_selflabel_draws_follow_weights_and_per_condition_jitter(tiny, tmp_path):
    gen = generators.load(tiny)
    gen.calibration = _shift(gen.condition_names, 0.2)
    pool = np.array([[0.35], [0.6]])
    lo, hi = gen.bounds[:, 0].tolist()
    pool = np.clip(pool, lo, hi)
    calls = []
    sample_latents = gen.sample_latents

    def record(*args, **kw):
        calls.append(kw.get("calibrate"))
        return sample_latents(*args, **kw)

    gen.sample_latents = record
    d = generate(gen, pool, tmp_path / "w.safetensors", n=16, seed=1, batch=8, fp_guidance=(0.0,),
                 jitter=[0.0], weights=np.array([0.0, 1.0]), log=lambda m: None)
    # every draw is the weighted row, unjittered, and fed raw (calibrate=False by default)
    np.testing.assert_array_equal(d["cond"].numpy(), np.full((16, 1), pool[1, 0]))
    assert calls == [False, False]
    with pytest.raises(ValueError, match="weights"):
        generate(gen, pool, tmp_path / "x.safetensors", n=8, batch=8, weights=np.array([0.0, 0.0]))
    with pytest.raises(ValueError, match="jitter"):
        generate(gen, pool, tmp_path / "x.safetensors", n=8, batch=8, jitter=[-0.1])
