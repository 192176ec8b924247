"""A shipped model's recipe is verified with the simulator its training data came from."""

import torch

import generators
from generators.cahn_hilliard import CahnHilliardGenerator
from generators.cahn_hilliard.params import CHParams, on_coarse_grid
from invdesign.verification import default_simulator


def test_upsampled_simulator_equals_the_coarse_run_interpolated():
    from generators.cahn_hilliard.generator import run_seeds
    from generators.cahn_hilliard.phases import phase_map
    from generators.cahn_hilliard.solver import fourier_upsample, initial_field, integrate

    params = CHParams(kappa=8.0, mobility=4.0, dt_max=2.0)
    fine = CahnHilliardGenerator(shape=(16, 16, 8), upsample=2, params=params)
    out = fine.sample(torch.tensor([[0.45, 3.0, 40.0]]), n=1, seed=7)
    # the same run by hand: coarse grid with kappa/4, mobility/4, then spectral x2
    coarse = on_coarse_grid(params, 2)
    assert (coarse.kappa, coarse.mobility) == (2.0, 1.0)
    c0 = initial_field([0.45], (8, 8, 4), run_seeds(7, 1), params.noise)
    c = fourier_upsample(integrate(c0, torch.tensor([3.0], dtype=torch.float64), [40.0], coarse), 2)
    assert torch.equal(out.volumes[0], phase_map(c[:, 0], 2, chi=torch.tensor([3.0]))[0])


def test_shipped_models_verify_with_their_data_recipe():
    for name in ("ch2-default", "ch3-default"):
        gen = generators.load(name)
        sim = default_simulator(model=name)
        assert isinstance(sim, CahnHilliardGenerator)
        assert sim.shape == gen.shape and sim.phases == gen.phases
        assert sim.upsample == gen.config.simulator["upsample"]
        assert sim.params == CHParams(**gen.config.simulator["params"])
    # both shipped models are trained on the default physics at full resolution
    for name in ("ch2-default", "ch3-default"):
        assert default_simulator(model=name).params == CHParams()
        assert default_simulator(model=name).upsample == 1
    # without a model: the default physics at the requested shape
    plain = default_simulator(shape=(16, 16, 8), phases=2)
    assert plain.upsample == 1 and plain.params == CHParams()
