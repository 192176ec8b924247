"""objectives.threads: torch's thread count stays right when many threads limit it at once."""

import random
import threading

import pytest
import torch

import objectives
from objectives import descriptors
from objectives.threads import base_threads, limit_threads, set_threads


@pytest.fixture
def three_threads():
    before = torch.get_num_threads()
    set_threads(3)
    yield 3
    set_threads(before)


def _in_new_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_limit_applies_inside_and_restores_after(three_threads):
    with limit_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
        with limit_threads(2) as inner:  # a looser nested limit cannot raise the count
            assert inner == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 3
    with limit_threads(None) as n:
        assert n == 3


def test_limit_restores_after_an_error(three_threads):
    with pytest.raises(KeyError):
        with limit_threads(1):
            raise KeyError("x")
    assert torch.get_num_threads() == 3
    assert _in_new_thread(torch.get_num_threads) == 3


def test_concurrent_limits_leave_the_count_as_it_was(three_threads):
    # threads that enter and leave limits in overlapping windows, some created inside another
    # thread's block (they start with the limited count): a plain save/restore ends at 1 here
    start = threading.Barrier(8)
    seen, born_inside = [], []

    def worker(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(30):
            with limit_threads(rng.choice([1, 2])):
                seen.append(torch.get_num_threads())
                if rng.random() < 0.2:
                    born_inside.append(_in_new_thread(_limited_then_count))
        seen.append(("after", torch.get_num_threads()))

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(n in (1, 2) for n in seen if not isinstance(n, tuple))
    assert born_inside and set(born_inside) == {3}  # after their own block: the base count
    assert [n for n in seen if isinstance(n, tuple)] == [("after", 3)] * 8
    assert torch.get_num_threads() == 3
    assert base_threads() == 3
    assert _in_new_thread(torch.get_num_threads) == 3


def _limited_then_count():
    with limit_threads(1):
        pass
    return torch.get_num_threads()


def test_set_threads_inside_a_block_applies_after_it(three_threads):
    with limit_threads(1):
        assert set_threads(2) == 3
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="thread count"):
        set_threads(0)


def test_concurrent_describe_calls_keep_the_count(three_threads, monkeypatch):
    import numpy as np

    monkeypatch.setattr(descriptors, "CPU_THREADS", 1)
    vol = (np.random.default_rng(0).random((10, 9, 8)) < 0.5).astype(np.uint8)
    want = objectives.describe(vol)
    got = []

    def worker():
        for _ in range(5):
            got.append(objectives.describe(vol) == want)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [True] * 20
    assert torch.get_num_threads() == 3
    assert _in_new_thread(torch.get_num_threads) == 3
