"""The denoiser's training objective: EMA warm-up, v-prediction and FiLM conditioning."""

import pytest
import torch

from generators.diffusion.compact import EMA, CompactDenoiser, ResBlock, eps_from_output
from generators.diffusion.schedule import linear_schedule


def test_ema_forgets_its_random_initialisation():
    """With a fixed 0.999 decay, 0.999**2500 = 8% of the initial weights would remain after 2,500
    updates; the warm-up keeps far less than 1%."""
    start, target = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
    with torch.no_grad():
        start.weight.fill_(1.0)
        target.weight.fill_(0.0)
    ema = EMA(start, decay=0.999)
    for _ in range(2500):
        ema.update(target)
    assert ema.updates == 2500
    assert float(ema.module.weight.abs().max()) < 1e-3
    ema.updates = 20000
    assert ema.current_decay() == pytest.approx(0.999)


def test_ema_decay_warms_up():
    ema = EMA(torch.nn.Linear(2, 2), decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)
    ema.updates = 90
    assert ema.current_decay() == pytest.approx(91 / 100)


def test_v_output_converts_back_to_the_noise():
    ab = linear_schedule().alphabar.float()
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 2, 4, 4, 2, generator=g), torch.randn(5, 2, 4, 4, 2, generator=g)
    i = torch.tensor([0, 10, 400, 800, 999])
    a = ab[i].view(-1, 1, 1, 1, 1)
    x = a.sqrt() * x0 + (1 - a).sqrt() * eps
    v = a.sqrt() * eps - (1 - a).sqrt() * x0
    assert torch.allclose(eps_from_output(v, x, ab[i], "v"), eps, atol=1e-4)
    assert eps_from_output(v, x, ab[i], "eps") is v


def test_a_v_model_hands_samplers_the_noise():
    """``CompactLatentModel.eps`` converts a v-denoiser's output at the network time ``t = i / T``."""
    from generators.diffusion.config import ModelConfig, Stats
    from generators.diffusion.latent_model import CompactLatentModel

    cfg = ModelConfig(family="periodic", phases=2, shape=[8, 8, 8], latent_shape=[2, 2, 2, 2],
                      architecture={"vae": {"patch": 4, "widths": [4], "latent_channels": 2, "head": 4},
                                    "fp": {"width": 4, "hidden": 8},
                                    "denoiser": {"channels": [8], "film": True, "prediction": "v"}},
                      conditions=Stats(["c"], [0.0], [1.0], [0.0], [1.0]), fp_outputs=Stats(["c"], [0.0], [1.0], [0.0], [1.0]),
                      latent_scale=1.0, sampler={})
    model = CompactLatentModel(cfg)
    assert model.denoiser.prediction == "v"
    ab = linear_schedule().alphabar.float()
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(3, 2, 2, 2, 2, generator=g), torch.randn(3, 2, 2, 2, 2, generator=g)
    i = torch.tensor([5, 500, 990])
    a = ab[i].view(-1, 1, 1, 1, 1)
    x = a.sqrt() * x0 + (1 - a).sqrt() * eps
    v = a.sqrt() * eps - (1 - a).sqrt() * x0
    model.denoiser.forward = lambda x_, t_, c_: v  # an oracle v-network
    assert torch.allclose(model.eps(x, i.float() / 1000, torch.zeros(3, 1)), eps, atol=1e-4)


def test_unknown_prediction_is_a_plain_error():
    with pytest.raises(ValueError, match="prediction must be one of"):
        CompactDenoiser(2, 1, channels=(8,), prediction="x0")


def test_film_scales_and_shifts_with_the_embedding():
    torch.manual_seed(0)
    block = ResBlock(4, 4, emb_dim=3, film=True)
    assert block.emb.out_features == 8
    x = torch.randn(2, 4, 4, 4, 4)
    e = torch.randn(1, 3).expand(2, 3)
    with torch.no_grad():
        base = block(x, e)
        block.emb.weight.zero_()
        block.emb.bias.zero_()
        block.emb.bias[:4] = -1.0  # scale 1 + (-1) = 0: the block's residual branch sees only the shift (0)
        killed = block(x, e)
    assert not torch.allclose(base, killed)
    # scale 0, shift 0: h = c2(silu(0)) = the conv bias only, so the output is skip(x) + c2.bias
    assert torch.allclose(killed, x + block.c2.bias.view(1, -1, 1, 1, 1), atol=1e-5)
    assert ResBlock(4, 4, emb_dim=3).emb.out_features == 4
