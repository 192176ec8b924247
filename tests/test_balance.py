"""Balanced denoiser batches: rows drawn evenly over condition space (``denoiser_train.balance``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import generators.diffusion.training as training
from generators.diffusion.training import Trainer, balance_weights
from tests.tiny_model import tiny_config as _config
from tests.tiny_model import tiny_data as _data


def _clustered(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dense = rng.normal(0.0, 0.05, (90, 2))
    sparse = rng.uniform(2.0, 6.0, (10, 2))
    return np.concatenate([dense, sparse])


def test_uniform_without_balance():
    w = balance_weights(_clustered(), 0.0)
    assert np.allclose(w, 1 / 100)


def test_sparse_rows_are_drawn_more_often():
    w = balance_weights(_clustered(), 1.0)
    assert w.sum() == pytest.approx(1.0)
    assert w[90:].sum() > 0.3  # 10 % of the rows, a third of the draws or more
    assert balance_weights(_clustered(), 0.5)[90:].sum() > 0.1
    # no row takes over: capped at 10x the median
    assert w.max() <= 10.0 * np.median(w) * (1 + 1e-9)


def test_repeated_rows_are_still_drawn():
    c = np.concatenate([np.zeros((20, 2)), _clustered()])  # 20 identical rows: distance 0
    w = balance_weights(c, 1.0)
    assert w[:20].min() >= np.median(w) / 10 * (1 - 1e-9)


def test_bad_balance_is_refused():
    with pytest.raises(ValueError, match="balance"):
        balance_weights(_clustered(), 1.5)


def test_denoiser_batches_follow_the_weights(tmp_path, monkeypatch):
    """With every weight on one row, every conditioned row of every batch is that row's."""
    seen = []
    build = Trainer.build_denoiser

    def recording(self):
        den = build(self)
        den.register_forward_pre_hook(lambda m, args: seen.append(args[2].clone()))
        return den

    def one_row(c, power):
        w = np.zeros(len(c))
        w[0] = 1.0
        return w

    monkeypatch.setattr(Trainer, "build_denoiser", recording)
    monkeypatch.setattr(training, "balance_weights", one_row)
    config = _config(denoiser_train={"steps": 3, "balance": 1.0, "cond_dropout": 0.0}, log_every=100)
    tr = Trainer(_data(), config, tmp_path, progress=False)
    tr.train_vae()
    tr.train_denoiser()
    batches = torch.cat(seen[:3])  # the three training steps (one validation pass after the last)
    assert torch.isfinite(batches).all()
    assert torch.allclose(batches, batches[:1].expand_as(batches))
