"""The periodic model family: symmetry, shapes, training with decoded labels, descriptor guidance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generators.diffusion.compact import CompactDenoiser
from generators.diffusion.data import VolumeSet
from generators.diffusion.guidance import condition_columns, fp_guided
from generators.diffusion.periodic import ConvFP, PatchVAE, pixel_shuffle_3d, symmetry_copy
from generators.diffusion.presets import _merge, get_preset
from generators.diffusion.schedule import linear_schedule


def test_pixel_shuffle_inverts_patchify():
    x = torch.arange(2 * 3 * 8 * 8 * 4, dtype=torch.float32).reshape(2, 3, 8, 8, 4)
    p = 2
    # patchify by reshape: (B, C, X/p, p, Y/p, p, Z/p, p) -> (B, C * p^3, X/p, Y/p, Z/p)
    b, c, X, Y, Z = x.shape
    patches = x.reshape(b, c, X // p, p, Y // p, p, Z // p, p).permute(0, 1, 3, 5, 7, 2, 4, 6)
    patches = patches.reshape(b, c * p ** 3, X // p, Y // p, Z // p)
    assert torch.equal(pixel_shuffle_3d(patches, p), x)


def test_vae_is_translation_equivariant_on_the_torus():
    torch.manual_seed(0)
    vae = PatchVAE(2, patch=2, widths=(4, 8), latent_channels=2, head=8).eval()
    v = (torch.rand(1, 16, 16, 8) > 0.5).to(torch.uint8)
    f = vae.factor
    with torch.no_grad():
        mu, _ = vae.encode(vae.to_input(v))
        mu_r, _ = vae.encode(vae.to_input(torch.roll(v, (f, 2 * f), (1, 2))))
        assert torch.allclose(torch.roll(mu, (1, 2), (2, 3)), mu_r, atol=1e-5)
        out = vae.decode(mu)
        out_r = vae.decode(torch.roll(mu, 1, 4))
        assert torch.allclose(torch.roll(out, f, 4), out_r, atol=1e-5)
    assert out.shape == (1, 1, 16, 16, 8)


def test_three_phase_vae_and_fp_shapes():
    vae = PatchVAE(3, patch=2, widths=(4, 8), latent_channels=2, head=8)
    v = torch.randint(0, 3, (2, 16, 16, 8), dtype=torch.uint8)
    loss, info = vae.loss(v)
    assert loss.isfinite() and 0 <= info["acc"] <= 1
    mu, _ = vae.encode(vae.to_input(v))
    assert mu.shape == (2, 2, 4, 4, 2)
    assert vae.labels(vae.decode(mu)).shape == v.shape
    fp = ConvFP(mu.shape[1:], 5, width=4, hidden=8)
    assert fp(mu).shape == (2, 5)


def test_symmetry_copy_keeps_label_counts_and_changes_volumes():
    g = torch.Generator().manual_seed(1)
    v = torch.randint(0, 3, (4, 8, 8, 6), dtype=torch.uint8)
    c = symmetry_copy(v, g)
    assert c.shape == v.shape and not torch.equal(c, v)
    for a, b in zip(v, c):
        assert torch.equal(torch.bincount(a.flatten(), minlength=3), torch.bincount(b.flatten(), minlength=3))
    flat = symmetry_copy(v, torch.Generator().manual_seed(2), roll_z=False)
    # without thickness moves every x-y layer's content stays in its layer (up to in-plane symmetries)
    for a, b in zip(v, flat):
        assert torch.equal(a.sum(dim=(0, 1), dtype=torch.int64).sort().values,
                           b.sum(dim=(0, 1), dtype=torch.int64).sort().values)


def test_circular_denoiser_is_equivariant():
    torch.manual_seed(0)
    den = CompactDenoiser(2, 2, channels=(8, 16), attention=True, padding_mode="circular").eval()
    torch.nn.init.normal_(den.out[-1].weight, std=0.1)
    x = torch.randn(1, 2, 8, 8, 4)
    t, c = torch.tensor([0.3]), torch.tensor([[0.1, -0.2]])
    with torch.no_grad():
        a = torch.roll(den(x, t, c), 2, 2)
        b = den(torch.roll(x, 2, 2), t, c)
    assert torch.allclose(a, b, atol=1e-5)


class _LinearFPModel(torch.nn.Module):
    """A latent model whose FP is the latent's mean: guidance has a known answer."""

    def __init__(self):
        super().__init__()
        from generators.diffusion.config import ModelConfig, Stats

        s = Stats(names=["m"], min=[-1.0], max=[1.0], mean=[0.0], std=[1.0])
        self.config = ModelConfig(family="periodic", phases=2, shape=[8, 8, 8], latent_shape=[1, 4, 4, 4],
                                  architecture={}, conditions=s, fp_outputs=s)
        self.y_mean, self.y_std = torch.zeros(1), torch.ones(1)

    def predict_normalised(self, z):
        return z.flatten(1).mean(1, keepdim=True)


