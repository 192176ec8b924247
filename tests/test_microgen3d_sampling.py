"""The MicroGen3D generator: protocol, published ancestral sampler, registered samplers, the one
grey-level rule, decoding, modules."""

from __future__ import annotations

import pytest
import torch

from generators.microgen3d import (
    PACKS,
    FeaturePredictor,
    MicroGen3D,
    PackConfig,
    ancestral_sample,
    binarize,
    build_denoiser,
    build_fp,
    build_modules,
    build_vae,
    ddpm_schedules,
    load_pack,
    three_levels,
    to_grey,
)
from generators.protocol import Generator
from tests.microgen3d_tiny import tiny_pack

TINY = tiny_pack(T=10)
CONDS = torch.tensor([[0.2, 0.3], [0.6, 0.5]])


@pytest.fixture(scope="module")
def tiny_gen():
    torch.manual_seed(0)
    vae, fp, den = build_modules(TINY)
    return load_pack(TINY, vae=vae.state_dict(), fp=fp.state_dict(), ddpm=den.state_dict(), decode_chunk=3)


def test_meets_protocol_and_samples(tiny_gen):
    assert isinstance(tiny_gen, Generator)
    assert tiny_gen.shape == (32, 32, 32) and tiny_gen.phases == 2
    assert tiny_gen.bounds.shape == (2, 2)
    s = tiny_gen.sample(CONDS, n=3, seed=7)
    assert s.volumes.shape == (6, 32, 32, 32) and s.volumes.dtype == torch.uint8
    assert set(s.volumes.unique().tolist()) <= {0, 1}
    assert torch.equal(s.conditions, CONDS.repeat_interleave(3, 0))
    assert s.latents.shape == (6, *TINY.latent_shape)
    assert tuple(s.predicted) == ("a", "b", "c") and all(v.shape == (6,) for v in s.predicted.values())
    # The volumes are the binarised decodes of the returned latents, and predicted the FP on them.
    assert torch.equal(s.volumes, (tiny_gen.decode_grey(s.latents) > 0.5).to(torch.uint8))
    with torch.no_grad():
        fp_out = tiny_gen.fp(s.latents.flatten(1))
    assert torch.allclose(s.predicted["b"], fp_out[:, 1])


def test_seed_reproducibility(tiny_gen):
    a = tiny_gen.sample(CONDS, n=2, seed=3)
    b = tiny_gen.sample(CONDS, n=2, seed=3)
    c = tiny_gen.sample(CONDS, n=2, seed=4)
    assert torch.equal(a.latents, b.latents) and torch.equal(a.volumes, b.volumes)
    assert not torch.equal(a.latents, c.latents)


def test_batches_draw_noise_in_order(tiny_gen):
    """Each batch draws its start noise and step noise from the one seeded stream, in order: with
    batches of 2, the first batch equals sampling the first condition alone."""
    one = tiny_gen.sample(CONDS[:1], n=2, seed=11)
    split = tiny_gen.sample(CONDS, n=2, seed=11, batch_size=2)
    assert tiny_gen.batch_size == 32  # the paper generator's default
    assert torch.equal(split.latents[:2], one.latents)
    assert not torch.equal(split.latents[2:], one.latents)


