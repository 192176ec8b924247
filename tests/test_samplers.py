"""Samplers on a Gaussian toy problem where the optimal noise prediction is known exactly.

Data ~ N(mu, s^2) per coordinate; x_i = a x0 + sigma e has E[e | x_i] = sigma (x_i - a mu) / (a^2 s^2 + sigma^2).
"""

import pytest
import torch

from generators.diffusion import (
    DEFAULT_SAMPLER,
    SAMPLERS,
    StepGrid,
    ancestral,
    cfg,
    ddim,
    dpm_solver_pp_2m,
    guide_x0,
    linear_schedule,
    sampler_settings,
    spaced_grid,
    unit_grid,
)
from generators.diffusion.samplers import get_sampler, start_noise, step_indices

SCHED = linear_schedule()
MU, S = 1.5, 0.3
SHAPE = (4000, 1, 2, 2)
UNIT = unit_grid(SCHED)  # the published 998-step loop


def grid(steps, **kw):
    return spaced_grid(SCHED, steps, **kw)


def noise(shape, generator, dtype=torch.float32):
    return start_noise(shape, generator, "cpu", dtype)


def exact_eps(mu=MU, s=S):
    ab = SCHED.alphabar

    def eps_fn(x, t, context):
        i = (t * SCHED.T).round().long().cpu()
        a = ab[i].sqrt().view(-1, *[1] * (x.dim() - 1)).to(x)
        sig = (1 - ab[i]).sqrt().view(-1, *[1] * (x.dim() - 1)).to(x)
        m = mu if context is None else context.view(-1, *[1] * (x.dim() - 1))
        return sig * (x - a * m) / (a**2 * s**2 + sig**2)

    return eps_fn


def _stats(x):
    return x.mean().item(), x.std().item()


def test_schedule_matches_the_paper_fixture():
    import numpy as np

    from tests.reference_data import MICROGEN3D

    sched = np.load(MICROGEN3D / "golden_ch_2phase.npz")["sched"]
    ours = torch.stack(list(SCHED.buffers().values())).numpy()
    assert np.allclose(ours, sched, rtol=2e-4, atol=1e-7)  # the paper builds them in float32


@pytest.mark.parametrize(
    "sampler,steps,kw",
    [(ancestral, None, {}), (ddim, 100, {}), (ddim, 200, {"eta": 1.0}), (dpm_solver_pp_2m, 20, {})],
)
def test_samplers_recover_the_data_distribution(sampler, steps, kw):
    g = torch.Generator().manual_seed(0)
    gr = UNIT if sampler is ancestral else grid(steps)
    x = sampler(exact_eps(), noise(SHAPE, g), gr, generator=g, **kw)
    m, s = _stats(x)
    assert abs(m - MU) < 0.02
    assert abs(s - S) < 0.02


def test_dpm_solver_20_steps_matches_ancestral_998():
    g = torch.Generator().manual_seed(1)
    xa = ancestral(exact_eps(), noise(SHAPE, g), UNIT, generator=g)
    g = torch.Generator().manual_seed(2)
    xd = dpm_solver_pp_2m(exact_eps(), noise(SHAPE, g), grid(20), generator=g)
    ma, sa = _stats(xa)
    md, sd = _stats(xd)
    assert abs(ma - md) < 0.02 and abs(sa - sd) < 0.02
    # quantiles agree too
    q = torch.tensor([0.1, 0.5, 0.9])
    assert torch.allclose(xa.flatten().quantile(q), xd.flatten().quantile(q), atol=0.03)


def test_deterministic_samplers_are_ode_exact_on_the_toy():
    # the probability-flow ODE maps z to mu + s z (approximately, up to the index-0 residue)
    z = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    x = dpm_solver_pp_2m(exact_eps(), z.clone(), grid(25))
    assert torch.allclose(x, MU + S * z, atol=0.03)
    x = ddim(exact_eps(), z.clone(), grid(400))
    assert torch.allclose(x, MU + S * z, atol=0.03)
    # log-SNR spacing is what makes 25 steps enough: time-uniform steps are far off
    x = dpm_solver_pp_2m(exact_eps(), z.clone(), grid(25, spacing="time"))
    assert (x - (MU + S * z)).abs().max() > 0.1


