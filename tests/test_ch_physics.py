"""Physics of the Cahn-Hilliard solver on small grids: conservation, stability, spinodal
decomposition, energy decay, linear growth rates, coarsening, reproducibility."""

import math

import pytest
import torch

from generators.cahn_hilliard import (
    CHParams,
    binodal,
    characteristic_length,
    coarsening_exponent,
    free_energy,
    initial_field,
    integrate,
    simulate,
)

SMALL = (32, 32, 16)


def test_mass_is_conserved_to_float_precision():
    for dtype, tol in ((torch.float32, 2e-6), (torch.float64, 1e-13)):
        s = simulate([0.5, 0.37], 3.2, [5, 50, 150], shape=(16, 16, 16), seed=[4, 5], dtype=dtype)
        means = s.flatten(2).mean(2)
        assert torch.allclose(means[0], torch.full_like(means[0], 0.5), atol=tol, rtol=0)
        assert torch.allclose(means[1], torch.full_like(means[1], 0.37), atol=tol, rtol=0)


def test_below_the_spinodal_a_perturbation_decays():
    p = CHParams(noise=0.05)
    c0 = initial_field([0.5], SMALL, [1], p.noise)
    s = integrate(c0, 1.5, [5.0, 50.0], p)
    std0, std5, std50 = c0.std().item(), s[0, 0].std().item(), s[0, 1].std().item()
    assert std50 < std5 < 0.5 * std0
    assert std50 < 0.01 * std0


def test_above_the_spinodal_the_blend_separates_to_the_binodal():
    s = simulate(0.5, 3.0, [1.0, 100.0], shape=SMALL, seed=2)
    assert s[0].std() < 0.05  # still nearly homogeneous at t = 1
    late = s[1].double()
    cb = binodal(3.0).item()
    # coexisting compositions: the field's extremes sit at the two binodal values
    assert abs(late.max().item() - cb) < 0.02
    assert abs(late.min().item() - (1 - cb)) < 0.02
    assert 0.4 < (late > 0.5).double().mean().item() < 0.6


def test_binodal_solves_the_coexistence_equation():
    for chi in (2.2, 3.0, 4.0):
        c = binodal(chi).item()
        assert 0.5 < c < 1
        assert abs(math.log(c / (1 - c)) - chi * (2 * c - 1)) < 1e-10
    assert binodal(1.5).item() == 0.5


def test_free_energy_never_increases():
    p = CHParams(dt_max=2.0)
    chi = torch.tensor([3.0, 2.6], dtype=torch.float64)
    c0 = initial_field([0.5, 0.45], (16, 16, 16), [7, 8], p.noise, dtype=torch.float64)
    energies = [free_energy(c0, chi)]
    integrate(c0, chi, [200.0], p, callback=lambda t, c: energies.append(free_energy(c, chi)))
    e = torch.stack(energies)
    rises = (e[1:] - e[:-1]) / e[:-1].abs()
    assert rises.max().item() < 1e-9
    assert (e[-1] < e[0] - 20).all()  # and it does fall: the blends separate


def test_spectral_gradient_energy_matches_the_analytic_value():
    n, a, chi, kappa = 32, 0.1, 2.5, 1.7
    x = torch.arange(n, dtype=torch.float64)
    c = (0.5 + a * torch.sin(2 * math.pi * 3 * x / n)).reshape(n, 1, 1).expand(n, 8, 4)[None]
    k = 2 * math.pi * 3 / n
    cc = c[0]
    bulk = (cc * cc.log() + (1 - cc) * (1 - cc).log() + chi * cc * (1 - cc)).sum()
    expected = bulk + 0.5 * kappa * a * a * k * k * 0.5 * cc.numel()
    got = free_energy(c, chi, kappa=kappa)[0]
    assert abs(got.item() - expected.item()) < 1e-9 * abs(expected.item())


