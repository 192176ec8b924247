"""A small fast generator for worker tests, and a CLI entry point that registers it.

Run as ``python tests/workers_fake.py worker --storage ... --study-name ...`` (repository root on
``PYTHONPATH``). Environment knobs: ``FAKE_SLEEP_S`` (seconds per ``sample`` call),
``FAKE_OOM_ONCE`` (raise one ``torch.OutOfMemoryError`` for a batch > 1).
"""

from __future__ import annotations

import os
import time

import torch

from generators.protocol import Samples


class FakeGenerator:
    """Volumes ``(n, 8, 8, 4)`` whose donor fraction is about ``a`` and mixed fraction about ``b (1 - a)``.

    Descriptors (``describe_batch``): ``vol_frac_D`` and ``vol_frac_M``, exact fractions per volume.
    """

    condition_names = ("a", "b")
    phases = 3
    shape = (8, 8, 4)
    descriptor_names = ("vol_frac_D", "vol_frac_M")

    def __init__(self, device: str = "cpu", sleep_s: float | None = None, oom_once: bool | None = None):
        self.device = torch.device(device)
        self.bounds = torch.tensor([[0.05, 0.0], [0.95, 0.9]], dtype=torch.float64)
        self.sleep_s = float(os.environ.get("FAKE_SLEEP_S", "0")) if sleep_s is None else sleep_s
        self.oom_left = int(os.environ.get("FAKE_OOM_ONCE", "0")) if oom_once is None else int(oom_once)
        self.calls: list[int] = []

    def sample(self, conditions: torch.Tensor, n: int = 1, seed: int | None = None) -> Samples:
        self.calls.append(n)
        if self.oom_left and n > 1:
            self.oom_left -= 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        if self.sleep_s:
            time.sleep(self.sleep_s)
        g = torch.Generator().manual_seed(int(seed or 0))
        c = conditions.to(torch.float64).cpu()
        m = c.shape[0]
        u = torch.rand((m * n, *self.shape), generator=g, dtype=torch.float64)
        a = c[:, 0].repeat_interleave(n).view(-1, 1, 1, 1)
        b = c[:, 1].repeat_interleave(n).view(-1, 1, 1, 1)
        vol = torch.ones_like(u, dtype=torch.uint8)
        vol[u < a + b * (1 - a)] = 2
        vol[u < a] = 0
        return Samples(volumes=vol.to(self.device), conditions=c.repeat_interleave(n, 0).to(self.device))

    def describe_batch(self, volumes: torch.Tensor, periodic: bool = False) -> dict[str, torch.Tensor]:
        v = volumes.reshape(volumes.shape[0], -1)
        return {"vol_frac_D": (v == 0).double().mean(1), "vol_frac_M": (v == 2).double().mean(1)}


def _describing_biased_fake(device: str = "cpu"):
    """The design-loop tests' fake generator, measured by their stand-in descriptor function."""
    from tests.design_fakes import BiasedFakeGenerator, fake_describe_batch

    gen = BiasedFakeGenerator(device=device)
    gen.describe_batch = lambda volumes, periodic=False: fake_describe_batch(volumes)
    sleep_s = float(os.environ.get("FAKE_SLEEP_S", "0"))
    if sleep_s:
        sample = gen.sample

        def slow_sample(*args, **kwargs):
            time.sleep(sleep_s)
            return sample(*args, **kwargs)

        gen.sample = slow_sample
    return gen


def register() -> None:
    from invdesign.distributed import register_generator

    register_generator("workers-fake", lambda device="cpu": FakeGenerator(device=device))
    register_generator("fake-biased", _describing_biased_fake)


def make_loop_study(url: str, out_dir, name: str, budget: int = 0) -> None:
    """A study made by the design loop (``design(..., budget=0)``) for the biased fake."""
    from invdesign.loop.api import design
    from tests.design_fakes import fake_describe_batch

    fake_describe_batch.devices = []
    design({"ABS_f_D": 0.4, "CT_f_D_tort1": 0.3}, tolerance=0.03, model=_describing_biased_fake(),
           budget=budget, samples_per_trial=2, storage=url, study_name=name, out_dir=out_dir,
           n_initial=3, describe=fake_describe_batch)


if __name__ == "__main__":
    register()
    from invdesign.cli.main import main

    main()
