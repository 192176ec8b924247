"""The CPU thread policy of the descriptor engine: same values, torch's setting restored."""

import numpy as np
import torch

import objectives
from objectives import descriptors


def _vol() -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.random((12, 10, 8)) < 0.5).astype(np.uint8)


def test_thread_setting_is_restored_and_values_do_not_depend_on_it(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(descriptors, "CPU_THREADS", 1)
        seen = []
        real = descriptors._two_phase
        monkeypatch.setattr(descriptors, "_two_phase",
                            lambda lab, wrap: seen.append(torch.get_num_threads()) or real(lab, wrap))
        one = objectives.describe(_vol())
        assert seen == [1]
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(descriptors, "CPU_THREADS", None)
        two = objectives.describe(_vol())
        assert seen == [1, 2]
        assert one == two
    finally:
        torch.set_num_threads(before)


def test_thread_setting_is_restored_after_an_error(monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(descriptors, "CPU_THREADS", 1)

        def boom(lab, wrap):
            raise RuntimeError("boom")

        monkeypatch.setattr(descriptors, "_two_phase", boom)
        try:
            objectives.describe(_vol())
        except RuntimeError:
            pass
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_worker_thread_gives_the_same_values(monkeypatch):
    rng = np.random.default_rng(5)
    vols = (rng.random((3, 10, 9, 7)) < 0.5).astype(np.uint8)
    monkeypatch.setattr(descriptors, "CPU_WORKERS", 1)
    serial = objectives.describe_batch(vols)
    monkeypatch.setattr(descriptors, "CPU_WORKERS", 2)
    side = objectives.describe_batch(vols, periodic=False)
    assert descriptors._POOL is not None
    for k in serial:
        assert torch.equal(serial[k], side[k]), k
