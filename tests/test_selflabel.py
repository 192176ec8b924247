"""Self-labelled latents: the generator's samples, decoded and measured, mixed into FP training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import generators
from generators.cahn_hilliard.attributes import label_volumes
from generators.diffusion.selflabel import generate
from generators.diffusion.training import Trainer
from tests.tiny_model import tiny_config as _config
from tests.tiny_model import tiny_data as _data
from tests.tiny_model import train_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("tiny"))


def test_generated_latents_carry_the_descriptors_of_their_decoded_volumes(tiny, tmp_path):
    gen = generators.load(tiny)
    f = tmp_path / "gen.safetensors"
    d = generate(gen, np.array([[0.4], [0.6]]), f, n=16, seed=1, batch=8, log=lambda s: None)
    assert d["z"].shape == (16, *gen.latent_shape)
    with safe_open(str(f), "pt") as fh:
        names = fh.metadata()["names"].split(",")
        assert fh.metadata()["conditions"] == "ABS_f_D"
        z, measured = fh.get_tensor("z"), fh.get_tensor("measured")
    expect = label_volumes(gen.decode(z), 2)
    assert {"ABS_f_D", "CT_f_D_tort1", "CT_f_A_tort1"} <= set(names)  # every descriptor, not only the conditions
    for j, name in enumerate(names):
        np.testing.assert_allclose(measured[:, j].numpy(), np.asarray(expect[name]), atol=1e-12)
    # both guidance settings occur, batch by batch
    assert set(d["fpg"].tolist()) == {0.0, 1.0}


def _fp_on(tiny, tmp_path, files, fraction: float, steps: int = 60) -> torch.Tensor:
    """Train the tiny model's FP from scratch (same seed) with ``files`` mixed in; its ABS_f_D
    output (raw units) on the generated latents."""
    out = tmp_path / f"fp_{fraction}"
    (out / "checkpoints").mkdir(parents=True)
    for name in ("vae.safetensors", "vae_state.json"):
        (out / "checkpoints" / name).write_bytes((tiny / "checkpoints" / name).read_bytes())
    cfg = _config(fp_train={"steps": steps, "batch": 8, "lr": 1e-2},
                  fp_generated={"files": [str(f) for f in files], "fraction": fraction})
    tr = Trainer(_data(), cfg, out, progress=False)
    torch.manual_seed(0)
    tr.train_fp()
    fp = tr.build_fp()
    tr._load_weights("fp", fp)
    _, stats = tr.effective_stats()
    z, _, _ = tr.generated_latents()
    with torch.no_grad():
        return fp(z)[:, 0] * float(stats.std[0]) + float(stats.mean[0])


def test_fp_training_learns_the_generated_labels(tiny, tmp_path):
    gen = generators.load(tiny)
    z, _ = gen.sample_latents([[0.5]], n=8, seed=0)
    f = tmp_path / "far.safetensors"
    # labels far from any encoder latent's: only the mixed-in batches can teach them
    save_file({"z": z.half().contiguous(), "measured": torch.full((8, 1), 0.95, dtype=torch.float64)},
              str(f), metadata={"names": "ABS_f_D"})
    without = _fp_on(tiny, tmp_path, [f], fraction=0.0)
    mixed = _fp_on(tiny, tmp_path, [f], fraction=0.5)
    assert torch.isfinite(mixed).all()  # the recipe column (phi) is not measured: masked, not NaN
    assert (mixed - 0.95).abs().mean() < 0.5 * (without - 0.95).abs().mean()


def test_bad_generated_latent_settings_are_refused(tiny, tmp_path):
    f = tmp_path / "bad.safetensors"
    save_file({"z": torch.zeros(2, 3, 3, 3, 3), "measured": torch.zeros(2, 1, dtype=torch.float64)}, str(f),
              metadata={"names": "ABS_f_D"})
    tr = Trainer(_data(), _config(fp_generated={"files": [str(f)]}), tmp_path / "t", progress=False)
    with pytest.raises(ValueError, match="latents of shape"):
        tr.generated_latents()
    tr = Trainer(_data(), _config(fp_generated={"files": [str(tmp_path / "none.safetensors")]}), tmp_path / "u",
                 progress=False)
    with pytest.raises(ValueError, match="no file"):
        tr.generated_latents()
    tr = Trainer(_data(), _config(fp_generated={"files": [str(f)], "fraction": 1.5}), tmp_path / "v", progress=False)
    with pytest.raises(ValueError, match="fraction"):
        tr.generated_latents()
