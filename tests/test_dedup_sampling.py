"""One schedule and one ancestral loop serve both the samplers module and MicroGen3D."""

from __future__ import annotations

import pytest
import torch

from generators.diffusion import ancestral, linear_schedule, unit_grid
from generators.microgen3d import ancestral_sample, ddpm_schedules


def test_linear_schedule_is_the_published_schedule_in_float64():
    ours = linear_schedule().buffers()
    theirs = ddpm_schedules(1e-4, 0.02, 1000, dtype=torch.float64)
    assert list(ours) == list(theirs)
    for k in theirs:
        assert torch.equal(ours[k], theirs[k]), k
    assert torch.equal(linear_schedule().alphabar, theirs["alphabar_t"])


def test_both_entry_points_run_the_same_loop():
    T = 50
    sched = linear_schedule(T=T)
    bufs = {k: v.float() for k, v in sched.buffers().items()}
    x0 = torch.randn(2, 1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    ctx = torch.tensor([[0.2], [0.7]])

    def eps_fn(x, t, c):
        return 0.3 * x * (1 + t.view(-1, 1, 1, 1, 1)) + c.view(-1, 1, 1, 1, 1)

    a = ancestral(eps_fn, x0.clone(), unit_grid(sched, T - 2), context=ctx, generator=torch.Generator().manual_seed(3))
    b = ancestral_sample(eps_fn, x0.clone(), bufs, ctx, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="first_step"):
        unit_grid(sched, T)
