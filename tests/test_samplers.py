"""Samplers on a Gaussian toy problem where the optimal noise prediction is known exactly.

Data ~ N(mu, s^2) per coordinate; x_i = a x0 + sigma e has E[e | x_i] = sigma (x_i - a mu) / (a^2 s^2 + sigma^2).
"""

import pytest
import torch

from generators.diffusion import ancestral, cfg, ddim, dpm_solver_pp_2m, linear_schedule
from generators.diffusion.samplers import get_sampler, step_indices

SCHED = linear_schedule()
MU, S = 1.5, 0.3
SHAPE = (4000, 1, 2, 2)


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
    "sampler,kw",
    [(ancestral, {}), (ddim, {"steps": 100}), (ddim, {"steps": 200, "eta": 1.0}), (dpm_solver_pp_2m, {"steps": 20})],
)
def test_samplers_recover_the_data_distribution(sampler, kw):
    g = torch.Generator().manual_seed(0)
    x = sampler(exact_eps(), SHAPE, None, generator=g, **kw)
    m, s = _stats(x)
    assert abs(m - MU) < 0.02
    assert abs(s - S) < 0.02


def test_dpm_solver_20_steps_matches_ancestral_998():
    g = torch.Generator().manual_seed(1)
    xa = ancestral(exact_eps(), SHAPE, None, generator=g)
    g = torch.Generator().manual_seed(2)
    xd = dpm_solver_pp_2m(exact_eps(), SHAPE, None, generator=g, steps=20)
    ma, sa = _stats(xa)
    md, sd = _stats(xd)
    assert abs(ma - md) < 0.02 and abs(sa - sd) < 0.02
    # quantiles agree too
    q = torch.tensor([0.1, 0.5, 0.9])
    assert torch.allclose(xa.flatten().quantile(q), xd.flatten().quantile(q), atol=0.03)


def test_deterministic_samplers_are_ode_exact_on_the_toy():
    # the probability-flow ODE maps z to mu + s z (approximately, up to the index-0 residue)
    z = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    x = dpm_solver_pp_2m(exact_eps(), SHAPE, None, steps=25, x_init=z.clone())
    assert torch.allclose(x, MU + S * z, atol=0.03)
    x = ddim(exact_eps(), SHAPE, None, steps=400, x_init=z.clone())
    assert torch.allclose(x, MU + S * z, atol=0.03)
    # log-SNR spacing is what makes 25 steps enough: time-uniform steps are far off
    x = dpm_solver_pp_2m(exact_eps(), SHAPE, None, steps=25, x_init=z.clone(), spacing="time")
    assert (x - (MU + S * z)).abs().max() > 0.1


def test_float64_updates():
    x = dpm_solver_pp_2m(exact_eps(), (8, 1, 2, 2), None, steps=10, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.float64


def test_conditioning_and_cfg():
    # context = per-row mean; cfg with scale s extrapolates between null (mu=0) and conditional means
    ctx = torch.tensor([[-1.0], [2.0]]).repeat_interleave(2000, 0)
    eps = exact_eps()
    x = dpm_solver_pp_2m(eps, (4000, 1, 1, 1), ctx, steps=20, generator=torch.Generator().manual_seed(0))
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


@pytest.mark.parametrize("name,kw", [("ancestral", {"first": 50}), ("ddim", {"steps": 10, "eta": 1.0}), ("dpmpp2m", {"steps": 10})])
def test_seeded_reproducibility(name, kw):
    s = get_sampler(name)
    a = s(exact_eps(), (5, 1, 2, 2), None, generator=torch.Generator().manual_seed(7), **kw)
    b = s(exact_eps(), (5, 1, 2, 2), None, generator=torch.Generator().manual_seed(7), **kw)
    c = s(exact_eps(), (5, 1, 2, 2), None, generator=torch.Generator().manual_seed(8), **kw)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown sampler"):
        get_sampler("euler")
    with pytest.raises(ValueError, match="steps"):
        step_indices(0)
    with pytest.raises(ValueError, match="eta"):
        ddim(exact_eps(), (1, 1), None, eta=-1)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_from_the_same_start():
    z = torch.randn(64, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    cpu = dpm_solver_pp_2m(exact_eps(), z.shape, None, steps=20, x_init=z)
    gpu = dpm_solver_pp_2m(exact_eps(), z.shape, None, steps=20, x_init=z, device="cuda")
    assert torch.allclose(cpu, gpu.cpu(), atol=1e-4)