def test_fp_guidance_moves_the_clean_latent_toward_the_condition():
    model = _LinearFPModel()
    sched = linear_schedule()
    ab = sched.alphabar.float()

    def eps(x, t, c):
        return torch.zeros_like(x)

    x = torch.zeros(2, 1, 4, 4, 4)
    t = torch.tensor([0.5, 0.5])
    c = torch.tensor([[1.0], [float("nan")]])
    i = 500
    for scale, expect in ((1.0, 1.0), (0.25, 0.25)):
        e = fp_guided(eps, model, sched, scale=scale)(x, t, c)
        x0 = (x - (1 - ab[i]).sqrt() * e) / ab[i].sqrt()
        # the FP (a mean) is linear: the step removes the fraction `scale` of its error (1 - 0)
        assert torch.allclose(x0[0].mean(), torch.tensor(expect), atol=1e-4)
    assert torch.allclose(x0[1], torch.zeros_like(x0[1]))  # unconditional rows are left alone
    assert fp_guided(eps, model, sched, scale=0.0) is eps


def test_guidance_needs_the_fp_to_predict_every_condition():
    with pytest.raises(ValueError, match="predict"):
        condition_columns(["a", "b"], ["a", "c"])


def test_trainer_labels_latents_with_their_decoded_volumes(tmp_path):
    from generators.cahn_hilliard.attributes import label_volumes
    from generators.diffusion.training import Trainer

    g = torch.Generator().manual_seed(0)
    n = 6
    field = torch.nn.functional.avg_pool3d(torch.rand(n, 1, 16, 16, 8, generator=g), 3, 1, 1)[:, 0]
    vols = (field > torch.linspace(0.45, 0.55, n).view(n, 1, 1, 1)).to(torch.uint8)
    lab = label_volumes(vols, 2)
    labels = {k: lab[k] for k in ("ABS_f_D", "CT_f_D_tort1")}
    labels["phi"] = np.linspace(0.3, 0.7, n)
    cfg = _merge(get_preset("ch2-default"), {
        "vae": {"patch": 2, "widths": [4, 8], "latent_channels": 2, "head": 8},
        "fp": {"width": 4, "hidden": 8}, "denoiser": {"channels": [8]},
        "vae_train": {"steps": 3, "crop": [16, 16, 8]}, "latent_copies": 2,
        "conditions": ["ABS_f_D", "CT_f_D_tort1"], "fp_targets": ["ABS_f_D", "phi"], "log_every": 3})
    tr = Trainer(VolumeSet(vols, labels), cfg, tmp_path, progress=False)
    tr.train_vae()
    mu, _, _ = tr.latents()
    assert mu.shape[0] == 2 * n
    table = tr.latent_labels(["ABS_f_D", "phi"])
    vae = tr.build_vae()
    tr._load_weights("vae", vae)
    with torch.no_grad():
        decoded = vae.labels(vae.decode(mu))
    expect = label_volumes(decoded, 2)["ABS_f_D"]
    np.testing.assert_allclose(table[:, 0], expect)
    np.testing.assert_allclose(table[:, 1], np.repeat(labels["phi"], 2))  # the recipe stays the sample's
    # copy 0 of each sample is the sample itself
    with torch.no_grad():
        mu0, _ = vae.encode(vae.to_input(vols))
    assert torch.allclose(mu[::2], mu0, atol=1e-5)


def test_a_trained_periodic_model_samples_with_and_without_descriptor_guidance(tmp_path):
    import generators
    from generators.diffusion.training import train

    g = torch.Generator().manual_seed(3)
    n = 6
    field = torch.nn.functional.avg_pool3d(torch.rand(n, 1, 16, 16, 8, generator=g), 3, 1, 1)[:, 0]
    vols = (field > torch.linspace(0.45, 0.55, n).view(n, 1, 1, 1)).to(torch.uint8)
    labels = {"ABS_f_D": vols.float().mean((1, 2, 3)).double().numpy(), "phi": np.linspace(0.3, 0.7, n)}
    cfg = _merge(get_preset("ch2-default"), {
        "vae": {"patch": 2, "widths": [4, 8], "latent_channels": 2, "head": 8},
        "fp": {"width": 4, "hidden": 8}, "denoiser": {"channels": [8]},
        "vae_train": {"steps": 2, "crop": [16, 16, 8]}, "fp_train": {"steps": 2}, "denoiser_train": {"steps": 2},
        "latent_copies": 1, "decoded_labels": False, "conditions": ["ABS_f_D"], "fp_targets": ["ABS_f_D", "phi"],
        "log_every": 2, "sampler": {"name": "ddim", "steps": 4, "eta": 1.0, "guidance": 1.0}})
    train("all", VolumeSet(vols, labels), cfg, tmp_path, progress=False)
    gen = generators.load(tmp_path)
    assert gen.config.family == "periodic"
    plain = gen.sample([[0.5]], n=2, seed=0)
    same = gen.sample([[0.5]], n=2, seed=0, fp_guidance=0.0)
    guided = gen.sample([[0.5]], n=2, seed=0, fp_guidance=1.0)
    assert torch.equal(plain.latents, same.latents)
    assert not torch.allclose(plain.latents, guided.latents)
    assert plain.volumes.shape == (2, 16, 16, 8)
