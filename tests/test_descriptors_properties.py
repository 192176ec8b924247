"""Physics invariants and independent oracles for the descriptor engine."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import objectives
from benchmarks import graspi_numpy
from tests.test_descriptors_helpers import random_volume

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SWAPPED = [
    ("STAT_n_D", "STAT_n_A"), ("STAT_CC_D", "STAT_CC_A"), ("STAT_CC_D_An", "STAT_CC_A_Ca"),
    ("CT_f_conn_D_An", "CT_f_conn_A_Ca"), ("CT_e_D_An", "CT_e_A_Ca"),
    ("CT_f_D_tort1", "CT_f_A_tort1"), ("CT_n_D_adj_An", "CT_n_A_adj_Ca"),
]
UNCHANGED = ["STAT_n", "STAT_e", "CT_e_conn", "CT_f_e_conn"]

shapes3d = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(2, 10))
shapes2d = st.tuples(st.integers(1, 14), st.integers(2, 14))
fracs = st.floats(0.15, 0.85)
sigmas = st.sampled_from([0.0, 0.7, 1.2])


def _vol(seed, shape, frac, sigma, mixed=0.0):
    return random_volume(seed, shape, frac, sigma, mixed)


def _close(a: dict, b: dict, rel=1e-9):
    assert set(a) == set(b)
    bad = {k: (a[k], b[k]) for k in a if not math.isclose(a[k], b[k], rel_tol=rel, abs_tol=1e-12)}
    assert not bad, bad


@SETTINGS
@given(seed=st.integers(0, 10**6), shape=st.one_of(shapes3d, shapes2d), frac=fracs, sigma=sigmas,
       periodic=st.booleans())
def test_swap_phases_and_flip_thickness_swaps_d_and_a(seed, shape, frac, sigma, periodic):
    vol = _vol(seed, shape, frac, sigma)
    a = objectives.describe(vol, periodic=periodic)
    b = objectives.describe(np.flip(1 - vol, axis=-1).copy(), periodic=periodic)
    for d_name, a_name in SWAPPED:
        assert a[d_name] == pytest.approx(b[a_name], rel=1e-12), d_name
        assert a[a_name] == pytest.approx(b[d_name], rel=1e-12), a_name
    for name in UNCHANGED:
        assert a[name] == pytest.approx(b[name], rel=1e-12), name


@SETTINGS
@given(seed=st.integers(0, 10**6), shape=st.one_of(shapes3d, shapes2d), frac=fracs, sigma=sigmas,
       periodic=st.booleans())
def test_matches_numpy_oracle(seed, shape, frac, sigma, periodic):
    vol = _vol(seed, shape, frac, sigma)
    _close(objectives.describe(vol, periodic=periodic), graspi_numpy.describe(vol, periodic=periodic))


@SETTINGS
@given(seed=st.integers(0, 10**6), shape=st.one_of(shapes3d, shapes2d), frac=fracs, sigma=sigmas,
       mixed=st.floats(0.05, 0.4), periodic=st.booleans())
def test_three_phase_matches_numpy_oracle_and_invariants(seed, shape, frac, sigma, mixed, periodic):
    vol = _vol(seed, shape, frac, sigma, mixed)
    vol.flat[seed % vol.size] = 2  # at least one mixed voxel
    got = objectives.describe(vol, periodic=periodic)
    assert set(got) == set(objectives.THREE_PHASE_NAMES)
    _close(got, graspi_numpy.describe(vol, periodic=periodic))
    assert got["vol_frac_D"] + got["vol_frac_A"] + got["vol_frac_M"] == pytest.approx(1.0)
    assert got["vol_frac_M"] == pytest.approx((vol == 2).mean())
    # donor paths never use mixed voxels: turning mixed into acceptor changes nothing for donors,
    # turning it into donor changes nothing for acceptors
    as_acc = objectives.describe(np.where(vol == 2, 1, vol), periodic=periodic)
    as_don = objectives.describe(np.where(vol == 2, 0, vol), periodic=periodic)
    assert got["tortuosity_D"] == pytest.approx(as_acc["CT_f_D_tort1"], rel=1e-12)
    assert got["tortuosity_A"] == pytest.approx(as_don["CT_f_A_tort1"], rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), shape=st.one_of(shapes3d, shapes2d), frac=fracs, sigma=sigmas,
       periodic=st.booleans())
def test_sweep_and_bounded_relaxation_match_dijkstra(seed, shape, frac, sigma, periodic):
    vol = _vol(seed, shape, frac, sigma)
    got = objectives.describe(vol, periodic=periodic)
    g = graspi_numpy.graph_distances(vol, periodic=periodic)
    v3 = vol[:, None, :] if vol.ndim == 2 else vol
    nz = v3.shape[2]
    k = np.arange(nz)
    for dist, member, h in ((g["d_top"], v3 == 0, nz - 1 - k), (g["a_bot"], v3 == 1, k)):
        d = dist.reshape(v3.shape)
        reach = member & np.isfinite(d)
        hh = np.broadcast_to(h, d.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(hh > 0, d / np.maximum(hh, 1), 1.0)
        ok = reach & (np.abs(t - 1) < 1 / nz)
        frac_ok = ok.sum() / reach.sum() if reach.sum() else 0.0
        name = "CT_f_D_tort1" if h[0] == nz - 1 else "CT_f_A_tort1"
        assert got[name] == pytest.approx(frac_ok, rel=1e-12), name
    d_int = g["d_int"].reshape(v3.shape)
    n_d = (v3 == 0).sum()
    sel = (v3 == 0) & (d_int > 0) & (d_int < 10)
    assert got["DISS_f10_D"] == pytest.approx(sel.sum() / n_d if n_d else 0.0, rel=1e-12)
    wf = (6.265 * np.exp(-(((d_int[sel] + 23) / 17.17) ** 2))).sum() / n_d if n_d else 0.0
    assert got["DISS_wf10_D"] == pytest.approx(wf, rel=1e-6)


@SETTINGS
@given(seed=st.integers(0, 10**6), shape=shapes3d, frac=fracs, sigma=sigmas,
       sx=st.integers(-5, 5), sy=st.integers(-5, 5))
def test_lateral_roll_changes_nothing_when_periodic(seed, shape, frac, sigma, sx, sy):
    vol = _vol(seed, shape, frac, sigma)
    a = objectives.describe(vol, periodic=True)
    b = objectives.describe(np.roll(vol, (sx, sy), axis=(0, 1)), periodic=True)
    _close(a, b, rel=1e-12)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10**6), shape=st.one_of(shapes3d, shapes2d), periodic=st.booleans(),
       mixed=st.booleans())
def test_batch_equals_one_by_one(seed, shape, periodic, mixed):
    vols = np.stack([_vol(seed + i, shape, 0.3 + 0.1 * i, 1.0, 0.2 * mixed) for i in range(4)])
    if mixed:
        vols[:, 0] = 2  # every volume three-phase
    out = objectives.describe_batch(vols, periodic=periodic)
    assert list(out) == list(objectives.THREE_PHASE_NAMES if mixed else objectives.TWO_PHASE_NAMES)
    for i, vol in enumerate(vols):
        _close({k: float(v[i]) for k, v in out.items()}, objectives.describe(vol, periodic=periodic),
               rel=1e-12)


def test_one_mixed_volume_makes_the_batch_three_phase():
    vols = np.stack([_vol(i, (6, 6, 8), 0.5, 1.0) for i in range(3)])
    vols[1, 0, 0, 0] = 2
    out = objectives.describe_batch(torch.from_numpy(vols))
    assert list(out) == list(objectives.THREE_PHASE_NAMES)
    two = objectives.describe(vols[0])  # a two-phase member: same definitions apply
    assert float(out["vol_frac_D"][0]) == two["ABS_f_D"]
    assert float(out["tortuosity_D"][0]) == two["CT_f_D_tort1"]
    assert float(out["tortuosity_A"][0]) == two["CT_f_A_tort1"]
    assert float(out["vol_frac_M"][0]) == 0.0


def test_batch_chunking_matches_single_volumes(monkeypatch):
    from objectives import descriptors
    vols = np.stack([_vol(i, (6, 5, 7), 0.5, 1.0) for i in range(5)])
    whole = objectives.describe_batch(vols)
    monkeypatch.setattr(descriptors, "CHUNK_VOXELS", 2 * 6 * 5 * 7)  # chunks of 2 volumes
    chunked = objectives.describe_batch(vols)
    for k in whole:
        assert torch.equal(whole[k], chunked[k]), k


# --- straight paths: exact acceptance thresholds of the spec -------------------------------------

def test_straight_column_gives_fraction_one():
    vol = np.ones((5, 5, 12), np.uint8)
    vol[2, 3, :] = 0
    got = objectives.describe(vol)
    assert got["CT_f_D_tort1"] == 1.0
    assert got["STAT_CC_D"] == 1 and got["CT_f_conn_D_An"] == 1.0
    assert got["CT_n_D_adj_An"] == 2.0  # one top voxel + the electrode node
    assert got["STAT_e"] == 4 * 12


@pytest.mark.parametrize("step, first_ok", [((1, 0), 27), ((1, 1), 47)])
def test_one_diagonal_step_is_accepted_from_the_spec_height(step, first_ok):
    # donor column at (0, 0) for z >= 40, then shifted by `step` below: one rising diagonal step
    nz, zc = 64, 40
    vol = np.ones((3, 3, nz), np.uint8)
    vol[0, 0, zc:] = 0
    vol[step[0], step[1], :zc] = 0
    got = objectives.describe(vol)
    h = nz - 1 - np.arange(zc)
    accepted = (nz - zc) + int((h >= first_ok).sum())
    assert got["CT_f_D_tort1"] == pytest.approx(accepted / nz, rel=1e-12)
    assert objectives.describe(vol, periodic=True)["CT_f_D_tort1"] == pytest.approx(accepted / nz)


def test_two_edge_steps_accepted_from_54():
    nz = 64
    vol = np.ones((4, 2, nz), np.uint8)
    vol[0, 0, 50:] = 0
    vol[1, 0, 30:50] = 0
    vol[2, 0, :30] = 0
    h = nz - 1 - np.arange(nz)
    ok = (h[50:] >= 0).sum() + (h[30:50] >= 27).sum() + (h[:30] >= 54).sum()
    assert objectives.describe(vol)["CT_f_D_tort1"] == pytest.approx(ok / nz, rel=1e-12)


def test_2d_tolerance_uses_thickness():
    # 2-D (X, Y): thickness Y = 40; one diagonal step accepted when (sqrt2-1)/h < 1/40, h >= 17
    ny = 40
    vol = np.ones((3, ny), np.uint8)
    vol[0, 25:] = 0
    vol[1, :25] = 0
    h = ny - 1 - np.arange(25)
    ok = (ny - 25) + (h >= 17).sum()
    got = objectives.describe(vol)
    assert got["CT_f_D_tort1"] == pytest.approx(ok / ny, rel=1e-12)
    assert got["STAT_CC_D"] == 1  # diagonal contact joins the two segments (8-neighbourhood)


def test_2d_uses_8_neighbourhood_and_no_wrap_of_thickness():
    diag = np.ones((3, 4), np.uint8)
    diag[0, 0] = diag[1, 1] = 0
    got = objectives.describe(diag)
    assert got["STAT_CC_D"] == 1  # corner contact joins in 2-D
    assert got["STAT_e"] == 6  # face pairs only
    across_x = np.ones((3, 4), np.uint8)
    across_x[0, 0] = across_x[2, 1] = 0
    assert objectives.describe(across_x)["STAT_CC_D"] == 2
    assert objectives.describe(across_x, periodic=True)["STAT_CC_D"] == 1  # x wraps
    across_y = np.ones((3, 4), np.uint8)
    across_y[1, 0] = across_y[1, 3] = 0
    assert objectives.describe(across_y, periodic=True)["STAT_CC_D"] == 2  # thickness never wraps


# --- empty sets -------------------------------------------------------------------------------

def test_fractions_over_empty_sets_are_zero():
    got = objectives.describe(np.ones((4, 4, 4), np.uint8))
    assert got["STAT_n_D"] == 0 and got["STAT_e"] == 0
    for name in ("CT_f_conn_D_An", "DISS_f10_D", "DISS_wf10_D", "CT_f_e_conn", "CT_f_D_tort1"):
        assert got[name] == 0.0, name
    assert got["CT_f_A_tort1"] == 1.0 and got["CT_f_conn_A_Ca"] == 1.0
    assert got["CT_n_D_adj_An"] == 1.0 and got["CT_n_A_adj_Ca"] == 17.0
    assert all(np.isfinite(v) for v in got.values())


def test_isolated_donor_island_is_not_connected():
    vol = np.ones((5, 5, 6), np.uint8)
    vol[2, 2, 2] = 0
    got = objectives.describe(vol)
    assert got["STAT_CC_D"] == 1 and got["STAT_CC_D_An"] == 0
    assert got["CT_f_conn_D_An"] == 0.0 and got["CT_e_D_An"] == 0
    assert got["DISS_f10_D"] == 1.0
    assert got["DISS_wf10_D"] == pytest.approx(6.265 * math.exp(-((0.5 + 23) / 17.17) ** 2), rel=1e-6)


def test_diss_distance_through_donor():
    # a donor slab 5 thick (x = 0..4) beside acceptor at x = 5: d_int = 0.5 + (4 - x)
    vol = np.zeros((6, 3, 4), np.uint8)
    vol[5] = 1
    got = objectives.describe(vol)
    d = 0.5 + (4 - np.arange(5))
    want = (6.265 * np.exp(-(((d + 23) / 17.17) ** 2))).sum() * 12 / 60
    assert got["DISS_f10_D"] == 1.0
    assert got["DISS_wf10_D"] == pytest.approx(want, rel=1e-6)
    far = np.zeros((14, 2, 3), np.uint8)
    far[13] = 1
    # d_int = 0.5 + (12 - x): x = 0, 1, 2 give 12.5, 11.5, 10.5 (>= 10), the rest < 10
    assert objectives.describe(far)["DISS_f10_D"] == pytest.approx(10 / 13)