def test_float64_updates():
    g = torch.Generator().manual_seed(0)
    x = dpm_solver_pp_2m(exact_eps(), noise((8, 1, 2, 2), g, torch.float64), grid(10), generator=g)
    assert x.dtype == torch.float64
    seen = []

    def eps64(x, t, c):
        seen.append(t.dtype)
        return exact_eps()(x, t, c)

    ancestral(eps64, noise((8, 1, 2, 2), g, torch.float64), unit_grid(SCHED, 3), generator=g)
    assert seen == [torch.float64] * 3  # the network time comes in x's dtype


def test_conditioning_and_cfg():
    # context = per-row mean; cfg with scale s extrapolates between null (mu=0) and conditional means
    ctx = torch.tensor([[-1.0], [2.0]]).repeat_interleave(2000, 0)
    eps = exact_eps()
    g = torch.Generator().manual_seed(0)
    x = dpm_solver_pp_2m(eps, noise((4000, 1, 1, 1), g), grid(20), context=ctx, generator=g)
    assert abs(x[:2000].mean().item() + 1.0) < 0.03 and abs(x[2000:].mean().item() - 2.0) < 0.03
    guided = cfg(eps, 1.0, torch.zeros(1))
    assert guided is eps
    calls = []

    def counting(x, t, c):
        calls.append(x.shape[0])
        return eps(x, t, c)

    g2 = cfg(counting, 2.0, torch.zeros(1))
    out = g2(torch.ones(3, 1, 1, 1), torch.full((3,), 0.5), torch.ones(3, 1))
    e_c = eps(torch.ones(3, 1, 1, 1), torch.full((3,), 0.5), torch.ones(3, 1))
    e_u = eps(torch.ones(3, 1, 1, 1), torch.full((3,), 0.5), torch.zeros(3, 1))
    assert calls == [6]
    assert torch.allclose(out, e_u + 2.0 * (e_c - e_u))


@pytest.mark.parametrize("name,steps,kw", [("ancestral", 50, {}), ("ddim", 10, {"eta": 1.0}), ("dpmpp2m", 10, {})])
def test_seeded_reproducibility(name, steps, kw):
    s = get_sampler(name)

    def run(seed):
        g = torch.Generator().manual_seed(seed)
        return s.run(exact_eps(), noise((5, 1, 2, 2), g), s.grid(SCHED, steps), generator=g, **kw)

    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_one_signature_and_grids_built_by_the_caller():
    # every registered sampler: (eps_fn, x, grid, *, context, generator, **options); evaluations = len(grid)
    for name, s in SAMPLERS.items():
        calls = []

        def counting(x, t, c):
            calls.append(float(t[0]))
            return exact_eps()(x, t, c)

        gr = s.grid(SCHED, 7)
        x = s.run(counting, torch.zeros(3, 1, 2, 2), gr, context=None, generator=torch.Generator().manual_seed(0))
        assert x.shape == (3, 1, 2, 2) and len(calls) == len(gr) == 7, name
        assert calls == pytest.approx([i / SCHED.T for i in gr.indices[:-1]]), name  # t = i / T, in grid order
    assert unit_grid(SCHED).indices == tuple(range(998, -1, -1))
    assert spaced_grid(SCHED, 20).indices == tuple(step_indices(20, 998, "logsnr", SCHED))


def test_default_sampler_lives_in_one_place():
    from generators.diffusion import ModelConfig, Stats
    from generators.diffusion.presets import get_preset

    st = Stats(["a"], [0.0], [1.0], [0.5], [0.1])
    cfg_default = ModelConfig("compact", 2, [8, 8, 8], [1, 2, 2, 2], {}, st, st)
    assert cfg_default.sampler == DEFAULT_SAMPLER and cfg_default.sampler is not DEFAULT_SAMPLER
    assert get_preset("tiny")["sampler"] == DEFAULT_SAMPLER
    assert sampler_settings(None) == DEFAULT_SAMPLER