def test_bad_conditions(tiny_gen):
    with pytest.raises(ValueError, match=r"\(m, 2\)"):
        tiny_gen.sample(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        tiny_gen.sample(torch.tensor([[float("nan"), 0.1]]))
    with pytest.raises(ValueError, match="n must be"):
        tiny_gen.sample(CONDS, n=0)
    # A single row given as a vector is accepted.
    assert tiny_gen.sample(torch.tensor([0.2, 0.3]), seed=0).volumes.shape[0] == 1


def test_ancestral_sample_follows_published_loop():
    T = 1000
    sched = ddpm_schedules(T=T, dtype=torch.float64)
    calls = []

    def eps_fn(x, t, context):
        calls.append(float(t[0]))
        assert t.shape == (x.shape[0],) and context is ctx
        return 0.1 * x + context[:, :1, None, None, None]

    ctx = torch.tensor([[0.3], [0.7]], dtype=torch.float64)
    x0 = torch.randn(2, 1, 4, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = ancestral_sample(eps_fn, x0, sched, ctx, torch.Generator().manual_seed(2))
    assert len(calls) == 998
    assert calls[0] == pytest.approx(0.998) and calls[-1] == pytest.approx(0.001)
    # Reference: the spec's update written out, with the same noise stream.
    g = torch.Generator().manual_seed(2)
    x = x0.clone()
    for i in range(998, 0, -1):
        eps = 0.1 * x + ctx[:, :1, None, None, None]
        z = torch.randn(x.shape, generator=g, dtype=x.dtype) if i > 1 else 0.0
        x = sched["oneover_sqrta"][i] * (x - eps * sched["mab_over_sqrtmab"][i]) + sched["sqrt_beta_t"][i] * z
    assert torch.allclose(out, x, rtol=1e-12, atol=1e-12)


def test_ancestral_last_step_is_deterministic():
    """No noise is added at i = 1: from step 1 only, the result is a pure function of x."""
    sched = ddpm_schedules(T=10, dtype=torch.float64)
    x = torch.ones(1, 1, 4, 4, 4, dtype=torch.float64)
    a = ancestral_sample(lambda x, t, c: torch.zeros_like(x), x, sched, None, first_step=1)
    assert torch.allclose(a, x * sched["oneover_sqrta"][1])
    with pytest.raises(ValueError, match="first_step"):
        ancestral_sample(lambda x, t, c: x, x, sched, None, first_step=10)


def test_registered_samplers_run_with_the_one_signature(tiny_gen, monkeypatch):
    from generators.diffusion import samplers

    seen = {}

    def fake(eps_fn, x, grid, *, context=None, generator=None, scale=1.0):
        seen.update(shape=tuple(x.shape), steps=len(grid), context=context.clone(), scale=scale,
                    buffers=tuple(grid.schedule.buffers()))
        eps = eps_fn(x, torch.full((x.shape[0],), 0.5), context)
        assert eps.shape == x.shape
        return torch.zeros_like(x)

    monkeypatch.setitem(samplers.SAMPLERS, "fake", samplers.Sampler(fake, samplers.unit_grid, ("scale",)))
    s = tiny_gen.sample(CONDS, n=2, seed=0, sampler="fake", steps=5)
    assert seen["steps"] == 5 and seen["shape"] == (4, *TINY.latent_shape) and seen["scale"] == 1.0
    assert torch.equal(seen["context"], CONDS.repeat_interleave(2, 0))
    assert seen["buffers"] == ("alpha_t", "oneover_sqrta", "sqrt_beta_t", "alphabar_t", "sqrtab", "sqrtmab", "mab_over_sqrtmab")
    assert torch.equal(s.latents, torch.zeros_like(s.latents))
    # the published loop runs on the denoiser's stored buffers (those of ddpm.pt), not recomputed ones
    assert tiny_gen.schedule.buffers()["oneover_sqrta"] is tiny_gen.denoiser.oneover_sqrta


def test_autocast(tiny_gen):
    a = tiny_gen.sample(CONDS, seed=0, sampler="ddim", steps=3)
    tiny_gen.amp_dtype = torch.bfloat16
    try:
        b = tiny_gen.sample(CONDS, seed=0, sampler="ddim", steps=3)
    finally:
        tiny_gen.amp_dtype = None
    assert b.latents.dtype == torch.float32
    assert not torch.equal(a.latents, b.latents)  # bf16 rounding shows ...
    assert torch.allclose(a.latents, b.latents, atol=0.1)  # ... but stays close


def test_decode_in_chunks_equals_whole(tiny_gen):
    z = torch.randn(5, *TINY.latent_shape)
    with torch.no_grad():
        whole = tiny_gen.vae.decode(z)[:, 0]
    chunked = tiny_gen.decode_grey(z)  # decode_chunk = 3
    assert chunked.shape == (5, 32, 32, 32)
    assert torch.allclose(chunked, whole, atol=1e-6)
    assert (chunked > 0).all() and (chunked < 1).all()


def test_denoiser_time_and_context_broadcast():
    torch.manual_seed(0)
    den = build_denoiser(TINY).eval()
    x = torch.randn(3, *TINY.latent_shape)
    ctx = torch.tensor([0.1, 0.9])
    with torch.no_grad():
        a = den(x, 0.25, ctx)
        b = den(x, torch.full((3,), 0.25), ctx.expand(3, 2))
        c = den(x, torch.tensor([0.25, 0.5, 0.25]), ctx)
    assert torch.allclose(a, b)
    assert torch.allclose(a[0], c[0]) and not torch.allclose(a[1], c[1])
    with pytest.raises(ValueError, match="t must be"):
        den(x, torch.zeros(2), ctx)
    with pytest.raises(ValueError, match="context"):
        den(x, 0.5, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="divisible by 4"):
        den(torch.randn(1, 2, 4, 4, 6), 0.5, ctx)


def test_vae_shapes_and_reparameterize():
    torch.manual_seed(0)
    for stride, size in ((1, 32), (2, 64)):
        vae = build_vae(PackConfig("t", (1, size, size, size), 3, stride, ("a",), ("a",), channels=(2, 2, 4, 4)))
        mu, logvar = vae.encode(torch.rand(2, 1, size, size, size))
        assert mu.shape == logvar.shape == (2, 3, 4, 4, 4)
        recon, _, _ = vae(torch.rand(1, 1, size, size, size))
        assert recon.shape == (1, 1, size, size, size)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(vae.reparameterize(mu, logvar, g1), vae.reparameterize(mu, logvar, g2))
    z = vae.reparameterize(torch.zeros(20000), torch.full((20000,), 2 * torch.log(torch.tensor(3.0))))
    assert z.std().item() == pytest.approx(3.0, rel=0.05)
    with pytest.raises(ValueError, match="divisible"):
        vae.encode(torch.rand(1, 1, 40, 64, 64))
    with pytest.raises(ValueError, match="first_stride"):
        build_vae(PackConfig("t", (1, 64, 64, 64), 3, 3, ("a",), ("a",)), "meta")


def test_feature_predictor_normalisation_matches_instancenorm1d():
    torch.manual_seed(0)
    fp = FeaturePredictor(64, 5).eval()
    z = torch.randn(4, 64)
    with torch.no_grad():
        h = torch.relu(fp.fc1(z))
        h = torch.nn.functional.instance_norm(h.unsqueeze(0), eps=1e-5).squeeze(0)  # (C=B, L=F) unbatched
        h = torch.relu(fp.fc2(h))
        h = torch.nn.functional.instance_norm(h.unsqueeze(0), eps=1e-5).squeeze(0)
        ref = fp.fc3(h)
        assert torch.allclose(fp(z), ref, atol=1e-5)
    fp.train()
    assert not torch.equal(fp(z), fp(z))  # dropout active in training mode
    with pytest.raises(ValueError, match=r"\(B, 64\)"):
        fp(torch.randn(4, 63))


def test_pack_defaults_bounds_and_constraints():
    cfg = PACKS["ch_3phase"]
    v, f, d = build_vae(cfg, "meta"), build_fp(cfg, "meta"), build_denoiser(cfg, "meta")
    gen = MicroGen3D(v, f, d, cfg)
    assert gen.condition_names == ("vol_frac_D", "vol_frac_M", "tortuosity_A", "tortuosity_D")
    assert gen.predicted_names[-3:] == ("phi", "chi", "log_time")
    assert gen.bounds[:, 0].tolist() == [0.0, 1.0] and gen.bounds[0, 2] == 1.0
    assert gen.inequality_constraints == [([0, 1], [-1.0, -1.0], -1.0)]
    assert gen.shape == (128, 128, 64)
    gen2 = MicroGen3D(v, f, d, cfg, bounds={"vol_frac_D": (0.2, 0.6)}, labeler="three_levels")
    assert gen2.bounds[:, 0].tolist() == [0.2, 0.6] and gen2.phases == 3
    with pytest.raises(ValueError, match="unknown conditions"):
        MicroGen3D(v, f, d, cfg, bounds={"phi": (0, 1)})
    with pytest.raises(ValueError, match="low < high"):
        MicroGen3D(v, f, d, cfg, bounds=torch.tensor([[0.0] * 4, [0.0] * 4]))
    exp = PACKS["experimental"]
    gen3 = MicroGen3D(build_vae(exp, "meta"), build_fp(exp, "meta"), build_denoiser(exp, "meta"), exp)
    assert gen3.inequality_constraints == [] and gen3.bounds.tolist() == [[0.0] * 3, [1.0] * 3]
    assert exp.latent_shape == (1, 8, 8, 8) and PACKS["ch_2phase"].latent_shape == (4, 8, 8, 4)


def test_three_levels():
    v = torch.tensor([0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0])
    assert three_levels(v).tolist() == [0, 0, 2, 2, 2, 1, 1]
    # nearest grey level: donor 0, mixed 0.5, acceptor 1
    assert three_levels(torch.tensor([0.24, 0.26, 0.74, 0.76])).tolist() == [0, 2, 2, 1]
    assert binarize(torch.tensor([0.49, 0.5, 0.51])).tolist() == [0, 0, 1]


def test_one_grey_level_rule_both_ways():
    labels = torch.randint(0, 3, (2, 8, 8, 8), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    grey = to_grey(labels)
    assert grey[labels == 2].unique().tolist() == [0.5]  # mixed is the middle grey
    assert grey[labels == 1].unique().tolist() == [1.0] and grey[labels == 0].unique().tolist() == [0.0]
    assert torch.equal(three_levels(grey), labels)
    two = (labels == 1).to(torch.uint8)
    assert torch.equal(binarize(to_grey(two)), two)
    with pytest.raises(ValueError, match="labels must be"):
        to_grey(torch.tensor([3]))


def test_encode_and_decode_use_the_one_rule():
    """A ch_3phase-style generator encodes labels with ``to_grey`` and decodes with ``three_levels``:
    the VAE sees mixed voxels as 0.5, and a decoded 0.5 is mixed."""
    torch.manual_seed(0)
    cfg = PackConfig(**{**TINY.__dict__, "phases": 3})
    vae, fp, den = build_modules(cfg)
    gen = load_pack(cfg, vae=vae.state_dict(), fp=fp.state_dict(), ddpm=den.state_dict())
    assert gen.phases == 3
    seen = {}
    real_encode, real_decode = gen.vae.encode, gen.vae.decode
    gen.vae.encode = lambda x: (seen.setdefault("x", x), real_encode(x))[1]
    gen.vae.decode = lambda z: torch.full((z.shape[0], 1, 32, 32, 32), 0.5)
    try:
        labels = torch.tensor([0, 1, 2]).repeat(32 * 32 * 32 // 3 + 1)[: 32**3].view(1, 32, 32, 32).to(torch.uint8)
        gen.encode(labels)
        assert torch.equal(seen["x"][0, 0], to_grey(labels[0]))
        assert gen.decode(torch.zeros(1, *cfg.latent_shape)).unique().tolist() == [2]
    finally:
        gen.vae.encode, gen.vae.decode = real_encode, real_decode


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sampling_matches_cpu():
    """The same weights, start and noise stream on CUDA and on the CPU give the same latents."""
    from generators.diffusion import ancestral, unit_grid

    torch.manual_seed(0)
    vae, fp, den = build_modules(TINY)
    sd = {"vae": vae.state_dict(), "fp": fp.state_dict(), "ddpm": den.state_dict()}
    gpu, cpu = (load_pack(TINY, **sd, device=d) for d in ("cuda", "cpu"))
    s = gpu.sample(CONDS.cuda(), n=2, seed=1)
    assert s.volumes.device.type == "cuda" and s.volumes.shape == (4, 32, 32, 32)
    assert torch.equal(s.latents, gpu.sample(CONDS, n=2, seed=1).latents)  # seeded on the device
    x = torch.randn(4, *TINY.latent_shape, generator=torch.Generator().manual_seed(2))
    ctx = CONDS.repeat_interleave(2, 0)
    with torch.no_grad():
        on_cpu = ancestral(cpu.eps_fn(), x.clone(), unit_grid(cpu.schedule), context=ctx,
                           generator=torch.Generator().manual_seed(3))
        on_gpu = ancestral(gpu.eps_fn(), x.cuda(), unit_grid(gpu.schedule), context=ctx.cuda(),
                           generator=torch.Generator().manual_seed(3))  # noise drawn on the CPU
    assert on_gpu.device.type == "cuda"
    assert torch.allclose(on_gpu.cpu(), on_cpu, rtol=1e-3, atol=1e-4)
    assert torch.equal(gpu.decode(on_gpu).cpu(), cpu.decode(on_cpu)) or \
        (gpu.decode(on_gpu).cpu() != cpu.decode(on_cpu)).float().mean() < 1e-3
    assert torch.allclose(gpu.predict(on_gpu)["a"].cpu(), cpu.predict(on_cpu)["a"], rtol=1e-3, atol=1e-4)
