"""Input validation and the public API of objectives."""

import numpy as np
import pytest
import torch

import objectives
from objectives import as_label_tensor


def test_public_names():
    assert len(objectives.TWO_PHASE_NAMES) == 22 and len(set(objectives.TWO_PHASE_NAMES)) == 22
    assert objectives.THREE_PHASE_NAMES == (
        "vol_frac_D", "vol_frac_A", "vol_frac_M", "tortuosity_D", "tortuosity_A")
    assert "last axis is the film thickness" in objectives.__doc__


@pytest.mark.parametrize("arr", [
    np.array([[0, 1], [1, 0]], dtype=np.int64),
    np.array([[0.0, 1.0], [2.0, 0.0]]),
    np.array([[True, False], [False, True]]),
    torch.tensor([[0, 1], [1, 2]], dtype=torch.int16),
    np.array([[0, 1], [1, 2]], dtype=np.uint16),
])
def test_accepted_inputs(arr):
    t = as_label_tensor(arr)
    assert t.dtype == torch.uint8
    assert t.tolist() == np.asarray(arr, dtype=np.int64).tolist()


@pytest.mark.parametrize("arr, words", [
    (np.zeros((2, 2, 2, 2, 2), np.uint8), "ndim"),
    (np.zeros(5, np.uint8), "ndim"),
    (np.zeros((0, 4, 4), np.uint8), "empty"),
    (np.zeros((4, 4, 1), np.uint8), "thickness"),
    (np.array([[0.0, np.nan], [1.0, 0.0]]), "NaN"),
    (np.array([[0.0, np.inf], [1.0, 0.0]]), "NaN or infinite"),
    (np.array([[0.0, 0.5], [1.0, 0.0]]), "non-integral"),
    (np.array([[0, 3], [1, 0]]), "labels must be in"),
    (np.array([[0, -1], [1, 0]]), "labels must be in"),
    (np.array([[0, 300], [1, 0]], np.uint16), "labels must be in"),
    (np.array([[0, 1j], [1, 0]]), "complex"),
    (np.array([["a", "b"], ["c", "d"]]), "dtype"),
])
def test_rejected_inputs(arr, words):
    with pytest.raises(ValueError, match=words):
        as_label_tensor(arr)


def test_describe_rejects_batches_and_describe_batch_rejects_single_2d():
    with pytest.raises(ValueError, match="describe_batch"):
        objectives.describe(np.zeros((2, 3, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="ndim"):
        objectives.describe_batch(np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match="thickness"):
        objectives.describe(np.zeros((3, 3, 1), np.uint8))


def test_describe_returns_python_floats_and_accepts_tensors():
    vol = torch.zeros(4, 4, 4, dtype=torch.int64)
    vol[:, :, :2] = 1
    got = objectives.describe(vol)
    assert all(type(v) is float for v in got.values())
    assert got["STAT_e"] == 16 and got["STAT_CC_D"] == 1 and got["STAT_CC_A"] == 1
    assert got["CT_f_D_tort1"] == 1.0 and got["CT_f_A_tort1"] == 1.0
    out = objectives.describe_batch(vol.unsqueeze(0).float())
    assert all(v.shape == (1,) and v.dtype == torch.float64 for v in out.values())


def test_does_not_modify_input():
    vol = np.random.default_rng(0).integers(0, 2, (5, 5, 5)).astype(np.uint8)
    before = vol.copy()
    objectives.describe(vol, periodic=True)
    assert np.array_equal(vol, before)
