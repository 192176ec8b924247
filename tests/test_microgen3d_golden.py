"""The paper-compatible modules against the golden outputs of the reference implementation.

Each pack's modules are built from the pack config, compared key by key (order, shape, dtype) with
``keys_<pack>.json``, filled with the formula weights, loaded through ``load_pack`` in float64 and
run on the formula inputs; every array must match ``golden_<pack>.npz`` to relative error < 1e-6.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from generators.microgen3d import (
    PACKS,
    SCHEDULE_NAMES,
    build_denoiser,
    build_fp,
    build_vae,
    ddpm_schedules,
    formula_state_dict,
    load_pack,
)

from tests.reference_data import MICROGEN3D as FIXTURES

PACK_NAMES = ("experimental", "ch_2phase", "ch_3phase")
RTOL = 1e-6
CONTEXT = [0.3, 0.2, 0.35, 0.25]


def keys_json(pack: str) -> dict:
    with open(FIXTURES / f"keys_{pack}.json", encoding="utf-8") as fh:
        return json.load(fh)


def golden(pack: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"golden_{pack}.npz") as g:
        return {k: g[k] for k in g.files}


def assert_rel(actual: torch.Tensor | np.ndarray, expected: np.ndarray, what: str) -> None:
    """Relative error (max abs difference over max abs value) below RTOL, and shapes equal."""
    a = np.asarray(actual.detach().cpu() if isinstance(actual, torch.Tensor) else actual, dtype=np.float64)
    assert a.shape == expected.shape, f"{what}: shape {a.shape} != {expected.shape}"
    scale = np.abs(expected).max()
    assert scale > 0
    err = np.abs(a - expected).max() / scale
    assert err < RTOL, f"{what}: relative error {err:.3g}"


def formula_input(shape: tuple[int, ...]) -> torch.Tensor:
    j = torch.arange(int(np.prod(shape)), dtype=torch.float64)
    return ((torch.sin(0.11 * j) + torch.sin(0.017 * j + 0.5)) > 0).double().reshape(1, *shape)


def formula_latent(shape: tuple[int, ...]) -> torch.Tensor:
    j = torch.arange(int(np.prod(shape)), dtype=torch.float64)
    return torch.sin(0.37 * j + 1.0).reshape(1, *shape)


@pytest.mark.parametrize("pack", PACK_NAMES)
def test_pack_config_matches_fixture(pack):
    spec, cfg = keys_json(pack), PACKS[pack]
    assert list(cfg.in_shape) == spec["config"]["in_shape"]
    assert list(cfg.latent_shape) == spec["latent_shape"]
    assert cfg.latent_ch == spec["config"]["L"]
    assert len(cfg.fp_names) == spec["config"]["n_attr"]
    assert len(cfg.condition_names) == spec["config"]["ctx"]


@pytest.mark.parametrize("pack", PACK_NAMES)
@pytest.mark.parametrize("part", ["vae", "fp", "ddpm"])
def test_state_dict_layout_matches_published_keys(pack, part):
    cfg = PACKS[pack]
    build = {"vae": build_vae, "fp": build_fp, "ddpm": build_denoiser}[part]
    sd = build(cfg, "meta").state_dict()
    got = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in sd.items()]
    assert got == keys_json(pack)["state_dict"][part]


def test_published_parameter_counts():
    cfg = PACKS["ch_2phase"]
    n_vae = sum(p.numel() for p in build_vae(cfg, "meta").parameters())
    n_den = sum(p.numel() for p in build_denoiser(cfg, "meta").parameters())
    # The spec's "46.9 M" and "150.8 M", as truncated to 0.1 M.
    assert 46.9e6 <= n_vae < 47.0e6
    assert 150.8e6 <= n_den < 150.9e6
    assert len(build_vae(cfg, "meta").state_dict()) == 114
    assert len(build_denoiser(cfg, "meta").state_dict()) == 65


@pytest.mark.parametrize("pack", PACK_NAMES)
def test_schedule_matches_golden(pack):
    sched = ddpm_schedules(1e-4, 0.02, 1000)
    assert tuple(sched) == SCHEDULE_NAMES
    stacked = torch.stack([sched[n] for n in SCHEDULE_NAMES]).double().numpy()
    np.testing.assert_allclose(stacked, golden(pack)["sched"], rtol=RTOL, atol=0)


def test_schedule_invariants():
    s = ddpm_schedules(1e-4, 0.02, 1000, dtype=torch.float64)
    np.testing.assert_allclose(s["alphabar_t"], torch.cumprod(s["alpha_t"], 0), rtol=1e-12)
    np.testing.assert_allclose(s["sqrtab"] ** 2 + s["sqrtmab"] ** 2, np.ones(1000), rtol=1e-12)
    assert s["sqrt_beta_t"][0] ** 2 == pytest.approx(1e-4) and s["sqrt_beta_t"][-1] ** 2 == pytest.approx(0.02)
    with pytest.raises(ValueError, match="beta1"):
        ddpm_schedules(0.02, 1e-4, 1000)


@pytest.fixture(scope="module", params=PACK_NAMES)
def loaded(request):
    """``(pack, generator)``: ``load_pack`` in float64 on the formula weights (in-memory state dicts).

    Module-scoped and parametrized, so pytest runs every test of one pack before building the next.
    """
    spec = keys_json(request.param)
    sds = {part: formula_state_dict(spec, part) for part in ("vae", "fp", "ddpm")}
    gen = load_pack(request.param, vae=sds["vae"], fp=sds["fp"], ddpm=sds["ddpm"], dtype=torch.float64)
    assert gen.dtype == torch.float64
    return request.param, gen


def test_loaded_schedule_buffers_are_the_computed_ones(loaded):
    pack, gen = loaded
    stacked = torch.stack([getattr(gen.denoiser, n) for n in SCHEDULE_NAMES]).numpy()
    np.testing.assert_allclose(stacked, golden(pack)["sched"], rtol=RTOL, atol=0)


def test_feature_predictor_golden(loaded):
    pack, gen = loaded
    z = formula_latent(PACKS[pack].latent_shape)
    with torch.no_grad():
        out = gen.fp(z.flatten(1))
        assert_rel(out, golden(pack)["fp_out"], "fp_out")
        pred = gen.predict(z)
    assert tuple(pred) == PACKS[pack].fp_names
    assert_rel(torch.stack(list(pred.values()), 1), golden(pack)["fp_out"], "predict()")


@pytest.mark.slow
def test_denoiser_golden(loaded):
    pack, gen = loaded
    cfg = PACKS[pack]
    z = formula_latent(cfg.latent_shape)
    ctx = torch.tensor([CONTEXT[: len(cfg.condition_names)]], dtype=torch.float64)
    with torch.no_grad():
        eps = gen.denoiser(z, torch.tensor([0.5], dtype=torch.float64), ctx)
    assert_rel(eps, golden(pack)["unet_eps"], "unet_eps")


@pytest.mark.slow
def test_vae_golden(loaded):
    pack, gen = loaded
    cfg = PACKS[pack]
    g = golden(pack)
    with torch.no_grad():
        mu, logvar = gen.vae.encode(formula_input(cfg.in_shape))
        assert_rel(mu, g["enc_mu"], "enc_mu")
        assert_rel(logvar, g["enc_logvar"], "enc_logvar")
        dec = gen.vae.decode(formula_latent(cfg.latent_shape))
    assert dec.shape == (1, *cfg.in_shape)
    flat = dec.flatten()
    assert_rel(flat[torch.from_numpy(g["dec_idx"])], g["dec_vals"], "dec_vals")
    assert_rel(flat.mean(), g["dec_mean"], "dec_mean")
    assert_rel(flat.std(), g["dec_std"], "dec_std")
