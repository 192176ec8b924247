"""Targets, their checks and the tolerance-normalised losses."""

import math

import pytest
import torch

from objectives.losses import (
    descriptor_losses,
    distance,
    normalized_errors,
    target_distance,
    target_tensors,
    within_tolerance,
)
from objectives.targets import Targets, check_targets, is_fraction, make_targets, parse_target


def test_scalar_tolerance_applies_to_every_target():
    t = make_targets({"ABS_f_D": 0.5, "CT_f_D_tort1": 0.3}, 0.05)
    assert t.names == ("ABS_f_D", "CT_f_D_tort1")
    assert t.tolerances == {"ABS_f_D": 0.05, "CT_f_D_tort1": 0.05}


def test_per_target_tolerance_and_round_trip():
    t = make_targets({"ABS_f_D": 0.5, "STAT_e": 1200}, {"ABS_f_D": 0.01, "STAT_e": 50})
    assert Targets.from_dict(t.as_dict()) == t


@pytest.mark.parametrize(
    "values, tol, match",
    [
        ({}, 0.02, "at least one target"),
        ({"ABS_f_D": 1.2}, 0.02, r"out of range.*\[0, 1\]"),
        ({"vol_frac_M": -0.1}, 0.02, "out of range"),
        ({"ABS_f_D": float("nan")}, 0.02, "not finite"),
        ({"ABS_f_D": "half"}, 0.02, "not a number"),
        ({"ABS_f_D": 0.5}, 0.0, "must be > 0"),
        ({"ABS_f_D": 0.5}, -0.1, "must be > 0"),
        ({"ABS_f_D": 0.5}, float("inf"), "must be > 0"),
        ({"ABS_f_D": 0.5, "CT_f_D_tort1": 0.2}, {"ABS_f_D": 0.1}, "no tolerance given for targets: CT_f_D_tort1"),
        ({"ABS_f_D": 0.5}, {"ABS_f_D": 0.1, "X": 0.1}, "not targets: X"),
    ],
)
def test_bad_targets_raise_clear_errors(values, tol, match):
    with pytest.raises(ValueError, match=match):
        make_targets(values, tol)


def test_counts_are_not_fractions():
    assert is_fraction("CT_f_D_tort1") and is_fraction("vol_frac_D") and is_fraction("tortuosity_A")
    assert not is_fraction("STAT_e") and not is_fraction("CT_e_conn")
    make_targets({"STAT_e": 5000.0}, 10.0)  # no [0, 1] check on counts


def test_check_targets_names_unknown_descriptor_and_lists_known():
    t = make_targets({"ABS_f_D": 0.5, "bogus": 1.0}, 0.02)
    with pytest.raises(ValueError, match=r"unknown descriptor bogus.*ABS_f_D"):
        check_targets(t, ["ABS_f_D", "CT_f_A_tort1"])


def test_check_targets_training_range():
    t = make_targets({"ABS_f_D": 0.95}, 0.02)
    with pytest.raises(ValueError, match="outside the model's training range"):
        check_targets(t, ["ABS_f_D"], {"ABS_f_D": (0.1, 0.9)})
    check_targets(make_targets({"ABS_f_D": 0.9}, 0.02), ["ABS_f_D"], {"ABS_f_D": (0.1, 0.9)})


@pytest.mark.parametrize("text", ["ABS_f_D", "=0.5", "ABS_f_D=", "ABS_f_D=abc"])
def test_parse_target_rejects_malformed(text):
    with pytest.raises(ValueError):
        parse_target(text)


def test_parse_target():
    assert parse_target(" ABS_f_D = 0.45 ") == ("ABS_f_D", 0.45)


def test_distances_by_hand():
    target = torch.tensor([0.5, 0.3], dtype=torch.float64)
    tol = torch.tensor([0.02, 0.05], dtype=torch.float64)
    m = torch.tensor([0.53, 0.2], dtype=torch.float64)  # errors 1.5 and 2.0 tolerances
    assert torch.allclose(normalized_errors(m, target, tol), torch.tensor([1.5, 2.0], dtype=torch.float64))
    assert float(distance(m, target, tol, "max")) == pytest.approx(2.0)
    assert float(distance(m, target, tol, "l2")) == pytest.approx(math.sqrt((1.5**2 + 2.0**2) / 2))
    with pytest.raises(ValueError, match="unknown distance"):
        distance(m, target, tol, "l1")


def test_distance_keeps_batch_dims_and_success_is_max_le_one():
    target = torch.tensor([0.5, 0.3], dtype=torch.float64)
    tol = torch.tensor([0.02, 0.05], dtype=torch.float64)
    m = torch.tensor([[[0.51, 0.34], [0.53, 0.3]]], dtype=torch.float64)  # (1, 2, k)
    d = distance(m, target, tol)
    assert d.shape == (1, 2)
    ok = within_tolerance(m, target, tol)
    assert ok.tolist() == [[True, False]]
    assert ((d <= 1) == ok).all()


def test_mapping_helpers_agree_with_tensor_form():
    t = make_targets({"ABS_f_D": 0.5, "CT_f_D_tort1": 0.3}, {"ABS_f_D": 0.02, "CT_f_D_tort1": 0.05})
    measured = {"ABS_f_D": 0.53, "CT_f_D_tort1": 0.2, "other": 7.0}
    assert descriptor_losses(measured, t) == pytest.approx({"ABS_f_D": 1.5, "CT_f_D_tort1": 2.0})
    assert float(target_distance(measured, t)) == pytest.approx(2.0)
    values, tols = target_tensors(t)
    assert values.tolist() == [0.5, 0.3] and tols.tolist() == [0.02, 0.05]
    with pytest.raises(ValueError, match="lacks target descriptor"):
        target_distance({"ABS_f_D": 0.5}, t)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

finite = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite, st.floats(1e-3, 5)), min_size=1, max_size=5))
def test_max_distance_le_one_iff_every_target_met(rows):
    m = torch.tensor([r[0] for r in rows], dtype=torch.float64)
    t = torch.tensor([r[1] for r in rows], dtype=torch.float64)
    tol = torch.tensor([r[2] for r in rows], dtype=torch.float64)
    d = float(distance(m, t, tol))
    assert (d <= 1) == bool(within_tolerance(m, t, tol))
    assert float(distance(m, t, tol, "l2")) <= d + 1e-12  # RMS never exceeds the max