def test_sampler_settings_resolution():
    shipped = {"name": "ddim", "steps": 100, "eta": 1.0, "guidance": 1.0, "fp_guidance": 0.0}
    assert sampler_settings(shipped) == shipped
    assert sampler_settings({k: v for k, v in shipped.items() if k != "fp_guidance"}) == shipped
    assert sampler_settings(shipped, steps=10, eta=0.0)["eta"] == 0.0
    # a call naming another sampler starts from that sampler's defaults (the config's eta and
    # steps belong to DDIM); guidance and descriptor guidance apply to every sampler
    other = sampler_settings({**shipped, "guidance": 2.0, "fp_guidance": 0.5}, "ancestral")
    assert other == {"name": "ancestral", "guidance": 2.0, "fp_guidance": 0.5}
    assert len(get_sampler("ancestral").grid(SCHED, other.get("steps"))) == 998
    assert sampler_settings(None, "ddim", steps=4) == {"name": "ddim", "steps": 4, "guidance": 1.0,
                                                        "fp_guidance": 0.0}
    with pytest.raises(ValueError, match="unknown sampler"):
        sampler_settings(None, "euler")


def test_guide_x0_edits_the_predicted_clean_latent():
    eps = exact_eps()
    x = torch.randn(4, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    t = torch.full((4,), 300 / SCHED.T)
    a, s = SCHED.alpha_sigma(300)
    same = guide_x0(eps, SCHED, lambda x0, t, c: x0)
    assert torch.allclose(same(x, t, None), eps(x, t, None), atol=1e-5)
    seen = {}

    def shift(x0, t_, c):
        seen["x0"] = x0
        return x0 + 0.2

    shifted = guide_x0(eps, SCHED, shift)(x, t, None)
    assert torch.allclose(seen["x0"], (x - s * eps(x, t, None)) / a, atol=1e-5)  # x0 = (x - sigma eps) / alpha
    assert torch.allclose(shifted, eps(x, t, None) - a / s * 0.2, atol=1e-5)
    # as a wrapper it steers a sampler: every DDIM sample ends higher (the push acts at every step)
    z = torch.randn(2000, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    plain = ddim(eps, z.clone(), grid(50))
    guided = ddim(guide_x0(eps, SCHED, lambda x0, t_, c: x0 + 0.2), z.clone(), grid(50))
    assert (guided - plain).min().item() > 0.2
    assert torch.allclose(ddim(same, z.clone(), grid(50)), plain, atol=1e-4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown sampler"):
        get_sampler("euler")
    with pytest.raises(ValueError, match="steps"):
        step_indices(0)
    with pytest.raises(ValueError, match="eta"):
        ddim(exact_eps(), torch.zeros(1, 1), grid(4), eta=-1)
    with pytest.raises(ValueError, match="unit grid"):
        ancestral(exact_eps(), torch.zeros(1, 1, 1, 1), grid(4))
    with pytest.raises(ValueError, match="first_step"):
        unit_grid(SCHED, 1000)
    with pytest.raises(ValueError, match="decreasing"):
        StepGrid((3, 3, 0), SCHED)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_from_the_same_start():
    z = torch.randn(64, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    cpu = dpm_solver_pp_2m(exact_eps(), z.clone(), grid(20))
    gpu = dpm_solver_pp_2m(exact_eps(), z.cuda(), grid(20))
    assert gpu.device.type == "cuda"
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-4)
    # stochastic samplers too: the noise is drawn on the generator's device (the CPU here)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    cpu = ddim(exact_eps(), z.clone(), grid(20), generator=g1, eta=1.0)
    gpu = ddim(exact_eps(), z.cuda(), grid(20), generator=g2, eta=1.0)
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-4)


def test_a_short_ancestral_loop_warns_that_it_starts_late():
    """The ancestral loop's ``steps`` is its first index (the published meaning): 100 starts from pure
    noise at step 100, which is not a 100-step sampler; say so instead of a silent poor sample."""
    import warnings

    from generators.diffusion.samplers import unit_grid

    with pytest.warns(UserWarning, match="pure noise at step 100"):
        unit_grid(SCHED, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(unit_grid(SCHED)) == SCHED.T - 2  # the published loop: no warning
