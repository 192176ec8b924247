"""The pieces of the shipped models' data recipe: spectral upsampling and coarse-grid builds."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
import torch

from generators.cahn_hilliard.dataset_builder import BuildConfig, build_dataset, simulate_series
from generators.cahn_hilliard.params import CHParams
from generators.cahn_hilliard.solver import fourier_upsample, initial_field, integrate


def _field(shape, freqs, phase=0.3):
    axes = [torch.arange(n, dtype=torch.float64) / n for n in shape]
    g = torch.meshgrid(*axes, indexing="ij")
    out = torch.full(shape, 0.5, dtype=torch.float64)
    for k, amp in freqs:
        arg = sum(2 * math.pi * ki * gi for ki, gi in zip(k, g))
        out = out + amp * torch.cos(arg + phase)
    return out, g


@pytest.mark.parametrize("factor", [2, 3])
def test_upsample_is_exact_for_band_limited_fields(factor):
    shape = (8, 6, 4)
    freqs = [((1, 0, 0), 0.2), ((2, -1, 1), 0.1), ((3, 2, 0), 0.05)]  # below every Nyquist
    coarse, _ = _field(shape, freqs)
    fine_true, _ = _field(tuple(n * factor for n in shape), freqs)
    fine = fourier_upsample(coarse[None], factor)[0]
    assert fine.shape == fine_true.shape
    assert torch.allclose(fine, fine_true, atol=1e-12)
    assert torch.allclose(fine[::factor, ::factor, ::factor], coarse, atol=1e-12)


def test_upsample_keeps_the_mean_and_batches_2d():
    c = torch.rand(3, 2, 10, 6, dtype=torch.float64)  # (B, T, X, Y) fields, 2-D
    up = fourier_upsample(c, 2, ndim=2)
    assert up.shape == (3, 2, 20, 12)
    assert torch.allclose(up.mean(dim=(-2, -1)), c.mean(dim=(-2, -1)), atol=1e-12)
    assert fourier_upsample(c, 1, ndim=2) is c


@pytest.mark.parametrize("bad", [dict(factor=0), dict(factor=2, ndim=4)])
def test_upsample_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        fourier_upsample(torch.zeros(1, 4, 4, 4), **bad)
    with pytest.raises(ValueError, match="even"):
        fourier_upsample(torch.zeros(1, 5, 4, 4), 2)


def test_build_config_scales_the_coarse_physics():
    cfg = BuildConfig(shape=(16, 16, 8), upsample=2, params={"kappa": 1.0, "mobility": 2.0, "dt_max": 2.0})
    assert cfg.sim_shape() == (8, 8, 4)
    p = cfg.sim_params()
    assert (p.kappa, p.mobility, p.dt_max) == (0.25, 0.5, 2.0)
    assert "upsample" not in BuildConfig(shape=(16, 16, 8)).as_json()  # plain manifests unchanged
    for bad in (0, 3, 1.5):
        with pytest.raises(ValueError, match="upsample"):
            BuildConfig(shape=(16, 16, 8), upsample=bad)


def test_upsampled_series_is_the_interpolated_coarse_run():
    cfg = BuildConfig(shape=(16, 16, 8), n_series=2, snapshots=2, t_min=5.0, t_max=20.0, upsample=2,
                      chi_range=(3.0, 3.5), seed=4)
    plan = cfg.plan()
    vols = simulate_series(plan, cfg)
    assert vols.shape == (2, 2, 16, 16, 8) and vols.dtype == torch.uint8
    p = cfg.sim_params()
    c0 = initial_field([s.phi for s in plan], (8, 8, 4), [s.seed for s in plan], p.noise)
    coarse = integrate(c0, [s.chi for s in plan], cfg.times(), p)
    # the builder thresholds the spectrally interpolated coarse run (donor where c > 0.5) ...
    assert torch.equal(vols, (fourier_upsample(coarse, 2) <= 0.5).to(torch.uint8))
    # ... whose coarse grid points mostly keep the coarse run's labels (the Nyquist modes go)
    agree = (vols[..., ::2, ::2, ::2] == (coarse <= 0.5).to(torch.uint8)).float().mean()
    assert agree > 0.9


def test_upsampled_build_writes_full_size_shards(tmp_path):
    cfg = BuildConfig(shape=(16, 16, 8), n_series=2, snapshots=2, t_min=5.0, t_max=20.0, upsample=2,
                      chi_range=(3.0, 3.5), batch=2)
    summary = build_dataset(tmp_path, cfg, progress=False)
    assert summary["samples"] == 4
    with h5py.File(tmp_path / "shard_00000.h5") as h:
        shapes = {h[k].shape for k in h}
        assert shapes == {(16, 16, 8)}
        assert all(0.0 <= h[k].attrs["ABS_f_D"] <= 1.0 for k in h)
    again = build_dataset(tmp_path, cfg, progress=False)
    assert again["built_now"] == []
    assert np.isclose(CHParams().kappa, 1.0)
