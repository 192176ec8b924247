"""The CPU thread policy of the descriptor engine: same values, torch's setting restored."""

import threading
import time

import numpy as np
import pytest
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
        with pytest.raises(RuntimeError, match="boom"):
            objectives.describe(_vol())
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
    one = objectives.describe(vols[1])  # one volume: its parts side by side
    for k in serial:
        assert torch.equal(serial[k], side[k]), k
        assert float(serial[k][1]) == one[k], k


def test_chunks_run_side_by_side_on_the_workers(monkeypatch):
    rng = np.random.default_rng(6)
    vols = (rng.random((6, 9, 8, 7)) < 0.5).astype(np.uint8)
    monkeypatch.setattr(descriptors, "CPU_WORKERS", 1)
    serial = objectives.describe_batch(vols)
    monkeypatch.setattr(descriptors, "CHUNK_VOXELS", 9 * 8 * 7)  # one volume per chunk
    monkeypatch.setattr(descriptors, "CPU_WORKERS", 3)
    names, real = set(), descriptors._two_phase

    def spy(lab, wrap):
        names.add(threading.current_thread().name)
        time.sleep(0.02)  # let the other workers take chunks
        return real(lab, wrap)

    monkeypatch.setattr(descriptors, "_two_phase", spy)
    side = objectives.describe_batch(vols)
    assert len(names) > 1 and all(n.startswith("descriptors") for n in names)
    for k in serial:
        assert torch.equal(serial[k], side[k]), k


def test_workers_default_to_the_callers_thread_count(monkeypatch):
    from objectives.threads import limit_threads

    monkeypatch.setattr(descriptors, "CPU_WORKERS", None)
    with limit_threads(1):
        assert descriptors.cpu_workers() == 1
    monkeypatch.setattr(descriptors, "CPU_WORKERS", 3)
    assert descriptors.cpu_workers() == 3

