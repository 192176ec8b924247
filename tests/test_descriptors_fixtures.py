"""Every descriptor of every C++ GraSPI fixture, to GraSPI's printed precision."""

import pytest
import torch

import objectives
from tests.test_descriptors_helpers import load_fixture, reference, sig6

NAMES = sorted(reference())


def _check(got: dict, want: dict) -> None:
    assert set(got) == set(objectives.TWO_PHASE_NAMES)
    assert set(want) == set(objectives.TWO_PHASE_NAMES)
    wrong = {k: (got[k], v) for k, v in want.items() if sig6(got[k]) != v}
    assert not wrong, wrong


@pytest.mark.parametrize("name", NAMES)
def test_matches_cpp_graspi(name):
    ref = reference()[name]
    vol = load_fixture(name)
    assert list(vol.shape) == ref["shape"]
    _check(objectives.describe(vol, periodic=bool(ref["periodic"])), ref["descriptors"])


def test_periodic_fixture_differs_when_not_periodic():
    # guards against the periodic flag being ignored: non-periodic values differ from GraSPI -p 1
    ref = reference()["p_24cube_periodic"]
    got = objectives.describe(load_fixture("p_24cube_periodic"), periodic=False)
    assert any(sig6(got[k]) != v for k, v in ref["descriptors"].items())


def test_py_graspi_differs_where_spec_says():
    ref = reference()["p_64cube_median"]
    got = objectives.describe(load_fixture("p_64cube_median"))
    py = ref["py_graspi_0_3_0"]
    # py-graspi lacks the +1 on CT_n_* and uses (nz-1-k) in ABS_wf_D
    assert got["CT_n_D_adj_An"] == py["CT_n_D_adj_An"] + 1
    assert got["CT_n_A_adj_Ca"] == py["CT_n_A_adj_Ca"] + 1
    for k in ("STAT_e", "STAT_CC_D", "STAT_CC_A", "CT_e_conn", "CT_f_conn_D_An"):
        assert sig6(got[k]) == sig6(py[k])


def test_batch_of_fixture_copies():
    vol = load_fixture("p_32x32x16_f60")
    want = reference()["p_32x32x16_f60"]["descriptors"]
    batch = torch.from_numpy(vol).unsqueeze(0).repeat(3, 1, 1, 1)
    batch[1] = 1 - batch[1]  # a different volume in the middle
    out = objectives.describe_batch(batch)
    for i in (0, 2):
        _check({k: float(v[i]) for k, v in out.items()}, want)
    assert float(out["STAT_n_D"][1]) == want["STAT_n_A"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_matches_cpp_graspi_on_cuda(name):
    ref = reference()[name]
    vol = torch.from_numpy(load_fixture(name)).cuda()
    out = objectives.describe_batch(vol.unsqueeze(0).repeat(2, 1, 1, 1), periodic=bool(ref["periodic"]))
    assert all(v.device.type == "cuda" for v in out.values())
    for i in range(2):
        _check({k: float(v[i]) for k, v in out.items()}, ref["descriptors"])
