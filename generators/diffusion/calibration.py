"""Condition calibration: feed the denoiser the condition that makes the requested descriptors.

A denoiser that underfits part of its condition space answers a request ``c`` with samples whose
measured descriptors miss ``c`` in a consistent direction (``ch3-default`` near percolation:
``tortuosity_D`` asked 0.43, measured 0.22 on average; asked 0.95, measured 0.50). The miss is a
smooth function of the condition fed, so it can be undone:

1. sample the model with its default sampler at conditions spread around its training labels
   (:func:`generators.diffusion.selflabel.generate` with a wide ``jitter``), decode and measure;
2. fit the *forward* map ``h(fed) = E[measured | fed]`` on those pairs (:meth:`ConditionCalibration.fit`:
   the identity plus a Gaussian-process residual in standardised units, which falls back to the
   identity away from the pairs);
   A second set of GPs maps ``fed`` to the per-sample variance ``v(fed)`` around that mean (the
   squared residuals of the pairs): where the denoiser answers erratically (near percolation a
   high ``tortuosity_D`` request sometimes comes back as a half-donor volume) the mean alone would
   look fine;
3. at sampling time choose ``fed`` inside the box the pairs covered to minimise the expected
   squared miss of one sample, ``|h(fed) - c|^2 + v(fed)`` (standardised units), with a small pull
   towards ``c`` so that directions ``h`` ignores stay put (:meth:`ConditionCalibration.invert`:
   Gauss-Newton steps with backtracking), and feed ``fed`` to the sampler;
4. only where the pairs show the model can make ``c``: the correction is scaled down as ``c`` gets
   farther from every measured outcome of the pairs (fully applied within the 90th percentile of
   the outcomes' nearest-neighbour distance, not at all beyond twice that). A smooth GP extrapolates
   confidently into corners no pair reached (``ch3-default``'s held-out series 0, ``vol_frac_M``
   0.12-0.14 at ``vol_frac_D`` < 0.16: fed there, the samples jumped to half donor).

A model directory that holds ``calibration.safetensors`` is calibrated by default
(:meth:`LatentDiffusionGenerator.sample` ``calibrate=None``); ``calibrate=False`` samples the raw
conditional. The calibration belongs to the sampler it was fitted with (the model's default);
other sampler settings get it too, as an approximation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

__all__ = ["ConditionCalibration", "FILENAME"]

#: the calibration's file in a model directory
FILENAME = "calibration.safetensors"


class ConditionCalibration(torch.nn.Module):
    """Forward map ``fed -> E[measured]``, the per-sample variance, and the inverse.

    In standardised units ``u`` the model has ``2 d`` Gaussian-process heads on the same points
    (squared-exponential kernels with one length scale per input, fitted by marginal likelihood in
    :meth:`fit`): heads ``0 .. d-1`` the residual ``r`` of the mean, ``h(u) = u + r(u)``; heads
    ``d .. 2d-1`` the variance ``v(u)`` of one sample around it. Far from the fitting pairs ``r``
    falls back to 0 (no calibration where nothing was measured) and ``v`` to the pairs' average.

    Parameters
    ----------
    names : sequence of str
        The model's condition names, in order.
    mean, std : array-like ``(d,)``
        Standardisation of the conditions (of the fitting pairs' fed conditions).
    lo, hi : array-like ``(d,)``
        The box of fed conditions the fitting pairs covered: inversion stays inside it.
    points : array-like ``(n, d)``
        The fitting pairs' fed conditions, standardised.
    alpha : array-like ``(n, 2 d)``
        Per head, the GP weights ``(K + noise I)^-1 (y - offset)`` of the points.
    lengthscale : array-like ``(2 d, d)``
        Per head, the kernel's length scale along each input.
    outputscale, offset, noise : array-like ``(2 d,)``
        Per head, the kernel's signal variance, the constant prior mean and the noise variance.
    outcomes : array-like ``(k, d)``
        The pairs' measured descriptors, standardised: where the model is known to reach.
    support : array-like ``(2,)``
        Distances (standardised) from a target to the nearest outcome within which the correction
        is fully applied, and beyond which it is not applied.
    free : array-like ``(d,)``, optional
        1 for the conditions the inversion may change, 0 for those fed as asked (default all 1).
    """

    def __init__(self, names: Sequence[str], mean, std, lo, hi, points, alpha, lengthscale, outputscale, offset,
                 noise, outcomes, support, free=None):
        super().__init__()
        self.names = tuple(names)
        d = len(self.names)
        shapes = {"mean": (d,), "std": (d,), "lo": (d,), "hi": (d,), "points": (-1, d), "alpha": (-1, 2 * d),
                  "lengthscale": (2 * d, d), "outputscale": (2 * d,), "offset": (2 * d,), "noise": (2 * d,),
                  "outcomes": (-1, d), "support": (2,), "free": (d,)}
        values = {"mean": mean, "std": std, "lo": lo, "hi": hi, "points": points, "alpha": alpha,
                  "lengthscale": lengthscale, "outputscale": outputscale, "offset": offset, "noise": noise,
                  "outcomes": outcomes, "support": support,
                  "free": np.ones(d) if free is None else free}
        for k, shape in shapes.items():
            t = torch.as_tensor(np.asarray(values[k], dtype=np.float32))
            if t.dim() != len(shape) or any(want not in (-1, got) for want, got in zip(shape, t.shape)) \
                    or not torch.isfinite(t).all():
                raise ValueError(f"calibration {k} must be finite and shaped {shape} (-1: any), got {tuple(t.shape)}")
            self.register_buffer(k, t.contiguous())
        if self.points.shape[0] != self.alpha.shape[0]:
            raise ValueError(f"calibration has {self.points.shape[0]} points but {self.alpha.shape[0]} weights")
        if (self.std <= 0).any() or (self.lo > self.hi).any() or (self.lengthscale <= 0).any() \
                or (self.noise <= 0).any() or not 0 <= self.support[0] < self.support[1] \
                or not ((self.free == 0) | (self.free == 1)).all():
            raise ValueError("calibration std, length scales and noise must be > 0, lo <= hi, "
                             "0 <= support[0] < support[1] and free 0 or 1")

    def heads(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """At standardised fed conditions ``u`` ``(m, d)``, each ``(m, d)`` in standardised units:
        the mean residual ``r``, the per-sample variance ``v`` and the mean's own uncertainty
        ``e``: ``s noise / (noise + s n_eff)`` with ``n_eff`` the kernel-weighted count of fitting
        pairs nearby (a GP's posterior variance for ``n_eff`` pairs at one point), ``s`` (the
        prior variance) where there are none."""
        d = len(self.names)
        diff = (u.unsqueeze(1) - self.points.unsqueeze(0)).unsqueeze(0) / self.lengthscale[:, None, None, :]
        k = torch.exp(-0.5 * (diff ** 2).sum(-1))  # (heads, m, points)
        h = (self.outputscale[:, None] * torch.einsum("hmn,nh->hm", k, self.alpha) + self.offset[:, None]).T
        s, n = self.outputscale[:d, None], self.noise[:d, None]
        unc = (s * n / (n + s * k[:d].sum(-1))).T
        return h[:, :d], h[:, d:].clamp(min=0.0), unc

    def forward(self, fed: torch.Tensor) -> torch.Tensor:
        """Expected measured descriptors ``(m, d)`` of samples fed ``fed`` ``(m, d)`` (raw units)."""
        u = (fed.to(self.mean.dtype) - self.mean) / self.std
        return (u + self.heads(u)[0]) * self.std + self.mean

    def spread(self, fed: torch.Tensor) -> torch.Tensor:
        """Standard deviation ``(m, d)`` of one sample's measured descriptors around
        :meth:`forward` when fed ``fed`` (raw units): the per-sample variance plus the mean's own
        uncertainty."""
        u = (fed.to(self.mean.dtype) - self.mean) / self.std
        _, v, e = self.heads(u)
        return (v + e).sqrt() * self.std

    @torch.no_grad()
    def invert(self, target, iters: int = 30, pull: float = 0.03) -> torch.Tensor:
        """The fed conditions ``(m, d)`` that bring one sample closest to ``target`` ``(m, d)``.

        Minimises the expected squared miss of one sample, ``|h(fed) - target|^2 + sum v(fed) +
        sum e(fed)`` (:meth:`heads`; standardised units), plus ``pull * |fed - target|^2``, by
        Gauss-Newton steps (the variances enter through their gradient) with backtracking,
        ``fed`` clipped to the fitted box; a target out of reach ends near the box's nearest point.
        The correction ``fed - target`` is then scaled by :meth:`support_weight`.
        """
        t = torch.as_tensor(target, dtype=torch.float32)
        squeeze = t.dim() == 1
        t = t.reshape(-1, len(self.names)).to(self.mean.device)
        if t.shape[0] == 0:
            return t.clone()
        d = t.shape[1]
        lo, hi = (self.lo - self.mean) / self.std, (self.hi - self.mean) / self.std
        goal = (t - self.mean) / self.std
        eye = torch.eye(d, device=t.device)

        def cost(x):
            r, v, e = self.heads(x)
            return ((x + r - goal) ** 2).sum(1) + (v + e).sum(1) + pull * ((x - goal) ** 2).sum(1)

        free = self.free.bool()
        u = torch.where(free, torch.maximum(torch.minimum(goal, hi), lo), goal)
        # Gauss-Newton on the free conditions only: the others' rows and columns become identity
        keep = self.free.unsqueeze(0) * self.free.unsqueeze(1)
        fixed = torch.diag(1.0 - self.free)
        f = cost(u)
        for _ in range(iters):
            with torch.enable_grad():
                x = u.detach().requires_grad_(True)
                r, v, e = self.heads(x)
                y = x + r
                jac = torch.stack([torch.autograd.grad(y[:, i].sum(), x, retain_graph=True)[0]
                                   for i in range(d)], 1)  # (m, d_out, d_in)
                grad_v = torch.autograd.grad((v + e).sum(), x)[0]
            res = y.detach() - goal
            jt = jac.transpose(1, 2)
            a = (jt @ jac + (pull + 1e-3) * eye) * keep + fixed
            g = (jt @ res.unsqueeze(-1)).squeeze(-1) + 0.5 * grad_v + pull * (u - goal)
            step = torch.linalg.solve(a, g)
            # backtracking: halve each row's step until its cost does not rise (else stay)
            new, f_new = u, f
            scale = torch.ones_like(f)
            todo = torch.ones_like(f, dtype=torch.bool)
            for _ in range(6):
                cand = torch.where(free, torch.maximum(torch.minimum(u - scale.unsqueeze(1) * step, hi), lo), goal)
                fc = cost(cand)
                ok = todo & (fc <= f)
                new = torch.where(ok.unsqueeze(1), cand, new)
                f_new = torch.where(ok, fc, f_new)
                todo &= ~ok
                if not todo.any():
                    break
                scale = torch.where(todo, scale * 0.5, scale)
            moved = (new - u).abs().max()
            u, f = new, f_new
            if moved < 1e-4:
                break
        w = self.support_weight(t).unsqueeze(1)
        fed = (goal + w * (u - goal)) * self.std + self.mean
        return fed[0] if squeeze else fed

    def support_weight(self, target: torch.Tensor) -> torch.Tensor:
        """``(m,)`` in [0, 1]: 1 where a pair's measured outcome lies within ``support[0]`` of the
        target (standardised distance), 0 beyond ``support[1]``, linear between."""
        goal = (target.to(self.mean.dtype) - self.mean) / self.std
        near = torch.cdist(goal, self.outcomes).min(1).values
        r0, r1 = float(self.support[0]), float(self.support[1])
        return ((r1 - near) / (r1 - r0)).clamp(0.0, 1.0)

    @classmethod
    def fit(cls, fed, measured, names: Sequence[str], *, steps: int = 150, lr: float = 0.05,
            val_fraction: float = 0.15, seed: int = 0,
            free: Sequence[str] | None = None) -> tuple["ConditionCalibration", dict]:
        """Fit on pairs: ``fed`` ``(n, d)`` conditions the sampler was given, ``measured`` ``(n, d)``
        the same descriptors measured on the decoded samples.

        The GP hyperparameters are fitted (``steps`` of Adam on the marginal likelihood) on all but
        ``val_fraction`` of the pairs, which score the map: the report gives per condition the MAE
        on those held-back pairs of the fitted map and of the identity (no calibration), and the
        mean predicted and observed squared miss there. The returned calibration is then refitted
        on every pair with those hyperparameters. ``free`` names the conditions the inversion may
        change (default all; the others are fed as asked).
        """
        fed = np.asarray(fed, dtype=np.float64)
        measured = np.asarray(measured, dtype=np.float64)
        names = tuple(names)
        d = len(names)
        if fed.ndim != 2 or fed.shape != measured.shape or fed.shape[1] != d:
            raise ValueError(f"fed and measured must both be (n, {d}), got {fed.shape} and {measured.shape}")
        if not (np.isfinite(fed).all() and np.isfinite(measured).all()):
            raise ValueError("calibration pairs contain NaN or inf")
        if len(fed) < 20:
            raise ValueError(f"need at least 20 calibration pairs, got {len(fed)}")
        unknown = sorted(set(free or ()) - set(names))
        if unknown:
            raise ValueError(f"free names {unknown} are not conditions of {names}")
        free_mask = [1.0 if free is None or k in free else 0.0 for k in names]
        mean, std = fed.mean(0), fed.std(0)
        std = np.where(std > 1e-6, std, 1.0)
        u = torch.as_tensor((fed - mean) / std)
        r = torch.as_tensor((measured - mean) / std) - u
        perm = np.random.default_rng(seed).permutation(len(fed))
        n_val = int(round(val_fraction * len(fed)))
        val, train = perm[:n_val], perm[n_val:]
        mean_hyper = [_fit_hyper(u[train], r[train, i], steps, lr) for i in range(d)]

        def mean_heads(rows):
            return [_weights(u[rows], r[rows, i], *mean_hyper[i]) for i in range(d)]

        def squared_miss(rows, alphas):
            """Squared residuals of the pairs ``rows`` under the mean heads fitted on them."""
            return torch.stack([(r[rows, i] - _kernel(u[rows], u[rows], *mean_hyper[i][:2]) @ alphas[i]) ** 2
                                for i in range(d)], 1)

        train_alphas = mean_heads(train)
        sq_train = squared_miss(train, train_alphas)
        var_hyper = [_fit_hyper(u[train], sq_train[:, i] - sq_train[:, i].mean(), steps, lr) for i in range(d)]

        def build(rows, alphas=None, sq=None) -> "ConditionCalibration":
            """The calibration on the pairs ``rows`` (their mean-head weights and squared misses
            when already computed)."""
            alphas = list(mean_heads(rows) if alphas is None else alphas)
            sq = squared_miss(rows, alphas) if sq is None else sq
            offs = [0.0] * d + [float(sq[:, i].mean()) for i in range(d)]
            alphas += [_weights(u[rows], sq[:, i] - offs[d + i], *var_hyper[i]) for i in range(d)]
            hyper = mean_hyper + var_hyper
            outcomes = u[rows] + r[rows]
            gaps = torch.cdist(outcomes, outcomes).fill_diagonal_(float("inf")).min(1).values
            r0 = float(torch.quantile(gaps, 0.9))
            return cls(names, mean, std, fed.min(0), fed.max(0), u[rows], torch.stack(alphas, 1),
                       torch.stack([h[0] for h in hyper]), torch.stack([h[1] for h in hyper]), offs,
                       [h[2] for h in hyper], outcomes, [r0, 2 * r0], free_mask).eval()

        report = {"pairs": len(fed), "held_back": int(n_val),
                  "noise_std": [float(np.sqrt(h[2]) * sd) for h, sd in zip(mean_hyper, std)], "conditions": {}}
        if n_val:
            cal = build(train, train_alphas, sq_train)
            with torch.no_grad():
                x = torch.as_tensor(fed[val], dtype=torch.float32)
                pred, spread = cal(x).double().numpy(), cal.spread(x).double().numpy()
            for j, k in enumerate(names):
                report["conditions"][k] = {
                    "mae_fitted": float(np.abs(pred[:, j] - measured[val, j]).mean()),
                    "mae_identity": float(np.abs(fed[val, j] - measured[val, j]).mean()),
                    "rms_miss": float(np.sqrt(((pred[:, j] - measured[val, j]) ** 2).mean())),
                    "rms_spread_predicted": float(np.sqrt((spread[:, j] ** 2).mean()))}
        return build(np.arange(len(fed))), report

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(path), metadata={"names": json.dumps(list(self.names))})
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ConditionCalibration":
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        try:
            with safe_open(str(path), "pt") as fh:
                names = json.loads((fh.metadata() or {})["names"])
            state = load_file(str(path))
            keys = ("mean", "std", "lo", "hi", "points", "alpha", "lengthscale", "outputscale", "offset", "noise",
                    "outcomes", "support")
            cal = cls(names, **{k: state[k].float() for k in keys},
                      free=state["free"].float() if "free" in state else None)
        except (KeyError, ValueError, RuntimeError, OSError, SafetensorError) as e:
            raise ValueError(f"{path} is not a condition calibration: {e}") from None
        return cal.eval()


def _kernel(a: torch.Tensor, b: torch.Tensor, lengthscale: torch.Tensor, outputscale: torch.Tensor) -> torch.Tensor:
    diff = (a.unsqueeze(1) - b.unsqueeze(0)) / lengthscale
    return outputscale * torch.exp(-0.5 * (diff ** 2).sum(-1))


def _fit_hyper(u: torch.Tensor, r: torch.Tensor, steps: int, lr: float):
    """Length scales ``(d,)``, signal and noise variance of one zero-mean GP on targets ``r``
    (float64 marginal likelihood, Adam on the logs; the noise variance is kept >= 1e-6)."""
    var = float(r.var()) + 1e-8
    log_ls = torch.zeros(u.shape[1], dtype=torch.float64, requires_grad=True)
    log_s = torch.tensor(np.log(var), dtype=torch.float64, requires_grad=True)
    log_n = torch.tensor(np.log(0.5 * var), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([log_ls, log_s, log_n], lr=lr)
    eye = torch.eye(len(u), dtype=torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        k = _kernel(u, u, log_ls.exp(), log_s.exp()) + (log_n.exp() + 1e-6) * eye
        chol = torch.linalg.cholesky(k)
        a = torch.cholesky_solve(r.unsqueeze(1), chol)
        nll = 0.5 * (r @ a.squeeze(1)) + torch.log(torch.diagonal(chol)).sum()
        (nll / len(u)).backward()
        opt.step()
    return log_ls.detach().exp(), log_s.detach().exp(), float(log_n.detach().exp()) + 1e-6


def _weights(u, r, lengthscale, outputscale, noise) -> torch.Tensor:
    k = _kernel(u, u, lengthscale, outputscale) + noise * torch.eye(len(u), dtype=torch.float64)
    return torch.cholesky_solve(r.unsqueeze(1), torch.linalg.cholesky(k)).squeeze(1)
