"""Training of the compact family, in the paper's order: VAE on crops, then the feature predictor
(FP) on frozen latents of full volumes, then the conditional denoiser; then the model directory.

Output directory ``out``::

    train_config.json            the config used
    data_stats.json              shape, phases, condition and FP target statistics
    checkpoints/<stage>.safetensors, <stage>_optim.pt, <stage>_state.json (step, loss history)
    checkpoints/latents.safetensors  cached VAE posteriors of the data (mu, logvar)
    config.json, vae/fp/denoiser.safetensors   the model directory (after the denoiser stage)

Every stage checkpoints every ``checkpoint_every`` steps; ``resume=True`` continues from the last
checkpoint. On CUDA the forward passes run under bf16 autocast.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from generators.cahn_hilliard.generator import simulator_spec
from generators.diffusion.compact import EMA, eps_from_output
from generators.diffusion.config import ModelConfig, Stats
from generators.diffusion.data import VolumeSet, random_crops
from generators.diffusion.latent_model import CompactLatentModel, build_networks, vae_factor
from generators.diffusion.periodic import symmetry_copy
from generators.diffusion.model_dir import save_model
from generators.diffusion.presets import THREE_PHASE_CONDITIONS, TWO_PHASE_CONDITIONS
from generators.diffusion.schedule import linear_schedule
from generators.protocol import RECIPE_NAMES

STAGES = ("vae", "fp", "denoiser")
RECIPE = RECIPE_NAMES


def _stats(names: list[str], table: np.ndarray) -> Stats:
    return Stats(names=list(names), min=table.min(0).tolist(), max=table.max(0).tolist(),
                 mean=table.mean(0).tolist(), std=table.std(0).tolist())


def balance_weights(conditions: np.ndarray, power: float, k: int = 8, cap: float = 10.0) -> np.ndarray:
    """Sampling weights that even out the density of training rows in condition space.

    ``conditions`` ``(n, d)`` are standardised rows. A row's local density is read from the
    distance ``r`` to its ``k``-th nearest neighbour (density ~ ``r^-d``); its weight is
    ``r^(d * power)`` (``power`` 0: uniform, 1: every region of the space drawn about equally
    often), clipped to ``[median / cap, cap * median]`` so that a few isolated rows cannot take
    over the batches and repeated rows are still drawn. Returns probabilities summing to 1.
    """
    c = np.asarray(conditions, dtype=np.float64)
    if not 0.0 <= power <= 1.0:
        raise ValueError(f"denoiser_train balance must lie in [0, 1], got {power}")
    n, d = c.shape
    if power == 0.0 or n < 2:
        return np.full(n, 1.0 / max(n, 1))
    from scipy.spatial import cKDTree

    k = min(k, n - 1)
    r = cKDTree(c).query(c, k=k + 1)[0][:, k]  # the first neighbour is the row itself
    w = np.maximum(r, 1e-12) ** (d * power)
    med = np.median(w)
    w = np.clip(w, med / cap, cap * med)
    return w / w.sum()


class Trainer:
    """Trains the three networks of a compact model on a :class:`VolumeSet`.

    Parameters
    ----------
    data : VolumeSet
        All samples; split into train/validation by ``config["val_fraction"]`` and ``seed``.
    config : dict
        A training config (:func:`generators.diffusion.presets.load_train_config`).
    out : path
        Output directory (created).
    device : str
        ``cpu`` or ``cuda``.
    progress : bool
        Show tqdm progress bars.
    """

    def __init__(self, data: VolumeSet, config: dict[str, Any], out: str | Path,
                 device: str | torch.device = "cpu", progress: bool = True):
        self.cfg, self.device, self.progress = config, torch.device(device), progress
        self.out = Path(out)
        self.ckpt = self.out / "checkpoints"
        self.ckpt.mkdir(parents=True, exist_ok=True)
        self.data = data
        self.train_set, self.val_set = data.split(config["val_fraction"], config["seed"])
        self.phases = data.phases
        self.shape = list(data.volumes.shape[1:])
        self.family = config.get("family", "compact")
        self.vae_factor = vae_factor(self.family, config["vae"])
        if any(s % self.vae_factor for s in self.shape):
            raise ValueError(f"volume shape {self.shape} not divisible by the VAE factor {self.vae_factor}")
        self.latent_shape = [config["vae"]["latent_channels"], *[s // self.vae_factor for s in self.shape]]
        den_factor = 2 ** (len(config["denoiser"]["channels"]) - 1)
        if any(s % den_factor for s in self.latent_shape[1:]):
            raise ValueError(f"latent {self.latent_shape} not divisible by the denoiser factor {den_factor}")
        self.condition_names = self._condition_names()
        self.target_names = self._target_names()
        (self.out / "train_config.json").write_text(json.dumps(config, indent=2))
        self.cond_stats = _stats(self.condition_names, data.table(self.condition_names))
        self.target_stats = _stats(self.target_names, data.table(self.target_names))
        (self.out / "data_stats.json").write_text(json.dumps({
            "shape": self.shape, "phases": self.phases, "n_train": len(self.train_set), "n_val": len(self.val_set),
            "conditions": self.cond_stats.__dict__, "fp_outputs": self.target_stats.__dict__}, indent=2))

    # ---------------------------------------------------------------- names
    def _condition_names(self) -> list[str]:
        names = self.cfg.get("conditions")
        if names is None:
            default = THREE_PHASE_CONDITIONS if self.phases == 3 else TWO_PHASE_CONDITIONS
            names = default if all(k in self.data.labels for k in default) else None
        if not names:
            raise ValueError(f"name the conditions in the training config; data labels: {sorted(self.data.labels)}")
        missing = [k for k in names if k not in self.data.labels]
        if missing:
            raise ValueError(f"conditions {missing} are not labels of the data (have {sorted(self.data.labels)})")
        flat = [k for k in names if np.std(self.data.labels[k]) == 0]
        if flat:
            raise ValueError(f"conditions {flat} are constant in the data")
        return list(names)

    def _target_names(self) -> list[str]:
        names = self.cfg.get("fp_targets")
        if names is None:
            names = [k for k in sorted(self.data.labels) if k not in RECIPE and np.std(self.data.labels[k]) > 0]
            names += [k for k in RECIPE if k in self.data.labels]
        self.data.table(names)  # raises on a missing name
        return list(names)

    # ---------------------------------------------------------------- helpers
    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _paths(self, stage: str) -> dict[str, Path]:
        return {k: self.ckpt / f"{stage}{s}" for k, s in
                (("weights", ".safetensors"), ("optim", "_optim.pt"), ("state", "_state.json"), ("ema", "_ema.safetensors"))}

    def _load_weights(self, stage: str, module: torch.nn.Module, ema: bool = False) -> None:
        p = self._paths(stage)["ema" if ema else "weights"]
        if not p.is_file():
            raise ValueError(f"stage {stage!r} has no checkpoint in {self.ckpt}; train it first")
        module.load_state_dict(load_file(str(p), device=str(self.device)))

    def _build(self, part: int) -> torch.nn.Module:
        arch = {k: self.cfg[k] for k in ("vae", "fp", "denoiser")}
        nets = build_networks(self.family, self.phases, arch, self.latent_shape, len(self.condition_names),
                              len(self.target_names))
        return nets[part].to(self.device)

    def build_vae(self) -> torch.nn.Module:
        return self._build(0)

    def build_fp(self) -> torch.nn.Module:
        return self._build(1)

    def build_denoiser(self) -> torch.nn.Module:
        return self._build(2)

    def _loop(self, stage: str, module: torch.nn.Module, step_fn, val_fn, tcfg: dict, steps: int | None,
              resume: bool, ema: EMA | None = None) -> dict[str, Any]:
        """The generic loop: AdamW, warmup + cosine LR, validation, checkpoints, resume."""
        total = int(steps if steps is not None else tcfg["steps"])
        if total < 1:
            raise ValueError(f"steps must be >= 1, got {total}")
        paths = self._paths(stage)
        opt = torch.optim.AdamW(module.parameters(), lr=tcfg["lr"], weight_decay=1e-4)
        state: dict[str, Any] = {"step": 0, "history": [], "seconds": 0.0}
        if resume and paths["state"].is_file():
            state = json.loads(paths["state"].read_text())
            self._load_weights(stage, module)
            opt.load_state_dict(torch.load(paths["optim"], map_location=self.device, weights_only=True))
            if ema is not None and paths["ema"].is_file():
                ema.module.load_state_dict(load_file(str(paths["ema"]), device=str(self.device)))
                ema.updates = int(state["step"])
        warm = max(1, min(100, total // 10))

        def lr_at(s: int) -> float:
            if s < warm:
                return (s + 1) / warm
            return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, total - warm))))

        gen = torch.Generator().manual_seed(self.cfg["seed"] * 1000 + state["step"])
        t0, running = time.time(), []
        bar = tqdm(range(state["step"], total), desc=stage, disable=not self.progress, leave=False)

        def save() -> None:
            save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(paths["weights"]))
            if ema is not None:
                save_file({k: v.detach().cpu().contiguous() for k, v in ema.module.state_dict().items()}, str(paths["ema"]))
            torch.save(opt.state_dict(), paths["optim"])
            paths["state"].write_text(json.dumps(state, indent=1))

        for s in bar:
            module.train()
            for g in opt.param_groups:
                g["lr"] = tcfg["lr"] * lr_at(s)
            with self._autocast():
                loss = step_fn(gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            if ema is not None:
                ema.update(module)
            running.append(loss.item())
            state["step"] = s + 1
            if (s + 1) % self.cfg["log_every"] == 0 or s + 1 == total:
                module.eval()
                with torch.no_grad(), self._autocast():
                    val = float(val_fn(ema.module if ema is not None else module))
                state["history"].append({"step": s + 1, "train": float(np.mean(running)), "val": val})
                running = []
                bar.set_postfix(train=f"{state['history'][-1]['train']:.4g}", val=f"{val:.4g}")
            if (s + 1) % self.cfg["checkpoint_every"] == 0 or s + 1 == total:
                state["seconds"] = state.get("seconds", 0.0) + time.time() - t0
                t0 = time.time()
                save()
        bar.close()
        if not paths["state"].is_file():  # nothing left to do on resume: keep the files consistent
            save()
        module.eval()
        return state

    # ---------------------------------------------------------------- stages
    def train_vae(self, steps: int | None = None, resume: bool = False) -> dict[str, Any]:
        """VAE on random crops: reconstruction + ``kl_weight`` * KL."""
        t = self.cfg["vae_train"]
        torch.manual_seed(self.cfg["seed"])  # module init, dropout, VAE noise: reproducible runs
        crop = tuple(min(c, s) for c, s in zip(t["crop"], self.shape))
        if any(c % self.vae_factor for c in crop):
            raise ValueError(f"VAE crop {crop} not divisible by the VAE factor {self.vae_factor}")
        vae = self.build_vae()
        vols = self.train_set.volumes
        val_crops = random_crops(self.val_set.volumes, crop, max(t["batch"], 8), torch.Generator().manual_seed(123))

        def step(gen):
            if t.get("augment"):  # whole periodic volumes under random symmetries
                idx = torch.randint(0, vols.shape[0], (t["batch"],), generator=gen)
                batch = symmetry_copy(vols[idx], gen).to(self.device)
            else:
                batch = random_crops(vols, crop, t["batch"], gen).to(self.device)
            return vae.loss(batch, t["kl_weight"], generator=None)[0]

        def val(m):
            return m.loss(val_crops.to(self.device), t["kl_weight"], generator=torch.Generator(device=self.device).manual_seed(0))[0]

        state = self._loop("vae", vae, step, val, t, steps, resume)
        (self.ckpt / "latents.safetensors").unlink(missing_ok=True)  # stale once the VAE changed
        return state

    @torch.no_grad()
    def latents(self) -> tuple[torch.Tensor, torch.Tensor, float]:
        """``(mu, logvar)`` of every latent and the latent scale 1 / std(mu).

        Latent ``j`` encodes symmetry copy ``j % K`` of sample ``j // K`` (``K`` =
        ``latent_copies``, copy 0 the sample itself). With ``decoded_labels`` every latent is also
        decoded and described (:meth:`latent_labels`): its descriptors are those of the volume the
        generator really outputs for it.
        """
        f = self.ckpt / "latents.safetensors"
        if f.is_file():
            d = load_file(str(f), device=str(self.device))
            return d["mu"], d["logvar"], float(d["scale"])
        vae = self.build_vae()
        self._load_weights("vae", vae)
        vae.eval()
        copies = int(self.cfg.get("latent_copies", 1))
        gen = torch.Generator().manual_seed(self.cfg["seed"] + 17)
        mus, lvs, decoded = [], [], []
        names = self._decoded_names()
        chunk = 4
        bar = tqdm(total=len(self.data) * copies, desc="encode", disable=not self.progress, leave=False)
        for s in range(0, len(self.data), chunk):
            vols = self.data.volumes[s:s + chunk]
            rep = vols.repeat_interleave(copies, 0)
            for k in range(rep.shape[0]):
                if k % copies:
                    rep[k] = symmetry_copy(rep[k:k + 1], gen)[0]
            with self._autocast():
                mu, lv = vae.encode(vae.to_input(rep.to(self.device)))
            mus.append(mu.float())
            lvs.append(lv.float())
            if names:
                out = vae.labels(vae.decode(mu))
                lab = self._describe(out)
                decoded.append(torch.as_tensor(np.stack([lab[n] for n in names], 1)))
            bar.update(rep.shape[0])
        bar.close()
        mu, lv = torch.cat(mus), torch.cat(lvs)
        scale = 1.0 / float(mu.std().clamp_min(1e-6))
        tensors = {"mu": mu.cpu().contiguous(), "logvar": lv.cpu().contiguous(), "scale": torch.tensor(scale)}
        if names:
            tensors["decoded"] = torch.cat(decoded).double().contiguous()
        save_file(tensors, str(f), metadata={"decoded_names": json.dumps(names), "copies": str(copies)})
        return mu, lv, scale

    def _decoded_names(self) -> list[str]:
        """Descriptor names (conditions and FP targets, not the recipe) labelled on decoded volumes."""
        if not self.cfg.get("decoded_labels"):
            return []
        return [n for n in dict.fromkeys(self.condition_names + self.target_names) if n not in RECIPE]

    def _describe(self, volumes: torch.Tensor) -> dict[str, np.ndarray]:
        from generators.cahn_hilliard.attributes import label_volumes

        return label_volumes(volumes.cpu(), self.phases)

    def latent_labels(self, names: list[str]) -> np.ndarray:
        """Labels ``(N * K, len(names))`` of every latent: decoded-volume descriptors where
        ``decoded_labels`` is on, else (and for the recipe) the labels of the sample it encodes."""
        from safetensors import safe_open

        self.latents()
        with safe_open(str(self.ckpt / "latents.safetensors"), "pt") as fh:
            meta = fh.metadata() or {}
            decoded_names = json.loads(meta.get("decoded_names", "[]"))
            copies = int(meta.get("copies", "1"))
            decoded = fh.get_tensor("decoded").numpy() if decoded_names else None
        base = np.repeat(self.data.table(names), copies, axis=0)
        for j, n in enumerate(names):
            if n in decoded_names:
                base[:, j] = decoded[:, decoded_names.index(n)]
        return base

    def _split_latents(self):
        """Train/validation latents split by sample (every copy of a validation sample is validation)."""
        mu, lv, scale = self.latents()
        copies = mu.shape[0] // len(self.data)
        perm = np.random.default_rng(self.cfg["seed"]).permutation(len(self.data))
        k = len(self.val_set)

        def rows(samples):
            return (samples[:, None] * copies + np.arange(copies)[None]).reshape(-1)

        itr, iva = rows(perm[k:]), rows(perm[:k])
        tr, va = torch.as_tensor(itr), torch.as_tensor(iva)
        return (mu[tr], lv[tr]), (mu[va], lv[va]), scale, itr, iva

    def effective_stats(self) -> tuple[Stats, Stats]:
        """Condition and FP-target statistics of the labels the networks are trained on."""
        if not self._decoded_names():
            return self.cond_stats, self.target_stats
        return (_stats(self.condition_names, self.latent_labels(self.condition_names)),
                _stats(self.target_names, self.latent_labels(self.target_names)))

    def train_fp(self, steps: int | None = None, resume: bool = False) -> dict[str, Any]:
        """FP on reparameterised latents (scaled) of full volumes -> standardised targets (MSE)."""
        t = self.cfg["fp_train"]
        torch.manual_seed(self.cfg["seed"])  # module init, dropout, VAE noise: reproducible runs
        (mu, lv), (vmu, _), scale, itr, iva = self._split_latents()
        y_all = torch.as_tensor(self.latent_labels(self.target_names), dtype=torch.float32)
        _, target_stats = self.effective_stats()
        y_mean = torch.tensor(target_stats.mean, dtype=torch.float32)
        y_std = torch.tensor(target_stats.std, dtype=torch.float32).clamp_min(1e-8)
        ytr = ((y_all[itr] - y_mean) / y_std).to(self.device)
        yva = ((y_all[iva] - y_mean) / y_std).to(self.device)
        fp = self.build_fp()
        extra = self.generated_latents()
        k_gen = 0
        if extra is not None:
            gz, gy, gmask = extra
            gy = ((gy - y_mean) / y_std).nan_to_num(0.0).to(self.device)
            k_gen = int(round(t["batch"] * self._generated_fraction()))
        n_enc = min(t["batch"], mu.shape[0]) if k_gen == 0 else max(t["batch"] - k_gen, 1)

        def step(gen):
            i = torch.randint(0, mu.shape[0], (n_enc,), generator=gen).to(self.device)
            z = mu[i] + torch.randn(mu[i].shape, generator=gen).to(self.device) * (0.5 * lv[i]).exp()
            if k_gen == 0:
                return F.mse_loss(fp(z * scale).float(), ytr[i])
            # part of the batch: sampled latents, scored on the descriptors measured on their decoded volumes
            j = torch.randint(0, gz.shape[0], (k_gen,), generator=gen).to(self.device)
            out = fp(torch.cat([z * scale, gz[j]]).float()).float()
            err = (out - torch.cat([ytr[i], gy[j]])) ** 2
            w = torch.cat([torch.ones(n_enc, err.shape[1], device=self.device), gmask[j]])
            return (err * w).sum() / w.sum()

        def val(m):
            return F.mse_loss(m(vmu * scale).float(), yva)

        return self._loop("fp", fp, step, val, t, steps, resume)

    def generated_latents(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Sampled latents with the descriptors measured on their decoded volumes (config
        ``fp_generated``: ``{"files": [...], "fraction": share of each FP batch}``), or None.

        Each file (safetensors, from :func:`generators.diffusion.selflabel.generate`) holds ``z``
        (diffusion-space latents, what the FP reads) and ``measured`` (columns named by its
        ``names`` metadata). Returns ``(z, y, mask)``: ``y`` in the FP's target columns, ``mask``
        1 where a column was measured (the recipe never is: a sampled latent has no simulation).
        """
        spec = self.cfg.get("fp_generated")
        if not spec or not spec.get("files"):
            return None
        from safetensors import safe_open

        self._generated_fraction()  # a bad setting fails before any file is read
        zs, ys, ms = [], [], []
        for f in spec["files"]:
            if not Path(f).is_file():
                raise ValueError(f"fp_generated: no file {f} (make it with generators.diffusion.selflabel.generate)")
            with safe_open(str(f), "pt") as fh:
                names = (fh.metadata() or {}).get("names", "").split(",")
                z, meas = fh.get_tensor("z").float(), fh.get_tensor("measured").float()
            if list(z.shape[1:]) != self.latent_shape:
                raise ValueError(f"{f}: latents of shape {list(z.shape[1:])}, this model's are {self.latent_shape}")
            y = torch.full((z.shape[0], len(self.target_names)), float("nan"))
            m = torch.zeros_like(y)
            for c, n in enumerate(self.target_names):
                if n in names:
                    y[:, c], m[:, c] = meas[:, names.index(n)], 1.0
            zs.append(z), ys.append(y), ms.append(m)
        return torch.cat(zs).to(self.device), torch.cat(ys), torch.cat(ms).to(self.device)

    def _generated_fraction(self) -> float:
        """``fp_generated["fraction"]`` (default 0.5), checked to lie in [0, 1]."""
        fraction = float((self.cfg.get("fp_generated") or {}).get("fraction", 0.5))
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fp_generated fraction must lie in [0, 1], got {fraction}")
        return fraction

    def train_denoiser(self, steps: int | None = None, resume: bool = False) -> dict[str, Any]:
        """Epsilon-prediction MSE on scaled latents, ``i ~ U{1..T-1}``, condition dropout for CFG."""
        t = self.cfg["denoiser_train"]
        torch.manual_seed(self.cfg["seed"])  # module init, dropout, VAE noise: reproducible runs
        (mu, lv), (vmu, vlv), scale, itr, iva = self._split_latents()
        c_all = torch.as_tensor(self.latent_labels(self.condition_names), dtype=torch.float32)
        cond_stats, _ = self.effective_stats()
        c_mean = torch.tensor(cond_stats.mean)
        c_std = torch.tensor(cond_stats.std).clamp_min(1e-8)
        ctr = ((c_all[itr] - c_mean) / c_std).to(self.device)
        cva = ((c_all[iva] - c_mean) / c_std).to(self.device)
        sched = linear_schedule()
        ab = sched.alphabar.float().to(self.device)
        den = self.build_denoiser()
        ema = EMA(den, t["ema"])
        v_pred = getattr(den, "prediction", "eps") == "v"
        # min-SNR-gamma weighting (Hang et al. 2023): min(SNR, gamma) / SNR for eps, / (SNR + 1) for v
        snr = ab / (1 - ab).clamp_min(1e-12)
        gamma = t.get("min_snr")
        weight = (snr.clamp(max=float(gamma)) / (snr + 1 if v_pred else snr)) if gamma else torch.ones_like(snr)

        def target(x0, i, noise):
            if not v_pred:
                return noise
            a = ab[i].view(-1, 1, 1, 1, 1)
            return a.sqrt() * noise - (1 - a).sqrt() * x0

        def noisy(x0, i, noise):
            a = ab[i].sqrt().view(-1, 1, 1, 1, 1)
            return a * x0 + (1 - ab[i]).sqrt().view(-1, 1, 1, 1, 1) * noise

        # rows drawn evenly over condition space (``balance`` > 0) or uniformly (the default)
        balance = float(t.get("balance", 0.0))
        probs = torch.as_tensor(balance_weights(ctr.cpu().numpy(), balance)) if balance else None

        def step(gen):
            b = min(t["batch"], mu.shape[0]) if mu.shape[0] < t["batch"] else t["batch"]
            if probs is None:
                j = torch.randint(0, mu.shape[0], (b,), generator=gen).to(self.device)
            else:
                j = torch.multinomial(probs, b, replacement=True, generator=gen).to(self.device)
            x0 = (mu[j] + torch.randn(mu[j].shape, generator=gen).to(self.device) * (0.5 * lv[j]).exp()) * scale
            i = torch.randint(1, sched.T, (b,), generator=gen).to(self.device)
            noise = torch.randn(x0.shape, generator=gen).to(self.device)
            ctx = ctr[j].clone()
            drop = (torch.rand(b, generator=gen) < t["cond_dropout"]).to(self.device)
            ctx[drop] = float("nan")
            err = (den(noisy(x0, i, noise), i.float() / sched.T, ctx).float() - target(x0, i, noise)).pow(2)
            return (err.mean(dim=(1, 2, 3, 4)) * weight[i]).mean()

        vgen = torch.Generator().manual_seed(7)
        reps = max(1, 64 // max(1, vmu.shape[0]))
        vx0 = (vmu * scale).repeat(reps, 1, 1, 1, 1)
        vi = torch.randint(1, sched.T, (vx0.shape[0],), generator=vgen).to(self.device)
        vnoise = torch.randn(vx0.shape, generator=vgen).to(self.device)
        vctx = cva.repeat(reps, 1)

        vxt = noisy(vx0, vi, vnoise)

        def val(m):  # always the epsilon error, whatever the network predicts
            out = m(vxt, vi.float() / sched.T, vctx).float()
            return F.mse_loss(eps_from_output(out, vxt, ab[vi], getattr(m, "prediction", "eps")), vnoise)

        return self._loop("denoiser", den, step, val, t, steps, resume, ema=ema)

    # ---------------------------------------------------------------- assembly
    def model_config(self) -> ModelConfig:
        _, _, scale = self.latents()
        cond_stats, target_stats = self.effective_stats()
        summary = {}
        for stage in STAGES:
            p = self._paths(stage)["state"]
            if p.is_file():
                st = json.loads(p.read_text())
                last = st["history"][-1] if st["history"] else {}
                summary[stage] = {"steps": st["step"], "seconds": round(st.get("seconds", 0.0), 1),
                                  "train_loss": last.get("train"), "val_loss": last.get("val")}
        summary.update({"n_train": len(self.train_set), "n_val": len(self.val_set), "device": str(self.device)})
        return ModelConfig(
            family=self.family, phases=self.phases, shape=self.shape, latent_shape=self.latent_shape,
            architecture={"vae": dict(self.cfg["vae"]), "fp": dict(self.cfg["fp"]), "denoiser": dict(self.cfg["denoiser"])},
            conditions=cond_stats, fp_outputs=target_stats, latent_scale=scale,
            sampler=dict(self.cfg["sampler"]), training=summary, simulator=simulator_spec(self.shape))

    def export(self) -> Path:
        """Write the model directory (``config.json`` + safetensors, EMA denoiser) into ``out``."""
        model = CompactLatentModel(self.model_config()).to(self.device)
        self._load_weights("vae", model.vae)
        self._load_weights("fp", model.fp)
        ema = self._paths("denoiser")["ema"]
        self._load_weights("denoiser", model.denoiser, ema=ema.is_file())
        return save_model(self.out, model)


def train(stage: str, data: VolumeSet, config: dict[str, Any], out: str | Path, device: str = "cpu",
          steps: int | None = None, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run ``stage`` (``vae``, ``fp``, ``denoiser`` or ``all``); export the model directory after
    the denoiser. Returns ``{stage: final state}`` plus ``"model_dir"`` when exported."""
    if stage not in (*STAGES, "all"):
        raise ValueError(f"unknown stage {stage!r}; choose vae, fp, denoiser or all")
    tr = Trainer(data, config, out, device, progress)
    result: dict[str, Any] = {}
    for s in STAGES if stage == "all" else (stage,):
        st = getattr(tr, f"train_{s}")(steps=steps, resume=resume)
        result[s] = {"steps": st["step"], "history": st["history"]}
    if stage in ("denoiser", "all"):
        result["model_dir"] = str(tr.export())
    return result
