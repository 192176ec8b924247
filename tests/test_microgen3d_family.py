"""The paper's family is one generator: ``load_pack`` returns a ``LatentDiffusionGenerator`` that runs
the paper's modules under every sampler, and the ancestral sampler is the published loop."""

import pytest
import torch

import generators.microgen3d as mg
from generators.diffusion import LatentDiffusionGenerator, ancestral, linear_schedule, unit_grid
from generators.protocol import Generator

SMALL = mg.PackConfig(name="small", in_shape=(1, 32, 32, 32), latent_ch=2, first_stride=1,
                      fp_names=("ABS_f_D", "phi"), condition_names=("ABS_f_D", "CT_f_D_tort1"),
                      channels=(4, 4, 8, 8), n_feat=8)


class StandInDenoiser(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.3))

    def forward(self, x, t, c):
        return self.a * x + t.view(-1, 1, 1, 1, 1) + c[:, :1].view(-1, 1, 1, 1, 1)


def test_pack_configs_follow_the_spec_table():
    c = mg.pack_model_config(mg.PACKS["ch_3phase"])
    assert c.family == "microgen3d" and c.phases == 3
    assert c.conditions.names == ["vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D"]
    assert c.fp_outputs.names[-3:] == ["phi", "chi", "log_time"]
    assert c.conditions.min[2:] == [1.0, 1.0] and c.conditions.max[2:] == [2.0, 2.0]
    assert mg.pack_model_config(mg.PACKS["ch_2phase"]).latent_shape == [4, 8, 8, 4]
    assert c.sampler["name"] == "ancestral"  # the published loop by default
    with pytest.raises(ValueError, match="unknown MicroGen3D pack"):
        mg.get_pack("ch_4phase")


def test_one_pack_table_and_no_import_circle():
    import ast
    from pathlib import Path

    def imports(path):
        tree = ast.parse(path.read_text())
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}

    root = Path(mg.__file__).parent
    # packs.py (the table) imports no generator; the generator imports the table
    assert not any(m.startswith("generators.microgen3d.generator") for m in imports(root / "packs.py"))
    assert "generators.microgen3d.packs" in imports(root / "generator.py")
    # generators.diffusion never imports the paper family (one direction only)
    diffusion = Path(mg.__file__).parents[1] / "diffusion"
    assert not [p.name for p in diffusion.glob("*.py")
                if any(m.startswith("generators.microgen3d") for m in imports(p))]
    # and no other pack table: the only dict keyed by a pack name is PACKS in packs.py
    def tables(path):
        return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Dict)
                and any(isinstance(k, ast.Constant) and k.value == "ch_3phase" for k in n.keys)]

    project = Path(mg.__file__).parents[2]
    found = [str(p.relative_to(project)) for d in ("generators", "invdesign", "apps")
             for p in (project / d).rglob("*.py") if tables(p)]
    assert found == ["generators/microgen3d/packs.py"]


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
        ours = ancestral(den, x0.clone(), unit_grid(linear_schedule()), context=c,
                         generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ours, x, rtol=1e-4, atol=1e-4)


def test_load_pack_returns_the_one_generator_under_every_sampler():
    torch.manual_seed(0)
    vae, fp, den = mg.build_modules(SMALL)
    g = mg.load_pack(SMALL, vae.state_dict(), fp.state_dict(), den.state_dict())
    assert isinstance(g, LatentDiffusionGenerator) and isinstance(g, mg.MicroGen3D) and isinstance(g, Generator)
    assert g.condition_names == ("ABS_f_D", "CT_f_D_tort1") and g.latent_shape == (2, 4, 4, 4)
    mid = g.bounds.mean(0, keepdim=True).float()
    for kw in ({"sampler": "dpmpp2m", "steps": 3}, {"sampler": "ddim", "steps": 3, "eta": 1.0},
               {"sampler": "ancestral", "steps": 3}):
        s = g.sample(mid, n=2, seed=0, **kw)
        assert s.volumes.shape == (2, 32, 32, 32) and set(s.predicted) == {"ABS_f_D", "phi"}
        assert torch.equal(s.volumes, mg.binarize(g.decode_grey(s.latents)))
    # the generator's published loop equals the published entry point from the same start and noise
    x0 = torch.randn(2, *g.latent_shape, generator=torch.Generator().manual_seed(3))
    ctx = torch.tensor([[0.4, 0.3], [0.6, 0.2]])
    bufs = {k: getattr(den, k) for k in ("oneover_sqrta", "mab_over_sqrtmab", "sqrt_beta_t")}
    with torch.no_grad():
        theirs = mg.ancestral_sample(den, x0.clone(), bufs, ctx, torch.Generator().manual_seed(4), first_step=20)
        ours = ancestral(g.eps_fn(), x0.clone(), unit_grid(g.schedule, 20), context=ctx,
                         generator=torch.Generator().manual_seed(4))
    assert torch.equal(ours, theirs)


def test_a_denoiser_wrapper_steers_sampling_with_gradients():
    """``wrap`` is where guidance plugs in: identity changes nothing; a gradient step on the predicted
    clean latent (guide_x0, autograd enabled inside) pulls every sample towards the edit."""
    from generators.diffusion import guide_x0

    torch.manual_seed(0)
    vae, fp, den = mg.build_modules(SMALL)
    g = mg.load_pack(SMALL, vae.state_dict(), fp.state_dict(), den.state_dict())
    mid = g.bounds.mean(0, keepdim=True).float()
    kw = dict(n=4, seed=0, sampler="ddim", steps=3)
    plain, _ = g.sample_latents(mid, **kw)
    same, _ = g.sample_latents(mid, wrap=lambda eps: eps, **kw)
    assert torch.equal(plain, same)
    grads = []

    def towards_zero(x0, t, context):
        with torch.enable_grad():
            x = x0.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad((x**2).sum(), x)
        grads.append(grad)
        return x0 - 0.25 * grad  # = 0.5 x0

    steered, _ = g.sample_latents(mid, wrap=lambda eps: guide_x0(eps, g.schedule, towards_zero), **kw)
    assert len(grads) == 3 and all(gr.shape == plain.shape for gr in grads)
    assert steered.flatten(1).norm(dim=1).lt(plain.flatten(1).norm(dim=1)).all()
    # sample() hands the wrapper on: the same latents as sample_latents
    s = g.sample(mid, wrap=lambda eps: guide_x0(eps, g.schedule, towards_zero), **kw)
    assert torch.equal(s.latents, steered)
