"""The paper-family adapter: stand-in modules with the paper's interfaces run under our samplers,
and the ancestral sampler reproduces the published loop written out by hand."""

import pytest
import torch
from torch import nn

from generators.diffusion import ancestral, linear_schedule
from generators.diffusion.microgen3d_adapter import PACKS, from_modules, from_pack, paper_config
from generators.protocol import Generator


class StandInVAE(nn.Module):
    """Interfaces of the paper's VAE: encode(x) -> (mu, logvar); decode(z) -> sigmoid volume."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))

    def encode(self, x):
        z = nn.functional.avg_pool3d(x, 16)[:, :1].repeat(1, 4, 1, 1, 1)
        return z * self.w, torch.zeros_like(z)

    def decode(self, z):
        return torch.sigmoid(nn.functional.interpolate(z[:, :1], scale_factor=16))


class StandInFP(nn.Module):
    def __init__(self, n_out):
        super().__init__()
        self.lin = nn.Linear(4 * 8 * 8 * 4, n_out)

    def forward(self, z):
        return self.lin(z)


class StandInDenoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.3))

    def forward(self, x, t, c):
        return self.a * x + t.view(-1, 1, 1, 1, 1) + c[:, :1].view(-1, 1, 1, 1, 1)


def test_paper_configs_follow_the_spec_table():
    c = paper_config("ch_3phase")
    assert c.conditions.names == ["vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D"]
    assert c.fp_outputs.names[-3:] == ["phi", "chi", "log_time"]
    assert paper_config("ch_2phase").latent_shape == [4, 8, 8, 4]
    with pytest.raises(ValueError, match="unknown MicroGen3D pack"):
        paper_config("ch_4phase")


def test_generator_over_stand_in_paper_modules():
    torch.manual_seed(0)
    g = from_modules(StandInVAE(), StandInFP(7), StandInDenoiser(), "ch_2phase")
    assert isinstance(g, Generator) and g.shape == (128, 128, 64)
    s = g.sample(g.bounds.mean(0, keepdim=True), n=2, seed=0, steps=5)  # default: ancestral from step 5
    assert s.volumes.shape == (2, 128, 128, 64) and set(s.predicted) == set(PACKS["ch_2phase"]["fp"])
    s2 = g.sample(g.bounds.mean(0, keepdim=True), n=2, seed=0, sampler="dpmpp2m", steps=4)
    assert s2.latents.shape == (2, 4, 8, 8, 4)

    class Pack:
        vae, fp, ddpm = StandInVAE(), StandInFP(7), StandInDenoiser()
        denoiser = None

    assert from_pack(Pack(), "ch_2phase").shape == (128, 128, 64)
    with pytest.raises(ValueError, match="expected an object"):
        from_pack(object(), "ch_2phase")


def test_ancestral_is_the_published_loop():
    den = StandInDenoiser()
    buf = {k: v.float() for k, v in linear_schedule().buffers().items()}
    c = torch.tensor([[0.2, 0.1, 0.3]])
    x0 = torch.randn(1, 4, 8, 8, 4, generator=torch.Generator().manual_seed(0))
    # the published loop, with noise drawn from the same generator in the same order
    g = torch.Generator().manual_seed(1)
    x = x0.clone()
    with torch.no_grad():
        for i in range(998, 0, -1):
            eps = den(x, torch.tensor([i / 1000.0]), c)
            z = torch.randn(x.shape, generator=g) if i > 1 else 0
            x = buf["oneover_sqrta"][i] * (x - eps * buf["mab_over_sqrtmab"][i]) + buf["sqrt_beta_t"][i] * z
        ours = ancestral(den, x0.shape, c, generator=torch.Generator().manual_seed(1), x_init=x0.clone())
    assert torch.allclose(ours, x, rtol=1e-4, atol=1e-4)


def test_real_microgen3d_modules_under_our_samplers():
    mg = pytest.importorskip("generators.microgen3d")
    cfg = mg.PackConfig(name="small", in_shape=(1, 32, 32, 32), latent_ch=2, first_stride=1,
                        fp_names=("ABS_f_D", "phi"), condition_names=("ABS_f_D", "CT_f_D_tort1"),
                        channels=(4, 4, 8, 8), n_feat=8)
    torch.manual_seed(0)
    vae, fp, den = mg.build_modules(cfg)
    sd = {"vae": vae.state_dict(), "fp": fp.state_dict(), "ddpm": den.state_dict()}
    loaded = mg.load_pack(cfg, sd["vae"], sd["fp"], sd["ddpm"])
    g = from_pack(loaded)
    assert g.condition_names == ("ABS_f_D", "CT_f_D_tort1") and g.latent_shape == (2, 4, 4, 4)
    s = g.sample(g.bounds.mean(0, keepdim=True).float(), n=2, seed=0, sampler="dpmpp2m", steps=3)
    assert s.volumes.shape == (2, 32, 32, 32) and set(s.predicted) == {"ABS_f_D", "phi"}
    # our published loop equals theirs from the same start and noise stream (20 steps here)
    x0 = torch.randn(2, *g.latent_shape, generator=torch.Generator().manual_seed(3))
    ctx = torch.tensor([[0.4, 0.3], [0.6, 0.2]])
    bufs = {k: getattr(den, k) for k in ("oneover_sqrta", "mab_over_sqrtmab", "sqrt_beta_t")}
    with torch.no_grad():
        theirs = mg.ancestral_sample(den, x0.clone(), bufs, ctx, torch.Generator().manual_seed(4), first_step=20)
        ours = ancestral(den, x0.shape, ctx, generator=torch.Generator().manual_seed(4), x_init=x0.clone(), first=20)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5)
