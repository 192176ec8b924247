"""Save a trained model's encoded training latents with their labels, small enough to commit.

Writes ``<out>/<name>_latents.safetensors``: ``mu`` (float16, copy 0 of every training volume: the
volume itself, not its symmetry copies), ``labels`` (float64, the labels the FP and the denoiser
were trained on: descriptors of the decoded volume, the simulation's recipe) and ``series``/``time``
of each volume; metadata: the label names, the latent scale and the model it belongs to. The next
session can retrain the FP and the denoiser from it without re-simulating (rolls of the latent by
whole cells are exact symmetries of the periodic VAE).

    python -m scripts.default_models.export_latents ch2 --out artifacts/latents
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from scripts.build_default_models import FP_TARGETS, MODELS, model_dir, shards


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("--out", default="artifacts/latents")
    a = ap.parse_args()
    from generators.diffusion.data import load_shards
    from generators.diffusion.presets import load_train_config
    from generators.diffusion.training import Trainer

    name, phases = MODELS[a.model]
    d = model_dir(a.model)
    cfg = load_train_config(d.parent / f"{name}.train.json", name)
    data = load_shards(shards("train", phases))
    tr = Trainer(data, cfg, d, progress=False)
    mu, _, scale = tr.latents()
    copies = mu.shape[0] // len(data)
    names = list(dict.fromkeys(tr.condition_names + list(FP_TARGETS[a.model])))
    labels = tr.latent_labels(names)[::copies]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    dest = out / f"{name}_latents.safetensors"
    save_file({"mu": mu[::copies].half().contiguous(), "labels": torch.from_numpy(np.ascontiguousarray(labels)),
               "series": torch.as_tensor(data.labels["series"]), "time": torch.as_tensor(data.labels["time"])},
              str(dest), metadata={"label_names": json.dumps(names), "latent_scale": str(scale), "model": name,
                                   "conditions": json.dumps(tr.condition_names)})
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
