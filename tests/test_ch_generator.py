"""The Cahn-Hilliard generator (protocol, recipe, seeds) and the phase-map rules."""

import pytest
import torch

from generators.cahn_hilliard import CahnHilliardGenerator, binodal, mixed_halfwidth, phase_map, simulate
from generators.protocol import Generator

SHAPE = (16, 16, 8)


def test_meets_the_generator_protocol():
    g = CahnHilliardGenerator(shape=SHAPE, phases=3)
    assert isinstance(g, Generator)
    assert g.condition_names == ("phi", "chi", "time")
    assert g.bounds.shape == (2, 3) and (g.bounds[0] < g.bounds[1]).all()
    assert g.predicted_names == ("phi", "chi", "log_time")


def test_sample_returns_recipe_volumes_in_protocol_order():
    g = CahnHilliardGenerator(shape=SHAPE, phases=2, batch_size=3)
    cond = torch.tensor([[0.5, 3.0, 50.0], [0.35, 3.5, 20.0]])
    s = g.sample(cond, n=2, seed=7)
    assert s.volumes.shape == (4,) + SHAPE and s.volumes.dtype == torch.uint8
    assert torch.equal(s.conditions, cond.repeat_interleave(2, 0))
    assert torch.allclose(s.predicted["log_time"], torch.log10(cond[:, 2]).repeat_interleave(2))
    assert torch.equal(s.predicted["phi"], cond[:, 0].repeat_interleave(2))
    donor = (s.volumes == 0).flatten(1).double().mean(1)
    # mass conservation shows in the phase map: about phi of the voxels are donor once separated
    assert (donor[:2] - 0.5).abs().max() < 0.1 and (donor[2:] - 0.35).abs().max() < 0.1
    assert not torch.equal(s.volumes[0], s.volumes[1])  # the n samples differ (their noise does)
    again = g.sample(cond, n=2, seed=7)
    assert torch.equal(again.volumes, s.volumes)


def test_sample_matches_simulate_for_a_single_run():
    g = CahnHilliardGenerator(shape=SHAPE, phases=2)
    s = g.sample(torch.tensor([[0.45, 3.2, 30.0]]), n=1, seed=3)
    from generators.cahn_hilliard.generator import run_seeds

    c = simulate(0.45, 3.2, [30.0], shape=SHAPE, seed=run_seeds(3, 1)[0])[0]
    assert torch.equal(s.volumes[0], phase_map(c))


def test_sample_rejects_bad_conditions():
    g = CahnHilliardGenerator(shape=SHAPE)
    with pytest.raises(ValueError, match="conditions"):
        g.sample(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="phi"):
        g.sample(torch.tensor([[1.5, 3.0, 10.0]]))
    with pytest.raises(ValueError, match="time"):
        g.sample(torch.tensor([[0.5, 3.0, -1.0]]))
    with pytest.raises(ValueError, match="phases"):
        CahnHilliardGenerator(shape=SHAPE, phases=4)


def test_two_phase_map_thresholds_at_one_half():
    c = torch.tensor([[0.1, 0.49, 0.5, 0.51, 0.9]])
    assert phase_map(c).tolist() == [[1, 1, 1, 0, 0]]


def test_three_phase_map_uses_a_band_relative_to_the_binodal():
    delta = mixed_halfwidth(3.0).item()
    assert delta == pytest.approx(0.5 * (binodal(3.0).item() - 0.5))
    c = torch.tensor([[0.5 + 0.99 * delta, 0.5 + 1.01 * delta, 0.5 - 0.99 * delta, 0.5 - 1.01 * delta]])
    assert phase_map(c, 3, chi=torch.tensor([3.0])).tolist() == [[2, 0, 2, 1]]
    # a per-run chi sets a per-run band; below the critical point the floor delta_min applies
    cc = torch.full((2, 4), 0.56)
    labels = phase_map(cc, 3, chi=torch.tensor([1.5, 4.0]))
    assert labels[0].tolist() == [0, 0, 0, 0] and labels[1].tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="chi or delta"):
        phase_map(cc, 3)


def test_three_phase_mixed_layer_is_thin_after_coarsening():
    c = simulate(0.5, 3.0, [400.0], shape=(32, 32, 16), seed=1)
    labels = phase_map(c, 3, chi=3.0)
    frac = torch.bincount(labels.flatten(), minlength=3).double() / labels.numel()
    assert 0.02 < frac[2] < 0.2
    assert abs(frac[0] - frac[1]) < 0.1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_generator_on_cuda_matches_cpu_early():
    cond = torch.tensor([[0.5, 3.0, 5.0]])
    cpu = CahnHilliardGenerator(shape=SHAPE, dtype=torch.float64).sample(cond, n=2, seed=1)
    gpu = CahnHilliardGenerator(shape=SHAPE, dtype=torch.float64, device="cuda").sample(cond, n=2, seed=1)
    assert gpu.volumes.device.type == "cuda"
    assert (gpu.volumes.cpu() != cpu.volumes).double().mean() < 1e-3