def test_linear_growth_rate_of_a_single_mode():
    """Around c = 1/2 a mode of wavenumber k grows at M k^2 (2 chi - 4 - kappa k^2)."""
    n, chi, amp = 64, 3.0, 1e-4
    x = torch.arange(n, dtype=torch.float64)
    for mode in (4, 10, 14):  # growing, near the fastest, decaying
        k = 2 * math.pi * mode / n
        c0 = (0.5 + amp * torch.cos(k * x)).reshape(n, 1).expand(n, 4)[None].contiguous()
        out = integrate(c0, chi, [2.0], CHParams(dt=0.01))
        ratio = ((out[0, 0, :, 0] - 0.5) * torch.cos(k * x)).sum() / (amp * (torch.cos(k * x) ** 2).sum())
        rate = k * k * (2 * chi - 4 - k * k)
        assert abs(math.log(ratio.item()) - 2.0 * rate) < 0.03 * max(1.0, abs(2.0 * rate))


def test_stable_to_late_times_with_large_steps():
    s = simulate(0.5, 3.8, [10_000.0], shape=(16, 16, 8), seed=3, params=CHParams(dt_max=20.0))
    assert torch.isfinite(s).all()
    assert abs(s.double().mean().item() - 0.5) < 1e-5
    assert s.min() > -0.01 and s.max() < 1.01


def test_domains_coarsen_with_a_one_third_power_law_2d():
    times = [100.0, 200.0, 400.0, 800.0, 1600.0]
    s = simulate(0.5, 3.0, times, shape=(128, 128), seed=[1, 2], params=CHParams(dt_max=2.0))
    length = characteristic_length(s.flatten(0, 1)).reshape(2, -1).mean(0)
    assert (length[1:] > length[:-1]).all()
    assert 0.22 < coarsening_exponent(times, length.tolist()) < 0.42


def test_domains_coarsen_in_3d():
    times = [100.0, 200.0, 400.0, 800.0]
    s = simulate(0.5, 3.0, times, shape=(24, 24, 24), seed=1, params=CHParams(dt_max=2.0))
    length = characteristic_length(s)
    assert (length[1:] > length[:-1]).all()
    assert 0.12 < coarsening_exponent(times, length.tolist()) < 0.45


def test_seeded_runs_are_reproducible():
    a = simulate(0.45, 3.0, [20.0], shape=(16, 16, 8), seed=11)
    b = simulate(0.45, 3.0, [20.0], shape=(16, 16, 8), seed=11)
    c = simulate(0.45, 3.0, [20.0], shape=(16, 16, 8), seed=12)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.1
    # a run does not depend on the other runs of its batch
    batch = simulate([0.3, 0.45], [2.5, 3.0], [20.0], shape=(16, 16, 8), seed=[5, 11])
    assert torch.allclose(batch[1], a, atol=1e-4)
    a64 = simulate(0.45, 3.0, [20.0], shape=(16, 16, 8), seed=11, dtype=torch.float64)
    b64 = simulate([0.3, 0.45], [2.5, 3.0], [20.0], shape=(16, 16, 8), seed=[5, 11], dtype=torch.float64)
    assert torch.allclose(b64[1], a64, atol=1e-10)


def test_float32_and_float64_agree_early():
    a = simulate(0.5, 3.0, [5.0, 15.0], shape=SMALL, seed=9, dtype=torch.float32)
    b = simulate(0.5, 3.0, [5.0, 15.0], shape=SMALL, seed=9, dtype=torch.float64)
    assert a.dtype == torch.float32 and b.dtype == torch.float64
    assert (a.double() - b).abs().max() < 2e-3


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_agree():
    for dtype, tol in ((torch.float64, 1e-8), (torch.float32, 2e-3)):
        a = simulate(0.5, 3.0, [5.0, 15.0], shape=SMALL, seed=9, dtype=dtype)
        b = simulate(0.5, 3.0, [5.0, 15.0], shape=SMALL, seed=9, dtype=dtype, device="cuda")
        assert b.device.type == "cuda"
        assert (a - b.cpu()).abs().max() < tol


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="phi"):
        simulate(1.2, 3.0, [10.0], shape=SMALL)
    with pytest.raises(ValueError, match="times"):
        simulate(0.5, 3.0, [10.0, 5.0], shape=SMALL)
    with pytest.raises(ValueError, match="shape"):
        simulate(0.5, 3.0, [10.0], shape=(32,))
    with pytest.raises(ValueError, match="values for a batch"):
        simulate([0.5, 0.4], [3.0, 3.0, 3.0], [10.0], shape=SMALL)
    with pytest.raises(ValueError, match="kappa"):
        CHParams(kappa=-1.0)
