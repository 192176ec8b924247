"""The success model of the composite BO: spread as well as mean, the probability that one sample
meets every target, resampling, fitting failures made visible, and screening by the predictor."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from invdesign import design
from invdesign.loop import composite_bo
from invdesign.loop.composite_bo import (BOFallbackWarning, GeneratorPrior, ModelFitError, Observations,
                                         SuccessModel, _log_box_probability, fit_descriptor_models,
                                         propose_success)
from invdesign.loop.measure import SampleBatches, Screen
from invdesign.loop.space import ConditionSpace
from tests.design_fakes import BiasedFakeGenerator, SpreadFakeGenerator, fake_describe_batch

LINE = ConditionSpace(("x",), torch.tensor([[0.0], [1.0]]))
T, TOL = torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.02], dtype=torch.float64)


def _line_obs(mean_fn, sd_fn, n=6, points=12, seed=0):
    """Trials on a line: ``n`` normal samples at each of ``points`` conditions."""
    g = np.random.default_rng(seed)
    X = np.linspace(0.02, 0.98, points)
    y = mean_fn(X)[:, None] + sd_fn(X)[:, None] * g.standard_normal((points, n))
    return Observations(torch.tensor(X[:, None]), torch.tensor(y.mean(1, keepdims=True)),
                        torch.tensor(y.var(1, ddof=1, keepdims=True)), n)


@pytest.mark.parametrize("m, s, lo, hi", [(0.0, 1.0, -1.0, 1.0), (0.5, 0.01, 0.48, 0.52),
                                          (0.0, 1.0, 30.0, 31.0), (0.0, 1.0, -31.0, -30.0),
                                          (0.3, 0.05, 0.49, 0.51), (2.0, 0.1, -0.5, 0.5)])
def test_log_box_probability_matches_the_normal_cdf(m, s, lo, hi):
    got = float(_log_box_probability(*(torch.tensor(v, dtype=torch.float64) for v in (m, s, lo, hi))))
    a, b = (lo - m) / s, (hi - m) / s
    if a > 0:  # scipy, in the upper tail: log(sf(a) - sf(b))
        want = norm.logsf(a) + math.log1p(-math.exp(norm.logsf(b) - norm.logsf(a)))
    else:
        want = norm.logcdf(b) + math.log1p(-math.exp(norm.logcdf(a) - norm.logcdf(b)))
    assert math.isfinite(got)
    assert got == pytest.approx(want, rel=1e-6, abs=1e-9)


def test_the_spread_model_follows_the_replicate_variance():
    obs = _line_obs(lambda x: 0.5 + 0 * x, lambda x: 0.005 + 0.1 * x, n=6)
    model = SuccessModel.fit(obs, LINE.bounds, T, TOL)
    assert model.spread_model is not None
    _, _, s2 = model.predict(torch.tensor([[0.1], [0.9]], dtype=torch.float64))
    sd = s2.sqrt().squeeze(-1)
    assert sd[0] < 0.04 and sd[1] > 0.06  # truth: 0.015 and 0.095
    p = model.log_success(torch.tensor([[0.1], [0.9]], dtype=torch.float64)).exp()
    assert p[0] > 3 * p[1]  # same mean (on target), less spread: more likely to succeed


def test_conditions_are_chosen_by_the_probability_of_success_not_the_mean():
    # the mean is on target everywhere; only the spread differs, smallest near x = 0.8
    sd = lambda x: 0.06 - 0.055 * np.exp(-(((x - 0.8) / 0.12) ** 2))  # noqa: E731
    obs = _line_obs(lambda x: 0.5 + 0 * x, sd, n=6)
    rows, info = propose_success(LINE, obs, T, TOL, q=1, seed=0)
    assert abs(float(rows[0, 0]) - 0.8) < 0.12, (rows, info)
    assert info[0]["p_success"] > 0.5


def test_the_budget_goes_to_resampling_the_best_condition():
    # every condition run, one of them meets the target with a small spread: resample it
    obs = _line_obs(lambda x: 0.5 + 0.3 * (x - 0.5), lambda x: 0.004 + 0 * x, n=4, points=21)
    rows, info = propose_success(LINE, obs, T, TOL, q=2, seed=1)
    best = int(torch.argmin((obs.means[:, 0] - 0.5).abs()))
    assert [i["proposal"] for i in info] == ["resample", "resample"]
    assert torch.equal(rows[0], obs.X[best]) and torch.equal(rows[1], obs.X[best])


def test_fitting_failure_is_an_error_not_silence(monkeypatch):
    import botorch.fit

    def broken(mll, **kw):
        raise RuntimeError("cholesky failed")

    monkeypatch.setattr(botorch.fit, "fit_gpytorch_mll", broken)
    obs = _line_obs(lambda x: x, lambda x: 0.01 + 0 * x)
    with pytest.raises(ModelFitError, match="descriptor mean GPs failed: RuntimeError: cholesky failed"):
        fit_descriptor_models(obs.X, obs.means, obs.variances, obs.n, LINE.bounds, TOL ** 2)
    with pytest.raises(ModelFitError):
        propose_success(LINE, obs, T, TOL)


def test_a_design_falls_back_visibly_when_fitting_fails(monkeypatch, tmp_path):
    import botorch.fit

    def broken(mll, **kw):
        raise RuntimeError("cholesky failed")

    monkeypatch.setattr(botorch.fit, "fit_gpytorch_mll", broken)
    with pytest.warns(BOFallbackWarning, match="cholesky failed.*Sobol"):
        res = design({"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}, 0.03, model=BiasedFakeGenerator(),
                     describe=fake_describe_batch, budget=5, samples_per_trial=2, method="bo",
                     n_initial=2, out_dir=tmp_path / "o")
    how = [t.user_attrs["proposal"] for t in res.study.trials]
    assert how == ["initial", "initial", "fallback", "fallback", "fallback"]
    assert "cholesky failed" in res.study.trials[2].user_attrs["fallback_reason"]
    conditions = {tuple(t.user_attrs["condition"]) for t in res.study.trials}
    assert len(conditions) == 5  # space-filling: no condition repeats


def test_bo_records_how_each_condition_was_chosen(tmp_path):
    res = design({"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}, 0.03, model=BiasedFakeGenerator(),
                 describe=fake_describe_batch, budget=4, samples_per_trial=2, method="bo",
                 n_initial=2, out_dir=tmp_path / "o")
    trials = res.study.trials
    assert [t.user_attrs["proposal"] for t in trials[:2]] == ["initial", "initial"]
    for t in trials[2:]:
        assert t.user_attrs["proposal"] in ("search", "resample")
        assert 0.0 <= t.user_attrs["p_success"] <= 1.0



# --- the generator prior: the GPs learn the generator's error ----------------------------------

def _one_trial(x, y, sd=0.01, n=4):
    return Observations(torch.tensor([[x]]), torch.tensor([[y]]), torch.tensor([[sd ** 2]]), n)


def test_generator_prior_corrects_the_target_condition_by_the_error_seen_there():
    # one trial, at the target condition 0.5: the samples came out 0.06 high
    obs, prior = _one_trial(0.5, 0.56), GeneratorPrior.of(LINE, ["x"])
    rows, info = propose_success(LINE, obs, T, TOL, q=1, seed=0, prior=prior)
    assert float(rows[0, 0]) == pytest.approx(0.44, abs=0.01), (rows, info)
    assert info[0]["p_success"] > 0.5
    # a flat prior learns nothing about where to go from one trial: 0.56 everywhere
    flat = SuccessModel.fit(obs, LINE.bounds, T, TOL)
    at = torch.tensor([[0.44]], dtype=torch.float64)
    assert float(flat.predict(at)[0][0, 0]) == pytest.approx(0.56, abs=1e-3)
    assert float(SuccessModel.fit(obs, LINE.bounds, T, TOL, prior).predict(at)[0][0, 0]) == pytest.approx(0.5, abs=1e-3)


def test_generator_prior_learns_an_error_that_changes_across_the_space():
    # the generator overshoots by 0.1 * (x - 0.2): right at x = 0.2, 0.03 high at the target 0.5
    err = lambda x: 0.1 * (x - 0.2)  # noqa: E731
    obs = _line_obs(lambda x: x + err(x), lambda x: 0.005 + 0 * x, n=4, points=6)
    model = SuccessModel.fit(obs, LINE.bounds, T, TOL, GeneratorPrior.of(LINE, ["x"]))
    xs = torch.tensor([[0.3], [0.5], [0.7]], dtype=torch.float64)
    mu = model.predict(xs)[0][:, 0]
    assert torch.allclose(mu, xs[:, 0] + err(xs[:, 0]), atol=0.006), mu
    rows, _ = propose_success(LINE, obs, T, TOL, q=1, seed=0, prior=GeneratorPrior.of(LINE, ["x"]))
    assert float(rows[0, 0]) == pytest.approx((0.5 + 0.02) / 1.1, abs=0.01)  # x + err(x) = 0.5


def test_generator_prior_is_the_default_and_old_studies_keep_the_flat_one(tmp_path):
    import json

    from invdesign.studies.study import Settings

    res = design({"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}, 0.03, model=BiasedFakeGenerator(),
                 describe=fake_describe_batch, budget=2, samples_per_trial=2, out_dir=tmp_path / "o")
    assert res.settings.prior == "generator" and res.settings.n_initial == 1
    assert [t.user_attrs["proposal"] for t in res.study.trials] == ["initial", "search"]
    old = json.loads(res.settings.to_json())
    del old["prior"]
    assert Settings(**old).prior == "flat"


@pytest.mark.slow
def test_generator_prior_meets_targets_sooner_than_the_flat_prior(tmp_path):
    """On the biased spread fake (direct conditioning meets none of these targets): samples to the
    first success, over four targets (one run is noisy; the median is not)."""
    targets = [(0.5, 0.4), (0.4, 0.5), (0.6, 0.3), (0.45, 0.6)]
    first = {"generator": [], "flat": []}
    for prior in first:
        for i, (f, s) in enumerate(targets):
            res = design({"ABS_f_D": f, "CT_f_D_tort1": s}, 0.03, model=SpreadFakeGenerator(spread=0.03),
                         describe=fake_describe_batch, budget=10, samples_per_trial=2, seed=0, prior=prior,
                         threads=1, out_dir=tmp_path / f"{prior}{i}")
            ok = res.candidates[res.candidates["success"]]
            first[prior].append(int((ok["trial"] * 2 + ok["sample"]).min()) + 1 if len(ok) else 99)
    assert np.median(first["generator"]) + 4 <= np.median(first["flat"]), first
    assert max(first["generator"]) < 99, first  # every target met

# --- screening by the feature predictor -----------------------------------------------------------

def test_screen_calibration_learns_slope_and_ignores_an_uninformative_predictor():
    g = np.random.default_rng(0)
    p = g.uniform(0.2, 0.8, 200)
    pairs = [("A", list(p), list(1.5 * p - 0.1 + 0.01 * g.standard_normal(200))),
             ("B", list(p), list(g.uniform(0.2, 0.8, 200)))]
    s = Screen.calibrated(4, {"A": 0.5, "B": 0.5, "C": 0.3}, {"A": 0.02, "B": 0.02, "C": 0.02},
                          ("A", "B", "phi"), pairs)
    assert s.names == ("A", "B")  # C is not predicted
    assert float(s.slope[0]) == pytest.approx(1.5, abs=0.02)
    assert float(s.intercept[0]) == pytest.approx(-0.1, abs=0.02)
    assert float(s.resid_sd[0]) == pytest.approx(0.01, rel=0.2)
    assert abs(float(s.slope[1])) < 0.2  # no say in the ranking
    assert Screen.calibrated(1, {"A": 0.5}, {"A": 0.02}, ("A",)) is None
    assert Screen.calibrated(4, {"C": 0.5}, {"C": 0.02}, ("A",)) is None


def test_screened_sampling_decodes_only_the_best_latents():
    gen = SpreadFakeGenerator()
    screen = Screen.calibrated(4, {"ABS_f_D": 0.5}, {"ABS_f_D": 0.02}, gen.predicted_names)
    cond = torch.tensor([[0.5, 0.4], [0.7, 0.6]])
    vols, pred = SampleBatches(gen, screen=screen)(cond, 3, seed=7)
    assert vols.shape == (2, 3, *gen.shape) and gen.decoded == 6
    lat, _ = gen.sample_latents(cond, 12, seed=7)
    drawn = gen.predict(lat)["ABS_f_D"].reshape(2, 12)
    for i in range(2):
        best = torch.sort(torch.argsort((drawn[i] - 0.5).abs(), stable=True)[:3]).values
        assert torch.allclose(pred["ABS_f_D"][i].double(), drawn[i, best])
    gen.decoded = 0
    SampleBatches(gen)(cond, 3, seed=7)  # unscreened: the generator's own sample
    assert gen.decoded == 6


def test_screening_brings_the_samples_closer_and_is_the_default_when_possible(tmp_path):
    kw = dict(model=None, describe=fake_describe_batch, budget=3, samples_per_trial=3,
              method="random", seed=0)
    errs = {}
    for screen in (1, 4):
        kw["model"] = SpreadFakeGenerator()
        res = design({"ABS_f_D": 0.45}, 0.02, out_dir=tmp_path / str(screen), screen=screen, **kw)
        assert res.settings.screen == screen
        errs[screen] = float((res.candidates["ABS_f_D"] - 0.45).abs().mean())
    assert errs[4] < 0.7 * errs[1], errs
    res = design({"ABS_f_D": 0.45}, 0.02, out_dir=tmp_path / "d", **{**kw, "model": SpreadFakeGenerator(), "budget": 1})
    assert res.settings.screen == 4
    res = design({"ABS_f_D": 0.45}, 0.02, out_dir=tmp_path / "e", **{**kw, "model": BiasedFakeGenerator(), "budget": 1})
    assert res.settings.screen == 1  # no latents to screen
    with pytest.raises(ValueError, match="screen must be >= 1"):
        design({"ABS_f_D": 0.45}, 0.02, out_dir=tmp_path / "f", screen=0, **kw)


@pytest.mark.slow
def test_success_bo_meets_targets_that_direct_and_random_miss(tmp_path):
    targets = {"ABS_f_D": 0.5, "CT_f_D_tort1": 0.4}
    found = {}
    for method in ("bo", "direct", "random"):
        res = design(targets, 0.03, model=SpreadFakeGenerator(spread=0.03), describe=fake_describe_batch,
                     budget=12, samples_per_trial=2, method=method, seed=0, screen=4,
                     out_dir=tmp_path / method)
        found[method] = int(res.candidates["success"].sum())
    assert found["bo"] >= 2 and found["bo"] > found["direct"] and found["bo"] > found["random"], found
